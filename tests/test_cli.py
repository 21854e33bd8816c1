"""The `sumjax` command: help, version, list, reproduce --only into a folder, skip on rerun,
--force, the compilation cache setting. Fault cases are in test_runner_faults.py."""

import json
import os
import subprocess
import sys

import pytest

from sumjax.cli import main
from sumjax.experiments import EXPERIMENTS
from sumjax.experiments._base import compilation_cache_dir

SMALL = "simplex_penalty"  # the quickest experiment (about a second at default size)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_PROBE = """
import runpy, sys, time
t0 = time.perf_counter()
sys.argv = ["sumjax", *sys.argv[1:]]
try:
    runpy.run_module("sumjax", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("exit", code, "jax_imported", "jax" in sys.modules, "seconds", round(time.perf_counter() - t0, 3), file=sys.stderr)
"""


def _probe(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_help_and_version_without_importing_jax():
    res = _probe("--help")
    assert "exit 0 jax_imported False" in res.stderr, res.stderr
    for sub in ("list", "reproduce", "run", "report"):
        assert sub in res.stdout
    res = _probe("--version")
    assert "exit 0 jax_imported False" in res.stderr, res.stderr
    from sumjax import __version__

    assert res.stdout.strip() == f"sumjax {__version__}"
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0


def test_run_help_lists_the_experiments(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out
    assert main(["run"]) == 2  # no name: the same list, as an error
    assert "cosine_mean" in capsys.readouterr().err


def test_unknown_experiment_and_empty_report_folder_are_one_line_errors(tmp_path, capsys):
    assert main(["run", "no_such_experiment"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no_such_experiment" in err and "cosine_mean" in err
    assert main(["report", "--out", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no experiment results" in err and "typo" in err
    assert not (tmp_path / "typo").exists()
    (tmp_path / "empty").mkdir()
    assert main(["report", "--out", str(tmp_path / "empty")]) == 2
    assert os.listdir(tmp_path / "empty") == []


def test_cache_folder_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("SUMJAX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compilation_cache_dir() == os.path.join(str(tmp_path / "xdg"), "sumjax", "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compilation_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "sumjax", "jax")
    assert compilation_cache_dir(disabled=True) is None  # --no-cache
    monkeypatch.setenv("SUMJAX_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert compilation_cache_dir() == str(tmp_path / "elsewhere")
    for off in ("", "off", "OFF"):
        monkeypatch.setenv("SUMJAX_CACHE_DIR", off)
        assert compilation_cache_dir() is None


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
    assert "verified, skipping" in captured.err and "skipped" in captured.out
    assert os.stat(npz).st_mtime_ns == stamp

    # A different seed is refused (it would overwrite the seed-0 outputs) ...
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet", "--seed", "3"]) == 2
    assert "seed: 0 → 3" in capsys.readouterr().err
    assert os.stat(npz).st_mtime_ns == stamp
    # ... unless forced.
    assert main(["reproduce", "--only", SMALL, "--out", out_dir, "--quiet", "--seed", "3", "--force"]) == 0
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
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "frobnicate" in err


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
        for flag in ("--seed", "--out", "--float64", "--force", "--full", "--no-cache"):
            assert flag in out, (name, flag)
        for field in dataclasses.fields(module.Config):  # every size flag shows its allowed range
            assert "--" + field.name.replace("_", "-") in out, (name, field.name)


def test_gpu_sweeps_configurations_are_valid(capsys):
    import runpy

    script = runpy.run_path(os.path.join(ROOT, "experiments", "gpu_sweeps.py"))
    assert script["main"](["--list"]) == 0  # every GPU configuration passes the flag ranges
    out = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in out
    assert script["main"](["--list", "--set", "harm_vs_dim.mc_trials=0"]) == 2
    assert "--mc-trials must be an integer ≥ 1" in capsys.readouterr().err


def test_gpu_check_script_names_only_files_and_experiments_that_exist():
    # The GPU script runs once, on a borrowed machine, with minutes to spare: a stale path there is found
    # only when it is too late. Syntax, every experiments/ path it calls, and its experiment name.
    import re

    path = os.path.join(ROOT, "experiments", "gpu_check.sh")
    subprocess.run(["bash", "-n", path], check=True)
    text = open(path).read()
    scripts = set(re.findall(r"experiments/[\w/]+\.py", text))
    assert scripts
    for script in scripts:
        assert os.path.exists(os.path.join(ROOT, script)), script
    for name in re.findall(r"--only (\w+)|sumjax run (\w+)", text):
        assert (name[0] or name[1]) in EXPERIMENTS
