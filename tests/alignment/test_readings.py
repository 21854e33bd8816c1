"""Readings of the loop: the default is scale-free in the powers, the two anchors against an
independent d = 3 computation (closed-form Bessel functions, SciPy quadrature), the threshold
semantics, and the boundary rule (no checks in the pure cores; one per argument at entry)."""

import equinox as eqx
import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize

from sumjax.alignment import (
    DEFAULT_READING,
    FIRST_RECONSTRUCTION,
    SCALE_FREE_KL,
    SCALE_FREE_SQRT_KL,
    Reading,
    all_readings,
    as_reading,
    harm_scale,
    harm_series,
    total_harm,
)
from sumjax.alignment import _loop, _vmf

# ----------------------------------------------------------------- d = 3 closed forms (independent)


def A3(k):
    return 1 / np.tanh(k) - 1 / k if k > 1e-4 else k / 3 - k**3 / 45


def dA3(k):
    return 1 / k**2 - 1 / np.sinh(k) ** 2 if k > 1e-4 else 1 / 3 - k**2 / 15


def D3(k):
    log_sinh = k + np.log1p(-np.exp(-2 * k)) - np.log(2)
    return k * A3(k) - (log_sinh - np.log(k)) if k > 1e-4 else k**2 / 6


def k_star(c):
    return optimize.brentq(lambda k: A3(k) - c, 1e-8, 1e5, xtol=1e-14)


def int_D(c):  # ∫₀^{D*}(1 − A) dD, dD = κA'dκ
    return integrate.quad(lambda k: (1 - A3(k)) * k * dA3(k), 0, k_star(c), epsrel=1e-12, limit=200)[0]


def int_sqrtD(c):  # ∫₀^{√D*}(1 − A) d√D, d√D = κA'/(2√D) dκ
    return integrate.quad(lambda k: (1 - A3(k)) * k * dA3(k) / (2 * np.sqrt(D3(k))), 0, k_star(c), epsrel=1e-12,
                          limit=200)[0]


def test_anchor_readings_against_closed_forms():
    r = np.array([0.5, 1.0, 1.5, 4.0])
    bh = 0.7
    H = np.asarray(total_harm(0.8, 3.0, r * bh, bh, reading=SCALE_FREE_KL))
    np.testing.assert_allclose(H, np.maximum(r - 1, 0) * int_D(0.8), rtol=1e-9, atol=1e-300)
    H = np.asarray(total_harm(0.8, 3.0, r * bh, bh, reading=SCALE_FREE_SQRT_KL))
    np.testing.assert_allclose(H, np.maximum(np.sqrt(r) - 1, 0) * int_sqrtD(0.8), rtol=1e-9, atol=1e-300)
    # First reconstruction: (√β_A − √β_H)/β_H·∫F dD, not a function of r alone.
    H = np.asarray(total_harm(0.8, 3.0, r * bh, bh, reading=FIRST_RECONSTRUCTION))
    np.testing.assert_allclose(H, np.maximum(np.sqrt(r * bh) - np.sqrt(bh), 0) / bh * int_D(0.8), rtol=1e-9)


def test_default_is_scale_free_to_1e_12():
    assert DEFAULT_READING.scale_free
    beta_h = np.geomspace(0.25, 4.0, 9)
    r = np.array([0.5, 1.0, 1.01, 1.5, 2.0, 4.0, 30.0])
    d = np.array([10.0, 100.0, 1e4])
    for reading in (DEFAULT_READING, SCALE_FREE_SQRT_KL):
        H = np.asarray(total_harm(0.9, d[:, None, None], r[None, :, None] * beta_h, beta_h, reading=reading))
        ref = H[..., :1]
        np.testing.assert_array_equal(H[:, :2] == 0, True)  # r ≤ 1: exactly zero
        rel = np.max(np.abs(H[:, 2:] - ref[:, 2:]) / ref[:, 2:])
        assert rel < 1e-12, (reading.name, rel)
    # ... and the first reconstruction is not: H ∝ 1/√β_H at fixed r (the 21.3, 10.6, 5.3).
    H = np.asarray(total_harm(0.9, 100.0, 2 * beta_h, beta_h, reading="first_reconstruction"))
    np.testing.assert_allclose(H * np.sqrt(beta_h), H[0] * np.sqrt(beta_h[0]), rtol=1e-12)
    np.testing.assert_allclose(H[[0, 4, 8]], [21.279, 10.640, 5.320], atol=6e-3)


def test_threshold_semantics_independent_and_literal():
    ba, bh = 3.0, 1.2
    vals = {}
    for m in ("sqrt_kl", "kl"):
        for t in ("relu_sqrt", "sqrt_relu", "relu"):
            vals[m, t] = float(harm_scale(ba, bh, measure=m, threshold=t))
    # Each shape is the text's literal formula in its own units ...
    np.testing.assert_allclose(vals["sqrt_kl", "relu_sqrt"], np.sqrt(ba) - np.sqrt(bh), rtol=1e-15)
    np.testing.assert_allclose(vals["sqrt_kl", "sqrt_relu"], np.sqrt(ba - bh), rtol=1e-15)
    np.testing.assert_allclose(vals["kl", "relu"], ba - bh, rtol=1e-15)
    # ... and the same uncancelled fraction of the push β_A^m in the other unit.
    for t, theta in (("relu_sqrt", 1 - np.sqrt(bh / ba)), ("sqrt_relu", np.sqrt(1 - bh / ba)), ("relu", 1 - bh / ba)):
        np.testing.assert_allclose(vals["sqrt_kl", t], theta * np.sqrt(ba), rtol=1e-14)
        np.testing.assert_allclose(vals["kl", t], theta * ba, rtol=1e-14)
    # All six (measure, threshold) pairs differ: the choices are independent.
    v = np.array(list(vals.values()))
    assert np.min(np.abs(v[:, None] - v[None, :]) + np.eye(6)) > 1e-3
    # Homogeneity degree m: T(λβ_A, λβ_H) = λ^m T.
    for (m, t), val in vals.items():
        lam = 3.7
        deg = 0.5 if m == "sqrt_kl" else 1.0
        np.testing.assert_allclose(float(harm_scale(lam * ba, lam * bh, measure=m, threshold=t)), lam**deg * val,
                                   rtol=1e-14)
    # Unrectified: the whole push; below the threshold: nothing, with finite gradients at β_A = 0.
    assert float(harm_scale(4.0, rectify=False, measure="sqrt_kl")) == 2.0
    assert float(harm_scale(4.0, rectify=False)) == 4.0
    for m in ("sqrt_kl", "kl"):
        for t in ("relu_sqrt", "sqrt_relu", "relu"):
            assert float(harm_scale(0.9, 1.0, measure=m, threshold=t)) == 0.0
            g = jax.grad(lambda b: harm_scale(b, 1.0, measure=m, threshold=t))(0.0)
            assert np.isfinite(float(g))


# Scale-free exactly when measure degree = progress degree, over all 24 readings: asserted in
# tests/experiments/test_sum_readings.py (the readings experiment computes every reading).


def test_reading_objects():
    assert as_reading() is DEFAULT_READING
    assert as_reading("scale_free_sqrt_kl") is SCALE_FREE_SQRT_KL
    r = as_reading("first_reconstruction", integrate_over="sqrt_D")
    assert r.progress == "sqrt_D" and r.measure == "sqrt_kl" and r.name == "custom"
    assert len(all_readings()) == 24 and len({x.label for x in all_readings()}) == 24
    with pytest.raises(ValueError, match="`measure`"):
        Reading(measure="l2")
    with pytest.raises(ValueError, match="`functional`"):
        Reading(functional="max")
    with pytest.raises(ValueError, match="`reading`"):
        as_reading(3)
    hash(SCALE_FREE_KL)  # static jit argument


# ----------------------------------------------------------------- the boundary rule


def _callbacks(jaxpr):
    """Host-callback equations (equinox.error_if) in a program and all its sub-programs."""
    if isinstance(jaxpr, jex.core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    n = 0
    for eqn in jaxpr.eqns:
        n += "callback" in eqn.primitive.name
        for v in eqn.params.values():
            for sub in v if isinstance(v, (list, tuple)) else (v,):
                if isinstance(sub, (jex.core.ClosedJaxpr, jex.core.Jaxpr)):
                    n += _callbacks(sub)
    return n


def test_callbacks_zero_in_cores_one_per_argument_at_entry():
    x = jnp.array([0.5, 0.7])
    d, ba, bh = jnp.array([10.0, 20.0]), jnp.array([2.0, 3.0]), jnp.array([1.0, 1.0])
    fn = DEFAULT_READING.harm_functional
    cores = [
        lambda c, d: _loop.progress_integral(c, d, fn, "D", 8),
        lambda c, d: _loop.progress_integral(c, d, fn, "sqrt_D", 8),
        lambda c, d: _loop.round_sum(d, jnp.ones_like(d), jnp.ones_like(d), jnp.full_like(d, 3.0), SCALE_FREE_KL),
        lambda c, d: _loop.series(c, d, ba, bh, ba - bh, _vmf.required_divergence(c, d), SCALE_FREE_KL, True, 4)[2],
        lambda c, d: _loop.mutual_integral(c, d, ba, bh, ba - bh, SCALE_FREE_KL.replace(information="mutual"), True, 4),
    ]
    for core in cores:
        assert _callbacks(jax.make_jaxpr(core)(x, d)) == 0
    # Public entry: one check per argument (c*, d, β_A, β_H), and the sum adds one for `max_rounds`.
    # (One `error_if` compiles to `unit` callback equations, one per branch of its cond.)
    unit = _callbacks(jax.make_jaxpr(lambda v: eqx.error_if(v, v > 1, "m"))(1.0))
    assert unit >= 1
    assert _callbacks(jax.make_jaxpr(lambda c, d, a, h: total_harm(c, d, a, h))(x, d, ba, bh)) == 4 * unit
    assert _callbacks(jax.make_jaxpr(lambda c, d, a: total_harm(c, d, a, rectify=False))(x, d, ba)) == 3 * unit
    assert _callbacks(jax.make_jaxpr(lambda c, d, a, h: total_harm(c, d, a, h, method="sum"))(x, d, ba, bh)) == 5 * unit


def test_round_caps_sizes_and_shapes():
    # A loop of ~1e12 rounds is refused before it starts, naming the option.
    with pytest.raises(ValueError, match="`max_rounds`"):
        total_harm(0.5, 10.0, 1e-12, rectify=False, method="sum")
    with pytest.raises(Exception, match="`max_rounds`"):
        jax.jit(lambda b: total_harm(0.5, 10.0, b, rectify=False, method="sum", max_rounds=100))(1e-3)
    with pytest.raises(ValueError, match="`num_nodes`"):
        total_harm(0.5, 10.0, 2.0, 1.0, num_nodes=0)
    with pytest.raises(ValueError, match="`max_rounds`"):
        total_harm(0.5, 10.0, 2.0, 1.0, max_rounds=0)
    s = harm_series(0.5, 10.0, 2.0, 1.0, num_rounds=np.int64(8))
    assert s.harm.shape == (8,)
    with pytest.raises(ValueError, match="`num_rounds`"):
        harm_series(0.5, 10.0, 2.0, 1.0, num_rounds=2.5)
    with pytest.raises(ValueError, match=r"`c_star` \(3,\), `d` \(2,\)"):
        total_harm(jnp.full(3, 0.5), jnp.full(2, 10.0), 2.0, 1.0)
