"""Fault injection into the job runner (`sumjax run / reproduce / report`), issue 12.

Every case ends with valid outputs (byte-identical to an undisturbed run) or a one-line
error with exit status 2 and nothing half-written. Cheap on purpose: the two quickest
experiments at the sizes test_report.py already compiles, copied from one finished folder.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sumjax.cli import main
from sumjax.experiments import _io, get, run_experiment
from sumjax.experiments._base import ConfigMismatch, config_from, verify_outputs
from sumjax.report import build_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIMPLEX = "simplex_penalty"  # default size (the CLI reproduces it at its default configuration)
REQ = "required_divergence"
REQ_SMALL = dict(c_stars=(0.5,), d_max=1e3, n_dims=12)
REQ_FLAGS = ["--c-stars", "0.5", "--d-max", "1000", "--n-dims", "12"]
DATA_FILES = ("npz", "csv", "png", "svg")


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """A folder holding finished runs of both experiments, computed once."""
    out = str(tmp_path_factory.mktemp("golden"))
    for name, small in ((SIMPLEX, {}), (REQ, REQ_SMALL)):
        module = get(name)
        assert run_experiment(module, config_from(module, **small), out, progress=False)["status"] == "complete"
    return out


def _copy(golden, tmp_path):
    work = str(tmp_path / "out")
    shutil.copytree(golden, work)
    return work


def _data(folder, name):
    return {ext: open(os.path.join(folder, name, f"{name}.{ext}"), "rb").read() for ext in DATA_FILES}


def _assert_same_as(golden, work, name):
    assert _data(work, name) == _data(golden, name)  # bit-identical outputs
    meta, bad = verify_outputs(work, name)
    assert meta["status"] == "complete" and bad == []
    leftovers = [f for f in os.listdir(os.path.join(work, name)) if f.startswith(".")]
    assert leftovers == []  # no temporary files, no sweep pieces


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize("name, ext", [(SIMPLEX, "npz"), (SIMPLEX, "png"), (REQ, "csv"), (REQ, "svg"), (REQ, "json")])
def test_truncated_output_is_named_never_embedded_and_recomputed(golden, tmp_path, capsys, name, ext):
    work = _copy(golden, tmp_path)
    path = os.path.join(work, name, f"{name}.{ext}")
    blob = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(blob[: len(blob) // 2])
    # The report never crashes on it and never embeds it: the experiment is listed as damaged.
    assert main(["report", "--out", work]) == 0
    text = open(os.path.join(work, "report.html"), encoding="utf-8").read()
    assert f"id='{name}'" in text
    other = REQ if name == SIMPLEX else SIMPLEX
    assert text.count("data:image/png;base64,") == 1  # only the intact experiment's figure
    assert f"{other}</a></td></tr>" in text  # ... and its claims
    if ext != "json":
        assert f"{name}.{ext}" in text and "damaged" in text
    # A rerun names the bad file, recomputes, and ends with the undisturbed outputs.
    capsys.readouterr()
    module = get(name)
    meta = run_experiment(module, config_from(module, **(REQ_SMALL if name == REQ else {})), work, progress=False)
    assert meta["status"] == "complete" and not meta["skipped"]
    if ext != "json":
        assert f"recomputing: {name}.{ext}" in capsys.readouterr().err
    _assert_same_as(golden, work, name)


def test_damaged_sweep_piece_is_recomputed(golden, tmp_path):
    import numpy as np
    from sumjax.experiments._base import Context

    ctx = Context(None, seed=0, dtype=np.float64, folder=str(tmp_path), progress=False, tag="t")
    x = np.arange(16.0)
    first = ctx.sweep("sq", lambda p: {"y": p["x"] ** 2}, {"x": x}, chunk=4)
    piece = sorted(os.listdir(ctx.pieces_dir))[1]
    with open(os.path.join(ctx.pieces_dir, piece), "r+b") as fh:
        fh.truncate(30)
    with pytest.raises(ValueError, match=piece):
        _io.load_npz(os.path.join(ctx.pieces_dir, piece))
    again = ctx.sweep("sq", lambda p: {"y": p["x"] ** 2}, {"x": x}, chunk=4)
    np.testing.assert_array_equal(again["y"], x**2)
    np.testing.assert_array_equal(first["y"], again["y"])


@pytest.mark.parametrize("die_at", ["piece", "npz", "png", "json"])
def test_killed_mid_write_resumes_bit_identical(golden, tmp_path, monkeypatch, die_at):
    # The process "dies" (an exception nothing catches) at one write: of a sweep piece, of a
    # data file, of the figure, of the metadata. A rerun ends with the undisturbed outputs.
    work = str(tmp_path / "out")
    real = _io.atomic_write_bytes
    seen = {"piece": 0}

    class Killed(BaseException):
        pass

    def dying(path, data):
        base = os.path.basename(os.fspath(path))
        if die_at == "piece" and base.startswith("grid-"):
            seen["piece"] += 1
            if seen["piece"] == 3:
                raise Killed()
        elif base == f"{REQ}.{die_at}":
            # What SIGKILL mid-write leaves: half a temporary file, never cleaned up by the writer.
            with open(os.path.join(os.path.dirname(os.fspath(path)), f".{base}.x1y2.tmp"), "wb") as fh:
                fh.write(data[: len(data) // 2])
            raise Killed()
        return real(path, data)

    monkeypatch.setattr(_io, "atomic_write_bytes", dying)
    module = get(REQ)
    with pytest.raises(Killed):
        run_experiment(module, config_from(module, **REQ_SMALL), work, progress=False)
    monkeypatch.undo()
    assert verify_outputs(work, REQ)[0] is None  # not marked finished
    meta = run_experiment(module, config_from(module, **REQ_SMALL), work, progress=False)
    assert meta["status"] == "complete" and not meta["skipped"]
    _assert_same_as(golden, work, REQ)


def _env(cache):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), TQDM_DISABLE="1",
               SUMJAX_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    return env


def test_sigkill_then_concurrent_runs_end_valid(golden, tmp_path):
    """A real SIGKILL mid-sweep, then two runs at once into the same folder: both exit 0, the
    outputs verify and equal an undisturbed run's; the persistent compilation cache fills."""
    work, cache = str(tmp_path / "out"), tmp_path / "cache"
    cmd = [sys.executable, "-m", "sumjax", "run", REQ, "--out", work, "--quiet", *REQ_FLAGS]
    proc = subprocess.Popen(cmd, env=_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pieces = os.path.join(work, REQ)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.isdir(pieces) and any(d.startswith(".pieces") and os.listdir(os.path.join(pieces, d))
                                         for d in os.listdir(pieces)):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert verify_outputs(work, REQ)[0] is None  # killed before it finished
    runs = [subprocess.Popen(cmd, env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [r.communicate(timeout=300) for r in runs]
    for r, (out, err) in zip(runs, results):
        assert r.returncode == 0, err
        assert "holds" in out
    _assert_same_as(golden, work, REQ)
    assert any(files for _, _, files in os.walk(cache))  # compiled programs were stored


def test_read_only_folder_and_file_as_out_are_one_line_errors(golden, tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    if os.geteuid() == 0:  # root writes anyway: make file creation fail as the OS would for a user
        real = _io._mkstemp

        def refuse(prefix, folder):
            if os.path.abspath(folder).startswith(str(ro)):
                raise PermissionError(13, "Permission denied", folder)
            return real(prefix, folder)

        monkeypatch.setattr(_io, "_mkstemp", refuse)
    try:
        assert main(["reproduce", "--only", SIMPLEX, "--out", str(ro), "--quiet"]) == 2
        _one_line_error(capsys, str(ro), "Permission denied")
        assert main(["run", REQ, "--out", str(ro / "sub"), "--quiet", *REQ_FLAGS]) == 2
        _one_line_error(capsys, str(ro))
        assert os.listdir(ro) == []  # nothing half-written
        # A read-only folder that already holds results: the report cannot be rewritten.
        filled = tmp_path / "filled"
        shutil.copytree(golden, filled)
        os.remove(filled / "report.html") if (filled / "report.html").exists() else None
        before = sorted(os.listdir(filled))
        os.chmod(filled, 0o555)
        if os.geteuid() == 0:
            ro = filled  # the same refusal for this folder
        assert main(["report", "--out", str(filled)]) == 2
        _one_line_error(capsys, str(filled))
        assert sorted(os.listdir(filled)) == before
    finally:
        os.chmod(tmp_path / "ro", 0o755)
        if (tmp_path / "filled").exists():
            os.chmod(tmp_path / "filled", 0o755)
    plain = tmp_path / "a_file"
    plain.write_text("not a folder")
    assert main(["reproduce", "--only", SIMPLEX, "--out", str(plain), "--quiet"]) == 2
    _one_line_error(capsys, str(plain), "is a file")
    assert main(["run", REQ, "--out", str(plain), *REQ_FLAGS]) == 2
    _one_line_error(capsys, str(plain))
    assert plain.read_text() == "not a folder"


def test_only_into_a_full_folder_keeps_every_row(golden, tmp_path, capsys):
    work = _copy(golden, tmp_path)
    build_report(work)
    full = open(os.path.join(work, "report.html"), encoding="utf-8").read()
    rows = full.count("<tr>")
    assert main(["reproduce", "--only", SIMPLEX, "--out", work, "--quiet"]) == 0
    assert "skipped" in capsys.readouterr().out
    text = open(os.path.join(work, "report.html"), encoding="utf-8").read()
    assert text.count("<tr>") == rows  # the required_divergence rows are still there
    assert f"{REQ}</a></td></tr>" in text and f"{SIMPLEX}</a></td></tr>" in text


def test_changed_configuration_is_refused_without_force(golden, tmp_path, capsys):
    work = _copy(golden, tmp_path)
    before = _data(work, SIMPLEX)
    assert main(["reproduce", "--only", SIMPLEX, "--out", work, "--quiet", "--seed", "1"]) == 2
    _one_line_error(capsys, "seed: 0 → 1", "--force")
    assert main(["run", REQ, "--out", work, "--quiet", "--c-stars", "0.5", "--d-max", "1000", "--n-dims", "13",
                 "--float64"]) == 2
    _one_line_error(capsys, "n_dims: 12 → 13", "dtype: 'float32' → 'float64'")
    assert _data(work, SIMPLEX) == before
    module = get(REQ)
    with pytest.raises(ConfigMismatch, match="seed: 0 → 2"):
        run_experiment(module, config_from(module, **REQ_SMALL), work, seed=2, progress=False)
    # --force replaces it, and records the new configuration.
    meta = run_experiment(module, config_from(module, **REQ_SMALL), work, seed=2, force=True, progress=False)
    assert meta["seed"] == 2 and json.load(open(os.path.join(work, REQ, f"{REQ}.json")))["seed"] == 2
    assert verify_outputs(work, REQ)[1] == []


@pytest.mark.parametrize("flags, needle", [
    (["--c-stars", "1.5"], "--c-stars must be a finite number in (0, 1)"),
    (["--c-stars", "0.5,nan"], "--c-stars"),
    (["--d-min", "1.0"], "--d-min must be a finite number ≥ 2"),
    (["--d-max", "nan"], "--d-max must be a finite number ≥ 2"),
    (["--n-dims", "-5"], "--n-dims must be an integer ≥ 2"),
    (["--n-dims", "2.5"], "--n-dims: expected an integer"),
    (["--d-min", "100", "--d-max", "10"], "--d-min must be below --d-max"),
])
def test_bad_flags_fail_before_any_computation(tmp_path, capsys, monkeypatch, flags, needle):
    module = get(REQ)
    monkeypatch.setattr(module, "compute", lambda ctx: pytest.fail("computed before validating flags"))
    out = tmp_path / "out"
    code = None
    try:
        code = main(["run", REQ, "--out", str(out), *flags])
    except SystemExit as exc:  # argparse's own errors exit through the one-line parser
        code = exc.code
    assert code == 2
    _one_line_error(capsys, needle)
    assert not out.exists()
