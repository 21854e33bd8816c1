"""Compiled sweep programs stored on disk: a later process loads them without tracing, with the same result."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import sumjax.sharding as sharding
from sumjax import _program_cache
from sumjax.alignment import vmf
from sumjax.experiments import required_divergence as rd_experiment
from sumjax.sharding import sharded_vmap


def _rows(n=6, dtype=np.float32):
    return {"c": np.linspace(0.1, 0.9, n).astype(dtype), "d": np.geomspace(3.0, 300.0, n).astype(dtype)}


@pytest.fixture
def fresh(monkeypatch):
    # Each test starts with no in-process programs, as a new process would.
    monkeypatch.setattr(sharding, "_CACHE", {})


def _traces(fn):
    """(result, number of jaxpr traces JAX reports while running fn)."""
    events = []

    def listener(name, *args, **kwargs):
        if "jaxpr_trace" in name:
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return out, len(events)


def test_stored_program_is_loaded_without_tracing(tmp_path, fresh):
    rows = _rows()
    cold, n_cold = _traces(lambda: sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows))
    assert n_cold >= 1
    assert len(os.listdir(tmp_path)) == 1
    sharding._CACHE.clear()
    warm, n_warm = _traces(lambda: sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows))
    assert n_warm == 0
    np.testing.assert_array_equal(warm["D_star"], cold["D_star"])
    # the same numbers as the ordinary jit path (an independent compile of the same function)
    np.testing.assert_array_equal(warm["D_star"], np.asarray(jax.jit(jax.vmap(rd_experiment._point))(rows)["D_star"]))


def test_key_follows_shape_and_dtype(tmp_path, fresh):
    fn = rd_experiment._point
    mapped = sharded_vmap(fn, program_cache=str(tmp_path))
    mapped(_rows(6))
    mapped(_rows(7))
    mapped(_rows(6, np.float64) if jax.config.jax_enable_x64 else {k: v[:5] for k, v in _rows(6).items()})
    assert len(os.listdir(tmp_path)) == 3


def test_closures_and_foreign_functions_are_not_stored(tmp_path, fresh):
    scale = np.float32(2.0)

    def local(p):
        return {"y": p["c"] * scale}

    out = sharded_vmap(local, program_cache=str(tmp_path))(_rows())
    np.testing.assert_allclose(out["y"], _rows()["c"] * 2.0)
    assert not _program_cache.cacheable(local)
    assert not _program_cache.cacheable(lambda p: p)
    assert not os.path.exists(tmp_path) or not os.listdir(tmp_path)


def test_programs_with_host_callbacks_are_not_stored(tmp_path, fresh):
    # The public function validates its arguments with equinox.error_if (a host callback) under a trace:
    # a stored executable would refer to a callback that no longer exists in the next process.
    assert _program_cache.cacheable(vmf.required_divergence)
    rows = _rows()
    out = sharded_vmap(vmf.required_divergence, program_cache=str(tmp_path))(rows["c"], rows["d"])
    np.testing.assert_allclose(out, np.asarray(vmf.required_divergence(rows["c"], rows["d"])), rtol=1e-6)
    assert not os.path.exists(tmp_path) or not os.listdir(tmp_path)


def test_damaged_file_is_recompiled(tmp_path, fresh):
    rows = _rows()
    good = sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows)
    (path,) = [tmp_path / f for f in os.listdir(tmp_path)]
    path.write_bytes(b"not a program")
    sharding._CACHE.clear()
    again = sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows)
    np.testing.assert_array_equal(again["D_star"], good["D_star"])
    assert path.stat().st_size > 100  # rewritten


def test_code_fingerprint_covers_every_source_file(monkeypatch):
    # A change to any file of the package must change the key (here: the fingerprint's inputs).
    seen = []
    real_open = open

    def spy(path, *args, **kwargs):
        seen.append(os.path.abspath(path))
        return real_open(path, *args, **kwargs)

    _program_cache._code_fingerprint.cache_clear()
    monkeypatch.setattr("builtins.open", spy)
    try:
        _program_cache._code_fingerprint()
    finally:
        monkeypatch.undo()
        _program_cache._code_fingerprint.cache_clear()
    package = os.path.dirname(os.path.abspath(_program_cache.__file__))
    expected = {os.path.join(root, f) for root, _, files in os.walk(package) for f in files if f.endswith(".py")}
    assert expected and expected <= set(seen)


def test_new_process_loads_the_stored_program(tmp_path):
    script = textwrap.dedent(
        f"""
        import jax, numpy as np
        from sumjax.sharding import sharded_vmap
        from sumjax.experiments import required_divergence as m
        events = []
        jax.monitoring.register_event_duration_secs_listener(
            lambda name, *a, **k: events.append(name) if "jaxpr_trace" in name else None)
        rows = {{"c": np.linspace(0.1, 0.9, 6).astype(np.float32), "d": np.geomspace(3.0, 300.0, 6).astype(np.float32)}}
        out = sharded_vmap(m._point, program_cache={str(tmp_path)!r})(rows)["D_star"]
        print(len(events), out.tobytes().hex())
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert int(runs[0][0]) >= 1 and int(runs[1][0]) == 0
    assert runs[0][1] == runs[1][1]
