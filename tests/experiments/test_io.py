"""Output plumbing: atomic writes survive crashes, metadata/CSV/JSON round-trip, sweeps resume."""

import csv
import io
import os

import numpy as np
import pytest

import sumjax.sharding
from sumjax.experiments import _io
from sumjax.experiments._base import Context


def _listing(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("crash_in", ["fsync", "replace", "write"])
def test_crash_mid_write_leaves_old_file_and_no_partial(tmp_path, monkeypatch, crash_in):
    target = tmp_path / "out.bin"
    _io.atomic_write_bytes(target, b"old contents")

    class Boom(Exception):
        pass

    def boom(*a, **k):
        raise Boom()

    if crash_in == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    elif crash_in == "replace":
        monkeypatch.setattr(os, "replace", boom)
    else:
        real_fdopen = os.fdopen

        class HalfWriter(io.RawIOBase):
            def __init__(self, fh):
                self.fh = fh

            def write(self, b):  # writes half, then the "machine dies"
                self.fh.write(bytes(b)[: len(b) // 2])
                self.fh.flush()
                raise Boom()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()
                return False

        monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(Boom):
        _io.atomic_write_bytes(target, b"new contents that never fully land" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"old contents"
    assert _listing(tmp_path) == ["out.bin"]  # no temp file left behind


def test_crash_on_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _io.save_npz(tmp_path / "x.npz", {"a": np.arange(3)})
    monkeypatch.undo()
    assert _listing(tmp_path) == []


def test_round_trips(tmp_path):
    arrays = {"a": np.linspace(0, 1, 5), "b": np.arange(6).reshape(2, 3)}
    _io.save_npz(tmp_path / "d.npz", arrays)
    back = _io.load_npz(tmp_path / "d.npz")
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])
    _io.save_csv(tmp_path / "d.csv", {"x": np.array([0.1, 1 / 3]), "y": np.array([1, 2])})
    rows = list(csv.reader(open(tmp_path / "d.csv")))
    assert rows[0] == ["x", "y"]
    assert float(rows[2][0]) == 1 / 3  # full precision, not a rounded print
    with pytest.raises(ValueError, match="equal lengths"):
        _io.save_csv(tmp_path / "bad.csv", {"x": np.zeros(2), "y": np.zeros(3)})
    _io.save_json(tmp_path / "m.json", {"v": np.float32(0.5), "arr": np.arange(2)})
    assert _io.load_json(tmp_path / "m.json") == {"v": 0.5, "arr": [0, 1]}
    # Permissions as a plain open() would give, not mkstemp's private 0600.
    assert (os.stat(tmp_path / "m.json").st_mode & 0o777) == _io._FILE_MODE


def test_metadata_has_versions_and_device():
    meta = _io.environment_metadata()
    for key in ("sumjax_version", "jax_version", "backend", "device_count", "x64_enabled"):
        assert key in meta
    assert meta["device_count"] >= 1


def test_progress_bar_reaches_total():
    buf = io.StringIO()
    bar = _io.Progress(7, "sweep", stream=buf)
    for _ in range(7):
        bar.update()
    lines = buf.getvalue().strip().splitlines()
    assert lines[-1].startswith("sweep [") and "7/7" in lines[-1]
    assert len(lines) <= 11  # at most one line per decile when not a terminal


def _square(p):
    return {"y": p["x"] ** 2, "z": p["x"] + 1}


def test_sweep_resumes_from_finished_pieces(tmp_path, monkeypatch):
    import jax.numpy as jnp

    ctx = Context(None, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False, tag="t")
    x = np.arange(10.0)
    real = sumjax.sharding.sharded_vmap
    calls = {"n": 0}

    def flaky(fn, in_axes=0, **kw):
        mapped = real(fn, in_axes, **kw)

        def call(*args):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("interrupted")
            return mapped(*args)

        return call

    monkeypatch.setattr(sumjax.sharding, "sharded_vmap", flaky)
    with pytest.raises(RuntimeError, match="interrupted"):
        ctx.sweep("sq", _square, {"x": x}, chunk=4)
    # Two pieces finished and were saved before the interruption.
    assert sorted(os.listdir(ctx.pieces_dir)) == ["sq-00000.npz", "sq-00001.npz"]
    monkeypatch.setattr(sumjax.sharding, "sharded_vmap", real)
    out = ctx.sweep("sq", _square, {"x": x}, chunk=4)
    np.testing.assert_array_equal(out["y"], x**2)
    np.testing.assert_array_equal(out["z"], x + 1)
    assert sorted(os.listdir(ctx.pieces_dir))[-1] == "sq-00002.npz"
    with pytest.raises(ValueError, match="leading length"):
        ctx.sweep("bad", _square, {"x": x, "w": x[:3]})
