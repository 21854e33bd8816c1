"""Output plumbing: atomic writes survive crashes, metadata/CSV/JSON round-trip, sweeps resume."""

import csv
import io
import os
import sys

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


def test_progress_bar_is_tqdm_and_honours_tqdm_disable(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    bar = _io.progress_bar(7, "sweep")
    for _ in range(7):
        bar.update()
    bar.close()
    assert "sweep" in buf.getvalue() and "7/7" in buf.getvalue()
    buf.seek(0)
    buf.truncate(0)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    bar = _io.progress_bar(7, "sweep")
    bar.update(7)
    bar.close()
    assert buf.getvalue() == ""
    monkeypatch.delenv("TQDM_DISABLE")
    bar = _io.progress_bar(7, "sweep", enabled=False)  # --quiet
    bar.update(7)
    bar.close()
    assert buf.getvalue() == ""


def test_sweep_progress_times_compiled_pieces_only(tmp_path, monkeypatch):
    import jax.numpy as jnp

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    ctx = Context(None, seed=0, dtype=jnp.float64, folder=str(tmp_path / "p"), progress=True, tag="t")
    ctx.sweep("cube", lambda p: {"y": p["x"] ** 3}, {"x": np.arange(40.0)}, chunk=100)
    text = buf.getvalue().replace("\r", "\n")
    assert "compiling" in text and "compile+first piece" in text
    assert "8/8" in text  # at least MIN_PIECES pieces even though chunk > n


def test_digest_and_verify_detect_truncation_change_and_loss(tmp_path):
    import hashlib

    blob = os.urandom(5000)
    (tmp_path / "a.bin").write_bytes(blob)
    (tmp_path / "b.bin").write_bytes(blob)
    (tmp_path / "c.bin").write_bytes(blob)
    want = _io.file_digest(tmp_path / "a.bin")
    assert want == {"sha256": hashlib.sha256(blob).hexdigest(), "size": 5000}
    sums = {n: want for n in ("a.bin", "b.bin", "c.bin")}
    assert _io.verify_files(tmp_path, sums) == []
    (tmp_path / "a.bin").write_bytes(blob[:2500])  # truncated
    (tmp_path / "b.bin").write_bytes(bytes([blob[0] ^ 1]) + blob[1:])  # same size, one bit flipped
    os.remove(tmp_path / "c.bin")
    bad = dict(_io.verify_files(tmp_path, sums))
    assert set(bad) == {"a.bin", "b.bin", "c.bin"}
    assert "truncated" in bad["a.bin"] and "sha256" in bad["b.bin"] and bad["c.bin"] == "missing"


def test_truncated_npz_is_a_value_error_naming_the_file(tmp_path):
    _io.save_npz(tmp_path / "d.npz", {"a": np.arange(100)})
    blob = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="d.npz"):
        _io.load_npz(tmp_path / "d.npz")


def test_check_writable(tmp_path):
    assert _io.check_writable(tmp_path / "new" / "deeper") == str(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # checked, not created
    (tmp_path / "f").write_text("x")
    for target in (tmp_path / "f", tmp_path / "f" / "below"):
        with pytest.raises(_io.OutputError, match="is a file"):
            _io.check_writable(target)
    assert os.listdir(tmp_path) == ["f"]


def test_folder_lock_serialises_writers(tmp_path):
    import threading
    import time

    order = []

    def writer(tag, hold):
        with _io.folder_lock(tmp_path):
            order.append(f"{tag} in")
            time.sleep(hold)
            order.append(f"{tag} out")

    first = threading.Thread(target=writer, args=("a", 0.3))
    first.start()
    time.sleep(0.1)
    writer("b", 0)
    first.join()
    assert order == ["a in", "a out", "b in", "b out"]
    assert os.listdir(tmp_path) == []  # no lock file left


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
    # Two pieces (of 2 rows: at least MIN_PIECES pieces) finished and were saved before the interruption.
    assert sorted(os.listdir(ctx.pieces_dir)) == ["sq-2-00000.npz", "sq-2-00001.npz"]
    monkeypatch.setattr(sumjax.sharding, "sharded_vmap", real)
    out = ctx.sweep("sq", _square, {"x": x}, chunk=4)
    np.testing.assert_array_equal(out["y"], x**2)
    np.testing.assert_array_equal(out["z"], x + 1)
    assert sorted(os.listdir(ctx.pieces_dir))[-1] == "sq-2-00004.npz"
    with pytest.raises(ValueError, match="leading length"):
        ctx.sweep("bad", _square, {"x": x, "w": x[:3]})


def test_a_long_step_without_a_sweep_shows_its_elapsed_time(monkeypatch):
    import time

    from sumjax.experiments._base import _Heartbeat

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    with _Heartbeat("two_utilities: computing", enabled=True, delay=0.05, interval=0.05):
        time.sleep(0.4)
    assert "two_utilities: computing: 00:00 elapsed" in buf.getvalue()
    buf.seek(0)
    buf.truncate(0)
    with _Heartbeat("quick", enabled=True, delay=5.0, interval=0.05):  # shorter than the delay: silent
        time.sleep(0.2)
    assert buf.getvalue() == ""
