"""The `sumjax` command: help, list, reproduce --only into a folder, skip on rerun, --force."""

import json
import os
import subprocess
import sys

import pytest

from sumjax.cli import main
from sumjax.experiments import EXPERIMENTS

SMALL = "simplex_penalty"  # the quickest experiment (about a second at default size)


def test_help_lists_subcommands():
    res = subprocess.run([sys.executable, "-m", "sumjax.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for sub in ("list", "reproduce", "run", "report"):
        assert sub in res.stdout
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0


def test_list_names_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out


def test_reproduce_only_then_skip_then_force(tmp_path, capsys):
    out_dir = str(tmp_path / "out")
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet"]) == 0
    folder = os.path.join(out_dir, SMALL)
    expected = {f"{SMALL}.{ext}" for ext in ("npz", "csv", "png", "svg", "json")}
    assert expected <= set(os.listdir(folder))
    assert not [f for f in os.listdir(folder) if f.startswith(".")]  # no temp files or pieces left
    assert os.path.exists(os.path.join(out_dir, "report.html"))
    meta = json.load(open(os.path.join(folder, f"{SMALL}.json")))
    assert meta["status"] == "complete" and meta["seed"] == 0 and meta["dtype"] == "float32"
    for key in ("config", "environment", "started", "finished", "wall_compute_s"):
        assert key in meta
    npz = os.path.join(folder, f"{SMALL}.npz")
    stamp = os.stat(npz).st_mtime_ns
    capsys.readouterr()

    # Rerun: finished output is found and not recomputed.
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "skipping" in captured.err and "skipped" in captured.out
    assert os.stat(npz).st_mtime_ns == stamp

    # A different seed is a different run: recomputed.
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet", "--seed", "3"]) == 0
    assert json.load(open(os.path.join(folder, f"{SMALL}.json")))["seed"] == 3
    stamp = os.stat(npz).st_mtime_ns

    # --force recomputes the same configuration.
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet", "--seed", "3", "--force"]) == 0
    assert "skipping" not in capsys.readouterr().err
    assert os.stat(npz).st_mtime_ns != stamp


def test_run_one_experiment_with_size_flags(tmp_path, capsys):
    out_dir = str(tmp_path / "run")
    assert main(["run", SMALL, "--out", out_dir, "--quiet", "--grid-resolution", "6", "--policy-resolution", "5",
                 "--float64"]) == 0
    meta = json.load(open(os.path.join(out_dir, SMALL, f"{SMALL}.json")))
    assert meta["config"]["grid_resolution"] == 6 and meta["dtype"] == "float64"
    assert "holds" in capsys.readouterr().out  # the claims are printed


def test_bad_usage(tmp_path, capsys):
    assert main(["reproduce", "--only", "no_such_experiment", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["run"]) == 2
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def test_every_experiment_has_flags_and_a_valid_full_config(capsys):
    import dataclasses

    from sumjax.experiments import config_from, get

    for name in EXPERIMENTS:
        module = get(name)
        small, full = config_from(module), config_from(module, full=True)
        assert set(module.FULL) <= {f.name for f in dataclasses.fields(module.Config)}, name
        assert small != full, name
        for field in dataclasses.fields(module.Config):
            assert isinstance(getattr(full, field.name), type(getattr(small, field.name))), (name, field.name)
        with pytest.raises(SystemExit) as exc:
            main(["run", name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        for flag in ("--seed", "--out", "--float64", "--force", "--full"):
            assert flag in out, (name, flag)
