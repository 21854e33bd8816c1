"""Sharded sweeps: the same results on 4 (forced host) devices as on one, padding undone."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.sharding import pad_to_multiple, sharded_vmap, sweep_mesh


def _point(p, scale):
    # Nontrivial per-point work: Newton iterations for the root of x^3 + a x - b, and a reduction.
    a, b = p["a"], p["b"]
    x = jax.lax.fori_loop(0, 30, lambda i, x: x - (x**3 + a * x - b) / (3 * x**2 + a), b / (1 + a))
    return {"root": x * scale, "mix": jnp.sum(jnp.sin(p["v"] * a)) + jnp.log1p(b)}


def _params(n):
    rng = np.random.default_rng(0)
    return {"a": rng.uniform(0.5, 3.0, n), "b": rng.uniform(-2, 2, n), "v": rng.normal(size=(n, 5))}


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    sys.path.insert(0, {testdir!r})
    from test_sharding import _point, _params
    from sumjax.sharding import sharded_vmap, sweep_mesh
    mesh = sweep_mesh()
    out = sharded_vmap(_point, in_axes=(0, None), mesh=mesh)(_params(10), np.float64(2.0))
    print(json.dumps({{"devices": int(mesh.devices.size), "root": out["root"].tolist(), "mix": out["mix"].tolist()}}))
    """
)


def test_four_devices_match_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    script = SCRIPT.format(testdir=os.path.dirname(__file__))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["devices"] == 4
    # Reference: plain vmap on this process's single device (no sharding code involved).
    ref = jax.jit(jax.vmap(_point, in_axes=(0, None)))(_params(10), 2.0)
    np.testing.assert_array_equal(np.asarray(got["root"]), np.asarray(ref["root"]))
    np.testing.assert_array_equal(np.asarray(got["mix"]), np.asarray(ref["mix"]))
    # And the roots are roots (independent of any implementation): x^3 + a x - b = 0.
    p = _params(10)
    x = np.asarray(got["root"]) / 2.0
    np.testing.assert_allclose(x**3 + p["a"] * x - p["b"], 0, atol=1e-12)


def test_single_device_equals_vmap_and_unpads():
    mapped = sharded_vmap(_point, in_axes=(0, None), mesh=sweep_mesh(jax.devices()[:1]))
    for n in (1, 7):
        out = mapped(_params(n), np.float64(1.5))
        ref = jax.vmap(_point, in_axes=(0, None))(_params(n), 1.5)
        assert out["root"].shape == (n,) and isinstance(out["root"], np.ndarray)
        np.testing.assert_allclose(out["root"], ref["root"], rtol=1e-14)
        np.testing.assert_allclose(out["mix"], ref["mix"], rtol=1e-14)


def test_pad_to_multiple_repeats_last_row():
    x = np.arange(10).reshape(5, 2)
    y = pad_to_multiple(x, 4)
    assert y.shape == (8, 2)
    np.testing.assert_array_equal(y[:5], x)
    np.testing.assert_array_equal(y[5:], np.repeat(x[-1:], 3, axis=0))
    assert pad_to_multiple(x, 5) is x or np.array_equal(pad_to_multiple(x, 5), x)


def test_bad_input_raises():
    mapped = sharded_vmap(_point, in_axes=(0, None))
    bad = _params(4)
    bad["v"] = bad["v"][:3]
    with pytest.raises(ValueError, match="leading length"):
        mapped(bad, 1.0)
    with pytest.raises(ValueError, match="in_axes"):
        sharded_vmap(_point, in_axes=(0,))(_params(3), 1.0)
    with pytest.raises(ValueError, match="at least one row"):
        pad_to_multiple(np.zeros((0, 2)), 4)
    with pytest.raises(ValueError, match="devices"):
        sweep_mesh([])


def test_experiment_sweep_on_four_devices_matches_one(tmp_path):
    """A real experiment's sweep (the 2-simplex grid) gives identical data on 4 devices and on 1."""
    from sumjax.experiments import _io, get, run_experiment
    from sumjax.experiments._base import config_from

    # Default sizes (862 points in 4 pieces of 256, the last padded; the CLI test compiles the same
    # program in this process), a 4-device mesh in the subprocess.
    small = {}
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    flags = []
    res = subprocess.run([sys.executable, "-m", "sumjax.cli", "run", "simplex_penalty", "--out", str(tmp_path / "four"),
                          "--quiet", *flags], env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    meta = _io.load_json(tmp_path / "four" / "simplex_penalty" / "simplex_penalty.json")
    assert meta["environment"]["device_count"] == 4
    module = get("simplex_penalty")
    run_experiment(module, config_from(module, **small), str(tmp_path / "one"), progress=False)
    four = _io.load_npz(tmp_path / "four" / "simplex_penalty" / "simplex_penalty.npz")
    one = _io.load_npz(tmp_path / "one" / "simplex_penalty" / "simplex_penalty.npz")
    assert four.keys() == one.keys()
    for k in one:
        np.testing.assert_array_equal(four[k], one[k], err_msg=k)
