"""Fuzz of the public core and vMF functions with bad and extreme-valid input (issue 12).

Every call, eager, under `jax.jit` and under `jax.vmap`, either raises an error naming a bad
argument or returns finite numbers that agree with an independent reference: the θ-quadrature
route (`sumjax.alignment.quadrature`, no Bessel functions), closed forms and asymptotes
evaluated in mpmath. Shapes are fixed (4 points per example) so compilations are reused.
The explicit regression cases of issue 12 follow the fuzz.
"""

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sumjax as sj
from sumjax import alignment as al

N = 4
ERRORS = (ValueError, RuntimeError, Exception)

# valid values of each kind, bunched at the edges, and bad ones
_kappa_ok = st.one_of(st.sampled_from([0.0, 1e-300, 1e-8, 1.0, 1e7, 1e15, 1e300]), st.floats(0.0, 1e7))
_d_ok = st.one_of(st.sampled_from([2.0, 2.0 + 1e-12, 3.0, 1e6, 1e15]), st.floats(2.0, 1e6))
_bad = st.sampled_from([-1.0, -1e-300, math.nan, math.inf, -math.inf])
_d_bad = st.sampled_from([1.999, 0.0, -3.0, 1e16, math.nan, math.inf])


def _asym_kl(k, d):
    """D(κ, d) in mpmath: exact series (κ ≪ d), exact large-κ asymptote, or 0F1 (moderate)."""
    k, d = mp.mpf(k), mp.mpf(d)
    if k == 0:
        return mp.mpf(0)
    if k <= mp.mpf("1e-5") * d:
        return k**2 / (2 * d) - 3 * k**4 / (4 * d**2 * (d + 2))
    if k >= mp.mpf("1e12") * d**2:
        nu = d / 2 - 1
        return -(d - 1) / 2 + nu * mp.log(k / 2) + mp.log(2 * mp.pi * k) / 2 - mp.loggamma(d / 2)
    return None


def _reference_kl(k, d):
    """Independent D(κ, d): mpmath forms at the extremes, θ-quadrature in between."""
    out = np.empty(N)
    for i in range(N):
        a = _asym_kl(k[i], d[i])
        out[i] = float(a) if a is not None else np.nan
    mid = np.isnan(out)
    if mid.any():
        kq = np.where(mid, k, 1.0)
        dq = np.where(mid, d, 3.0)
        q = np.asarray(al.vmf_kl_quadrature(kq, dq))
        out = np.where(mid, q, out)
    return out, mid


def _three_ways(fn, x, d):
    eager = fn(jnp.asarray(x), jnp.asarray(d))
    jitted = _JIT[fn](jnp.asarray(x), jnp.asarray(d))
    vmapped = _VMAP[fn](jnp.asarray(x), jnp.asarray(d))
    return [np.asarray(jax.block_until_ready(v)) for v in (eager, jitted, vmapped)]


_FUNCS = [al.vmf_kl, al.vmf_mean, al.kappa_from_mean, al.kappa_from_kl, al.required_divergence]
_JIT = {f: jax.jit(f) for f in _FUNCS}
_VMAP = {f: jax.jit(jax.vmap(f)) for f in _FUNCS}


def _expect_error(fn, x, d, names):
    pattern = "|".join(f"`{n}`" for n in names)
    with pytest.raises(ValueError, match=pattern):
        fn(jnp.asarray(x), jnp.asarray(d))
    for g in (_JIT[fn], _VMAP[fn]):
        with pytest.raises(ERRORS, match=pattern):
            jax.block_until_ready(g(jnp.asarray(x), jnp.asarray(d)))


@settings(max_examples=10)
@given(st.lists(st.one_of(_kappa_ok, _bad), min_size=N, max_size=N), st.lists(st.one_of(_d_ok, _d_bad), min_size=N, max_size=N))
def test_vmf_kl_fuzz(kappa, d):
    k, dd = np.array(kappa), np.array(d)
    bad_k = ~(np.isfinite(k) & (k >= 0))
    bad_d = ~(np.isfinite(dd) & (dd >= 2) & (dd <= 1e15))
    if bad_k.any() or bad_d.any():
        _expect_error(al.vmf_kl, k, dd, ["kappa"] * bool(bad_k.any()) + ["d"] * bool(bad_d.any()))
        return
    ref, mid = _reference_kl(k, dd)
    for got in _three_ways(al.vmf_kl, k, dd):
        assert np.all(np.isfinite(got))
        # mid-range: quadrature (3e-14 where it is valid, d ≤ 1e6 and κ ≤ 1e7); else mpmath forms
        ok = ~mid | ((dd <= 1e6) & (k <= 1e7))
        np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-11, atol=1e-300)


@settings(max_examples=10)
@given(
    st.lists(st.one_of(st.sampled_from([0.0, 1e-12, 0.5, 0.99, 0.999999]), st.floats(0.0, 0.999), _bad, st.just(1.0)), min_size=N, max_size=N),
    st.lists(st.one_of(st.sampled_from([2.0, 3.0, 1e6]), st.floats(2.0, 1e6), _d_bad), min_size=N, max_size=N),
)
def test_kappa_from_mean_and_required_divergence_fuzz(c, d):
    c, dd = np.array(c), np.array(d)
    bad_c = ~(np.isfinite(c) & (c >= 0) & (c < 1))
    bad_d = ~(np.isfinite(dd) & (dd >= 2) & (dd <= 1e15))
    if bad_c.any() or bad_d.any():
        _expect_error(al.kappa_from_mean, c, dd, ["c"] * bool(bad_c.any()) + ["d"] * bool(bad_d.any()))
        _expect_error(al.required_divergence, c, dd, ["c_star"] * bool(bad_c.any()) + ["d"] * bool(bad_d.any()))
        return
    kappas = _three_ways(al.kappa_from_mean, c, dd)
    divs = _three_ways(al.required_divergence, c, dd)
    for k, D in zip(kappas, divs):
        assert np.all(np.isfinite(k)) and np.all(np.isfinite(D))
        # independent round trip: the quadrature mean at the returned κ is c
        moderate = k <= 1e7
        back = np.asarray(al.vmf_mean_quadrature(np.where(moderate, k, 1.0), dd))
        np.testing.assert_allclose(back[moderate], c[moderate], rtol=1e-10, atol=1e-300)
        ref, mid = _reference_kl(k, dd)
        np.testing.assert_allclose(D[moderate | ~mid], ref[moderate | ~mid], rtol=1e-10, atol=1e-300)


@settings(max_examples=10)
@given(
    st.lists(st.one_of(st.sampled_from([0.0, 1e-300, 1e-9, 1.0, 30.0, 3000.0]), st.floats(0.0, 50.0), _bad, st.just(1e300)), min_size=N, max_size=N),
    st.lists(st.one_of(st.sampled_from([2.0, 10.0, 1e6]), st.floats(2.0, 1e6), _d_bad), min_size=N, max_size=N),
)
def test_kappa_from_kl_fuzz(D, d):
    D, dd = np.array(D), np.array(d)
    bad_d = ~(np.isfinite(dd) & (dd >= 2) & (dd <= 1e15))
    top = np.where(bad_d, np.inf, np.asarray(al.vmf_kl(1e300, np.where(bad_d, 3.0, dd))))
    bad_D = ~(np.isfinite(D) & (D >= 0) & (D <= top))
    if bad_D.any() or bad_d.any():
        _expect_error(al.kappa_from_kl, D, dd, ["D"] * bool(bad_D.any()) + ["d"] * bool(bad_d.any()))
        return
    for k in _three_ways(al.kappa_from_kl, D, dd):
        assert np.all(np.isfinite(k)) and np.all(k >= 0)
        ref, mid = _reference_kl(k, dd)
        ok = ~mid | (k <= 1e7)
        np.testing.assert_allclose(ref[ok], D[ok], rtol=1e-10, atol=1e-300)


# ---------------------------------------------------------------- tilt: Gaussian linear at any representable scale

_G64 = sj.GaussianWorld.from_covariance(np.zeros(2), np.array([[2.0, 0.3], [0.3, 0.5]]))
_tilt_jit = jax.jit(lambda u, b: sj.tilt(_G64, sj.LinearUtility(u), b))
_tilt_vmap = jax.jit(jax.vmap(lambda u, b: sj.tilt(_G64, sj.LinearUtility(u), b)))


def _linear_reference(u, beta):
    """gain = √(2β·uᵀΣu) and the mean shift √(2β/uᵀΣu)·Σu, in mpmath (no overflow)."""
    S = mp.matrix([[2.0, 0.3], [0.3, 0.5]])
    uu = mp.matrix([mp.mpf(u[0]), mp.mpf(u[1])])
    Su = S * uu
    q = (uu.T * Su)[0]
    return float(mp.sqrt(2 * mp.mpf(beta) * q)), [float(mp.sqrt(2 * mp.mpf(beta) / q) * Su[i]) for i in range(2)]


@settings(max_examples=15)
@given(
    st.sampled_from([1e-300, 1e-5, 1.0, 1e19, 1e154, 1e200, 1e300]),
    st.floats(-1.0, 1.0),
    st.one_of(st.sampled_from([0.0, 1e-12, 0.5, 1e10, 1e300, 1e308]), _bad),
)
def test_gaussian_linear_tilt_any_scale(scale, direction, beta):
    u = np.array([scale, direction * scale])
    if not (np.isfinite(beta) and beta >= 0):
        with pytest.raises(ValueError, match="power"):
            sj.tilt(_G64, sj.LinearUtility(u), beta)
        with pytest.raises(ERRORS, match="power"):
            jax.block_until_ready(_tilt_jit(u, beta))
        return
    gain, shift = _linear_reference(u, beta)
    if not (math.isfinite(gain) and all(math.isfinite(s) for s in shift)) or abs(gain) > 1e307:
        with pytest.raises(ValueError, match="power"):
            sj.tilt(_G64, sj.LinearUtility(u), beta)
        return
    eager = sj.tilt(_G64, sj.LinearUtility(u), beta)
    jitted = _tilt_jit(u, beta)
    vm = jax.tree_util.tree_map(lambda x: x[0], _tilt_vmap(u[None], jnp.asarray([beta])))
    for r in (eager, jitted, vm):
        np.testing.assert_allclose(float(r.gain), gain, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(float(r.kl), beta, rtol=1e-15)
        np.testing.assert_allclose(np.asarray(r.world.mean), shift, rtol=1e-13, atol=1e-300 + 1e-15 * max(map(abs, shift)))
        assert bool(r.converged) and not bool(r.saturated)


# ---------------------------------------------------------------- issue 12 regressions


def test_float32_linear_tilt_huge_utility():
    g = sj.GaussianWorld.isotropic(2, jnp.float32)
    for s in [1e19, 1e20, 3e38]:
        r = sj.tilt(g, sj.LinearUtility(np.array([s, 0], np.float32)), 0.5)
        np.testing.assert_allclose(float(r.kl), 0.5, rtol=1e-6)
        np.testing.assert_allclose(float(r.gain), float(np.float32(s)), rtol=1e-6)  # √(2·0.5)·s
        np.testing.assert_allclose(np.asarray(r.world.mean), [1.0, 0.0], rtol=1e-6)


def test_float64_linear_tilt_huge_utility():
    r = sj.tilt(sj.GaussianWorld.isotropic(2), sj.LinearUtility([1e200, 0]), 0.5)
    assert float(r.kl) == 0.5 and float(r.gain) == pytest.approx(1e200, rel=1e-15)
    # the check sits on the power the gain is computed from: jit cannot drop it
    f = jax.jit(lambda b: sj.tilt(sj.GaussianWorld.isotropic(2), sj.LinearUtility([1.0, 0.0]), b).gain)
    np.testing.assert_allclose(float(f(1e308)), math.sqrt(2) * 1e154, rtol=1e-15)


@pytest.mark.parametrize("dtype, powers", [(jnp.float64, [1e300, 1e308]), (jnp.float32, [88.0, 1e6])])
def test_quadratic_tilt_huge_power_refused_consistently(dtype, powers):
    g = sj.GaussianWorld.isotropic(2, dtype)
    q = sj.QuadraticUtility(jnp.eye(2, dtype=dtype), jnp.zeros(2, dtype))
    f_jit = jax.jit(lambda b: sj.tilt(g, q, b).kl)
    f_vmap = jax.jit(jax.vmap(lambda b: sj.tilt(g, q, b).kl))
    for b in powers:
        with pytest.raises(ValueError, match="power"):
            sj.tilt(g, q, b)
        with pytest.raises(ERRORS, match="power"):
            jax.block_until_ready(f_jit(jnp.asarray(b, dtype)))
        with pytest.raises(ERRORS, match="power"):
            jax.block_until_ready(f_vmap(jnp.asarray([b, b], dtype)))
    # inside the accurate range the KL is the power (independent: the closed-form KL at k)
    b = 10.0
    r = sj.tilt(g, q, b)
    k = float(r.multiplier)
    np.testing.assert_allclose(2 * 0.5 * (math.log1p(k) - k / (1 + k)), b, rtol=1e-5 if dtype == jnp.float32 else 1e-12)


def test_vmf_huge_dimension_and_divergence():
    # vmf_kl(1, d) ≈ 1/(2d): accurate up to d = 1e15; beyond, refused naming `d` (was wrong by 2)
    np.testing.assert_allclose(float(al.vmf_kl(1.0, 1e15)), 0.5e-15, rtol=1e-14)
    np.testing.assert_allclose(float(al.vmf_kl(np.float32(1.0), np.float32(1e15))), 0.5e-15, rtol=1e-6)
    for d in [1.3e154, 1e300]:
        with pytest.raises(ValueError, match="`d`"):
            al.vmf_kl(1.0, d)
    with pytest.raises(ValueError, match="`D`"):
        al.kappa_from_kl(1e300, 10)  # κ = e^{2D/9} is not representable
    k = float(al.kappa_from_kl(2000.0, 10.0))  # representable: log κ ≈ 2D/(d−1)
    assert math.isfinite(k)
    np.testing.assert_allclose(float(_asym_kl(k, 10.0)), 2000.0, rtol=1e-12)


@pytest.mark.parametrize(
    "call, names",
    [
        (lambda: al.vmf_mean([1.0, 2.0, 3.0], [3.0, 4.0]), "`kappa` and `d`"),
        (lambda: al.vmf_kl(np.ones(3), np.ones(2) * 3), "`kappa` and `d`"),
        (lambda: al.kappa_from_mean(np.full(3, 0.5), np.ones(2) * 3), "`c` and `d`"),
        (lambda: al.kappa_from_kl(np.full(3, 0.5), np.ones(2) * 3), "`D` and `d`"),
        (lambda: al.required_divergence(np.full(3, 0.5), np.ones(2) * 3), "`c_star` and `d`"),
        (lambda: sj.GaussianWorld.isotropic(math.nan), "`d`"),
        (lambda: sj.GaussianWorld.isotropic(math.inf), "`d`"),
        (lambda: sj.GaussianWorld.isotropic(1e300), "`d`"),
        (lambda: sj.GaussianWorld.from_covariance(np.zeros(0), np.zeros((0, 0))), "`mean`"),
        (lambda: sj.GaussianWorld(np.zeros(0), np.zeros((0, 0))), "`mean`"),
        (lambda: sj.LinearUtility(np.zeros(0)), "`u`"),
        (lambda: sj.QuadraticUtility(np.zeros((0, 0)), np.zeros(0)), "`b`"),
    ],
)
def test_clear_errors(call, names):
    with pytest.raises(ValueError, match=names):
        call()


def test_python_lists_accepted():
    # 4-element lists: the shapes the fuzz above has compiled already
    x, d = [0.5, 1.0, 2.0, 3.0], [3, 3, 10, 10]
    ref, _ = _reference_kl(np.array(x), np.array(d, float))
    np.testing.assert_allclose(np.asarray(al.vmf_kl(x, d)), ref, rtol=1e-12)
    k = np.asarray(al.kappa_from_kl(x, d))
    np.testing.assert_allclose(_reference_kl(k, np.array(d, float))[0], x, rtol=1e-12)
    c = [0.1, 0.2, 0.3, 0.4]
    np.testing.assert_allclose(np.asarray(al.kappa_from_mean(c, d)), np.asarray(al.kappa_from_mean(np.array(c), np.array(d, float))))
    np.testing.assert_allclose(np.asarray(al.vmf_mean(x, d)), np.asarray(al.vmf_mean(np.array(x), np.array(d, float))))
    w = sj.GaussianWorld.from_covariance([0.0, 1.0], [[4.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(w.chol), [[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(sj.DiscreteWorld.from_probs([0.25, 0.75]).probs), [0.25, 0.75])
    r = sj.tilt(sj.DiscreteWorld.from_logits([0.0, 0.0]), sj.TabularUtility([0.0, 1.0]), [0.01, 0.02])
    # independent: KL of the returned weights, in NumPy
    p = np.asarray(r.world.probs)
    np.testing.assert_allclose(np.sum(p * np.log(p / 0.5), axis=-1), [0.01, 0.02], rtol=1e-10)
