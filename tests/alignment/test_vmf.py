"""vMF tilt of the cosine law (Bessel route): against mpmath / SciPy, gradients against
finite differences, inverses by round trip, monotonicity by hypothesis, errors on bad input.
The independent quadrature route is compared in test_quadrature.py."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
from hypothesis import given
from hypothesis import strategies as st

from sumjax.alignment import (
    kappa_from_kl,
    kappa_from_mean,
    required_divergence,
    vmf_kl,
    vmf_log_mgf,
    vmf_mean,
    vmf_mean_complement,
    vmf_mean_complement_from_kl,
    vmf_mean_from_kl,
)



@mp.workdps(40)  # scoped, so test order cannot change the reference precision
def _ref_bessel(kappa, d):
    """(A, 1-A, log M, D) from mpmath.besseli at 40 digits."""
    k, nu = mp.mpf(kappa), mp.mpf(d) / 2 - 1
    iv, iv1 = mp.besseli(nu, k), mp.besseli(nu + 1, k)
    A = iv1 / iv
    L = mp.loggamma(nu + 1) + nu * mp.log(2 / k) + mp.log(iv)
    return float(A), float(1 - A), float(L), float(k * A - L)


@mp.workdps(40)
def _ref_integral(kappa, d):
    """(A, 1-A, log M, D) for large d from mpmath.quad over the cosine law, split at the mode."""
    d, k = mp.mpf(d), mp.mpf(kappa)
    a = (d - 3) / 2
    q = (d - 2) + mp.sqrt((d - 2) ** 2 + 4 * k * k)
    cs = 2 * k / q
    f0 = a * mp.log1p(-cs * cs) + k * cs

    def dens(c):
        return mp.exp(a * mp.log1p(-c * c) + k * c - f0)

    s = 1 / mp.sqrt(2 * a * (1 + cs * cs) / (1 - cs * cs) ** 2)
    pts = sorted({mp.mpf(-1), mp.mpf(1)} | {max(mp.mpf(-1), min(mp.mpf(1), cs + j * s)) for j in (-40, -10, -3, 0, 3, 10, 40)})
    Z = mp.quad(dens, pts)
    A = mp.quad(lambda c: c * dens(c), pts) / Z
    C = mp.quad(lambda c: (1 - c) * dens(c), pts) / Z
    log_beta = mp.loggamma(mp.mpf(1) / 2) + mp.loggamma((d - 1) / 2) - mp.loggamma(d / 2)
    L = mp.log(Z) + f0 - log_beta
    return float(A), float(C), float(L), float(k * A - L)


def _four(k, d):
    return jnp.stack([vmf_mean(k, d), vmf_mean_complement(k, d), vmf_log_mgf(k, d), vmf_kl(k, d)])


_PAD = 64
_four_jit = jax.jit(_four)


def _padded(fn, *args):
    """Call a jitted fn on 1-D args padded to a multiple of 64 (valid filler): one compilation
    serves every call in this file, whatever the number of points."""
    args = [np.asarray(a, np.float64).ravel() for a in np.broadcast_arrays(*args)]
    n = args[0].size
    m = -(-n // _PAD) * _PAD
    args = [np.concatenate([a, np.full(m - n, fill)]) for a, fill in zip(args, (0.5, 3.0, 3.0))]
    out = fn(*(jnp.asarray(a) for a in args))
    return jax.tree_util.tree_map(lambda v: v[..., :n] if v.shape[-1] == m else v[:n], out)


def _f64(k, d):
    return tuple(_padded(_four_jit, k, d))

_BESSEL_POINTS = [
    (k, d)
    for d in (2.0, 2.5, 3.0, 4.7, 12.0, 101.0, 2002.0)
    for k in (1e-6, 0.3, 1.0, 7.5, 40.0, 41.0, 250.0, 1e4, 1e7)
]
_INTEGRAL_POINTS = [(1e3, 1e6), (1e5, 1e6), (1e7, 1e6), (1e7, 1e5), (3.0, 1e4)]


def test_against_mpmath_besseli():
    k, d = (np.array(v) for v in zip(*_BESSEL_POINTS))
    got = np.array(_f64(jnp.asarray(k), jnp.asarray(d)))
    ref = np.array([_ref_bessel(*p) for p in _BESSEL_POINTS]).T
    rel = np.abs(got - ref) / np.abs(ref)
    assert rel.max() < 5e-13, rel.max()


def test_long_pass_path_against_mpmath(monkeypatch):
    # Passes over more than 4096 points (`sumjax._numerics.long_pass`) use the fdlibm logarithms and the shifted
    # Stirling series (no lgamma); lowering the threshold sends these few points down that path, against the same
    # references.
    from sumjax import _numerics
    from sumjax.alignment import _bessel, _vmf

    monkeypatch.setattr(_numerics, "_LONG_PASS", 0)
    k, d = (np.array(v) for v in zip(*_BESSEL_POINTS))

    def four(kappa, dim):  # traced here, so the patched threshold applies (no cached trace of the public functions)
        nu = 0.5 * dim - 1.0
        core = _bessel.vmf_core(kappa, nu)
        return jnp.stack([core[0], core[1], core[2], _vmf._kl_from_core(kappa, nu, *core)])

    got = np.array(jax.jit(four)(jnp.asarray(k), jnp.asarray(d)))
    ref = np.array([_ref_bessel(*p) for p in _BESSEL_POINTS]).T
    assert (np.abs(got - ref) / np.abs(ref)).max() < 5e-13
    small = np.array(_f64(k, d))  # XLA's own logarithms and lgamma: the two paths agree to a few ulp
    np.testing.assert_allclose(got, small, rtol=2e-15, atol=0)


def test_against_mpmath_integral_large_d():
    # ν ≈ 5·10⁵ and κ up to 10⁷, where mpmath.besseli does not converge.
    k, d = (np.array(v) for v in zip(*_INTEGRAL_POINTS))
    got = np.array(_f64(jnp.asarray(k), jnp.asarray(d)))
    ref = np.array([_ref_integral(*p) for p in _INTEGRAL_POINTS]).T
    rel = np.abs(got - ref) / np.abs(ref)
    assert rel.max() < 1e-12, rel.max()


def test_against_scipy_ive():
    k = np.geomspace(1e-3, 3e4, 40)
    for d in (2.0, 3.0, 6.5, 50.0):
        nu = d / 2 - 1
        ref = sc.ive(nu + 1, k) / sc.ive(nu, k)
        np.testing.assert_allclose(np.asarray(vmf_mean(k, d)), ref, rtol=1e-13)
        # log M = lgamma(ν+1) + ν log(2/κ) + log ive + κ, where it does not cancel (κ ≫ 1)
        big = k > 10 * (nu + 1)
        refL = sc.gammaln(nu + 1) + nu * np.log(2 / k) + np.log(sc.ive(nu, k)) + k
        np.testing.assert_allclose(np.asarray(vmf_log_mgf(k, d))[big], refL[big], rtol=1e-13)


def test_small_kappa_series():
    # M = ₀F₁(; d/2; κ²/4) = 1 + κ²/(2d) + κ⁴/(8d(d+2)) + ...: relative accuracy as κ → 0
    d = np.array([2.0, 3.0, 10.0, 1e6])
    for k in (1e-300, 1e-100, 1e-8):
        x = k * k / (2 * d)
        A, C, L, D = (np.asarray(v) for v in _f64(k, d))
        np.testing.assert_allclose(L, x, rtol=1e-14)
        np.testing.assert_allclose(D, x, rtol=1e-14)  # D ≈ κ²/(2d)
        np.testing.assert_allclose(A, k / d, rtol=1e-14)
        np.testing.assert_allclose(C, 1.0 - k / d, rtol=1e-14)
    assert np.all(np.asarray(_f64(np.zeros(4), d)[0]) == 0.0)


@mp.workdps(40)
def test_small_kappa_start_order_just_below_threshold():
    # d slightly below an even integer puts the Debye start order just below 40 while κ → 0;
    # log M ≈ κ²/(2d) is then tiny and must not pick up the ~1e-14 absolute rounding of the
    # small-order Stirling correction (it did: 1e-4 relative error).
    d = np.array([80 - 1e-9, 80 - 1e-12, 60 - 1e-9, 20 - 1e-9])
    k = np.full(d.shape, 2.031e-4)
    ref = [float(mp.log(mp.hyp0f1(mp.mpf(dd) / 2, mp.mpf(kk) ** 2 / 4))) for kk, dd in zip(k, d)]
    np.testing.assert_allclose(np.asarray(_f64(k, d)[2]), ref, rtol=1e-14)


def test_huge_kappa_complement_is_relative():
    # 1 - A ≈ (d-1)/(2κ) → 0 while A → 1: compare relatively with mpmath
    k = np.array([1e9, 1e12, 1e15])
    for d in (2.0, 3.0, 7.0):
        ref = [_ref_bessel(kk, d)[1] for kk in k]
        np.testing.assert_allclose(np.asarray(vmf_mean_complement(k, d)), ref, rtol=1e-13)


def test_float32_accuracy_and_dtype():
    k = np.array([0.0, 1e-6, 0.5, 30.0, 45.0, 1e3, 1e5, 1e7])
    d = np.array([2.0, 2.5, 3.0, 10.0, 1e3, 1e4, 1e6, 2.0])
    ref = [np.asarray(v) for v in _f64(jnp.asarray(k), jnp.asarray(d))]
    out = _four_jit(jnp.asarray(k, jnp.float32), jnp.asarray(d, jnp.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out, np.float64), np.stack(ref), rtol=1e-5, atol=1e-30)


# ---------------------------------------------------------------- gradients

# values and Jacobians in one compiled call (reused for the finite differences)
# (reverse mode: jacrev = one grad per output)
_vals_grads = jax.jit(lambda k, d: (_four(k, d), jax.vmap(jax.jacrev(_four, argnums=(0, 1)))(k, d)))
_grads_fwd = jax.jit(jax.vmap(jax.jacfwd(lambda k, d: vmf_kl(k, d) + vmf_mean(k, d), argnums=(0, 1))))


def _grads(k, d):
    return _padded(_vals_grads, k, d)[1]


def test_gradients_match_finite_differences():
    k = np.array([0.4, 3.0, 39.9, 40.1, 300.0, 2e4, 5e5, 2.0])
    d = np.array([2.01, 2.7, 5.0, 3.0, 150.0, 1e3, 1e6, 1e4])  # d - h must stay ≥ 2
    gk, gd = (np.asarray(g) for g in _grads(k, d))
    hk, hd = 1e-6 * k, 1e-6 * d
    fdk = (np.stack(_f64(k + hk, d)) - np.stack(_f64(k - hk, d))).T / (2 * hk[:, None])
    fdd = (np.stack(_f64(k, d + hd)) - np.stack(_f64(k, d - hd))).T / (2 * hd[:, None])
    np.testing.assert_allclose(gk, fdk, rtol=1e-6, atol=1e-13)
    np.testing.assert_allclose(gd, fdd, rtol=1e-6, atol=1e-13)
    # identities: d log M/dκ = A, dA/dκ = 1 - A² - (d-1)A/κ, dD/dκ = κA', dC/dκ = -dA/dκ
    A = np.asarray(_f64(k, d)[0])
    np.testing.assert_allclose(gk[:, 2], A, rtol=1e-12)
    np.testing.assert_allclose(gk[:, 0], 1 - A**2 - (d - 1) * A / k, rtol=1e-6)
    np.testing.assert_allclose(gk[:, 3], k * gk[:, 0], rtol=1e-12)
    np.testing.assert_allclose(gk[:, 1], -gk[:, 0], rtol=1e-12)
    # forward mode agrees with reverse mode
    fk, fd = _padded(_grads_fwd, k, d)
    np.testing.assert_allclose(np.asarray(fk), gk[:, 3] + gk[:, 0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(fd), gd[:, 3] + gd[:, 0], rtol=1e-12)


def test_gradients_finite_at_edges():
    k = np.array([0.0, 0.0, 0.0, 0.0, 1e7, 1e7, 1e-300, 40.0])
    d = np.array([2.0, 3.0, 7.5, 1e6, 2.0, 1e6, 2.0, 2.0])
    gk, gd = (np.asarray(g) for g in _grads(k, d))
    assert np.all(np.isfinite(gk)) and np.all(np.isfinite(gd))
    # at κ = 0: A' = 1/d, C' = -1/d, (log M)' = 0, D' = 0; nothing depends on d
    np.testing.assert_allclose(gk[:4, 0], 1 / d[:4], rtol=1e-13)
    assert np.all(gk[:4, 2:] == 0.0) and np.all(gd[:4] == 0.0)
    fk, fd = _padded(_grads_fwd, k, d)
    assert np.all(np.isfinite(np.asarray(fk))) and np.all(np.isfinite(np.asarray(fd)))


# ---------------------------------------------------------------- properties

_grid_k = jnp.asarray(np.concatenate([[0.0], np.geomspace(1e-4, 1e7, 63)]))


@given(st.floats(2.0, 1e6), st.floats(1.0001, 3.0))
def test_monotone_properties(d, ratio):
    d = np.full(_grid_k.shape, d)
    A, C, L, D = _f64(_grid_k, d)
    A2 = _f64(_grid_k, d * ratio)[0]
    assert np.all(np.asarray(A) >= 0) and np.all(np.asarray(A) < 1)
    assert np.all(np.diff(np.asarray(A)) > 0) and np.all(np.diff(np.asarray(D)) > 0)
    np.testing.assert_allclose(np.asarray(A + C), 1.0, rtol=1e-15)
    assert np.all(np.asarray(A2)[1:] < np.asarray(A)[1:])  # decreasing in d


# ---------------------------------------------------------------- inverses

_inv_mean_jit = jax.jit(kappa_from_mean)
_inv_kl_jit = jax.jit(kappa_from_kl)


def _inv_mean(c, d):
    return _padded(_inv_mean_jit, c, d)


def _inv_kl(D, d):
    return _padded(_inv_kl_jit, D, d)


@given(st.floats(0.0, 0.999999), st.floats(2.0, 1e6))
def test_kappa_from_mean_round_trip(c, d):
    k = _inv_mean([c, c * 0.5, c**3], d)
    back = _f64(k, d)[0]
    np.testing.assert_allclose(np.asarray(back), [c, c * 0.5, c**3], rtol=1e-13, atol=1e-300)


@given(st.floats(0.0, 20.0), st.floats(2.0, 1e6))
def test_kappa_from_kl_round_trip(x, d):
    D = np.array([x, x * d, 1e-9 * x])  # up to D = 2e7, κ ~ 1e12 (for d = 2 up to e^40)
    k = _inv_kl(D, d)
    back = _f64(k, d)[3]
    np.testing.assert_allclose(np.asarray(back), np.asarray(D), rtol=1e-12, atol=1e-300)


def test_inverse_edges_and_composites():
    d = jnp.array([2.0, 3.0, 1e6])
    assert np.all(np.asarray(kappa_from_mean(0.0, d)) == 0) and np.all(np.asarray(kappa_from_kl(0.0, d)) == 0)
    c = jnp.array([0.3, 0.9, 0.99])
    Ds = required_divergence(c, d)
    np.testing.assert_allclose(np.asarray(Ds), np.asarray(vmf_kl(kappa_from_mean(c, d), d)), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(vmf_mean_from_kl(Ds, d)), np.asarray(c), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(vmf_mean_complement_from_kl(Ds, d)), 1 - np.asarray(c), rtol=1e-11)
    # small c*: D* ≈ d c*²/2
    np.testing.assert_allclose(np.asarray(required_divergence(1e-8, d)), np.asarray(d) * 1e-16 / 2, rtol=1e-7)
    # required divergence is (asymptotically) linear in d, as the SUM text claims
    big = np.asarray(required_divergence(0.5, jnp.array([1e5, 2e5, 4e5])))
    np.testing.assert_allclose(big[2] - big[1], 2 * (big[1] - big[0]), rtol=1e-4)


def _inverses(x, d):
    return jnp.stack(
        [kappa_from_mean(x / 30.0, d), kappa_from_kl(x, d), required_divergence(x / 30.0, d), vmf_mean_from_kl(x, d)]
    )


# values and reverse-mode Jacobians (transposed implicit JVPs) in one compiled call
_inv_all = jax.jit(lambda x, d: (jax.vmap(_inverses)(x, d), jax.vmap(jax.jacrev(_inverses, argnums=(0, 1)))(x, d)))


def test_inverse_gradients_match_finite_differences():
    x = np.array([0.3, 3.0, 15.0, 29.0, 9.0, 0.0, 0.0, 0.0])
    d = np.array([2.02, 3.5, 40.0, 1e4, 1e6, 2.0, 5.0, 1e6])
    _, (gx, gd) = jax.tree_util.tree_map(np.asarray, _padded(_inv_all, x, d))
    hx, hd = 1e-6 * x[:5], 1e-6 * d[:5]
    vals = lambda x, d: np.asarray(_padded(_inv_all, x, d)[0])  # noqa: E731
    fdx = (vals(x[:5] + hx, d[:5]) - vals(x[:5] - hx, d[:5])) / (2 * hx[:, None])
    fdd = (vals(x[:5], d[:5] + hd) - vals(x[:5], d[:5] - hd)) / (2 * hd[:, None])
    np.testing.assert_allclose(gx[:5], fdx, rtol=1e-6)
    np.testing.assert_allclose(gd[:5], fdd, rtol=1e-6, atol=1e-12)
    # forward mode (the implicit JVP itself), through jvp
    tx = jax.jvp(lambda x: _inverses(x, 3.5), (jnp.asarray(3.0),), (jnp.asarray(1.0),))[1]
    np.testing.assert_allclose(np.asarray(tx), gx[1], rtol=1e-12)
    # at the edge x = 0: dκ/dc = d (finite), dD*/dc* = κ = 0, and the zero d-tangent through
    # κ(D = 0) (whose true D-derivative is +∞) gives 0, not NaN
    np.testing.assert_allclose(gx[5:, 0], d[5:] / 30.0, rtol=1e-12)
    assert np.all(gx[5:, 2] == 0.0)
    assert np.all(np.isfinite(gd[5:])) and np.all(gd[5:] == 0.0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: vmf_mean(-1.0, 3.0), "kappa"),
        (lambda: vmf_kl(1.0, 1.5), "`d`"),
        (lambda: vmf_log_mgf(jnp.nan, 3.0), "kappa"),
        (lambda: vmf_mean_complement(1.0, jnp.inf), "`d`"),
        (lambda: kappa_from_mean(1.0, 3.0), "`c`"),
        (lambda: kappa_from_mean(-0.1, 3.0), "`c`"),
        (lambda: kappa_from_kl(-1e-3, 3.0), "`D`"),
        (lambda: required_divergence(1.5, 3.0), "c_star"),
        (lambda: vmf_mean_from_kl(1.0, 0.0), "`d`"),
    ],
)
def test_bad_input_raises_eagerly(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_bad_input_raises_under_jit():
    # (padded to the shapes compiled above, so no new compilation)
    with pytest.raises(Exception, match="kappa"):
        jax.block_until_ready(_f64([1.0, -1.0], 3.0))
    with pytest.raises(Exception, match="`d`"):
        jax.block_until_ready(_f64(1.0, [3.0, 1.0]))
    with pytest.raises(Exception, match="`c`"):
        jax.block_until_ready(_inv_mean([0.5, 1.2], 3.0))
    with pytest.raises(Exception, match="`D`"):
        jax.block_until_ready(_inv_kl([0.5, np.nan], 3.0))


def test_op_by_op_under_disable_jit_agrees_with_jit():
    # `jax.disable_jit()` is how users step through a computation; the recurrence's loop index is then a
    # Python int, which the kernel must accept. Op by op may round differently from the fused program.
    kappa, d = np.geomspace(1e-2, 1e5, 9), np.geomspace(2.0, 1e4, 9)
    jitted = [np.asarray(f(kappa, d)) for f in (vmf_mean, vmf_kl)]
    with jax.disable_jit():
        eager = [np.asarray(f(kappa, d)) for f in (vmf_mean, vmf_kl)]
        c = np.asarray(required_divergence(np.array([0.5]), np.array([10.0])))
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(c, np.asarray(required_divergence(np.array([0.5]), np.array([10.0]))), rtol=1e-12)


@pytest.mark.parametrize("shapes", [((), ()), ((3,), ()), ((2, 1), (1, 3)), ((), (4,))])
def test_concrete_and_traced_inputs_give_the_same_array(shapes):
    # Concrete input is broadcast in NumPy and transferred (no staged ops); traced input broadcasts in
    # jnp. Both must give the broadcast shape (0-d stays 0-d) and the same values.
    rng = np.random.default_rng(3)
    kappa = rng.uniform(0.1, 50.0, shapes[0])
    d = rng.uniform(2.0, 500.0, shapes[1])
    eager = vmf_mean(kappa, d)
    traced = jax.jit(vmf_mean)(kappa, d)
    assert eager.shape == np.broadcast_shapes(*shapes) == traced.shape
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-13)


def test_chunked_path_equals_the_one_chunk_path(monkeypatch):
    # More than one chunk (`_bessel._CHUNK` points) takes the in-place chunk loop, whose last chunk overlaps its
    # neighbour. Among points that need nothing more than the Debye pass and one step: in the first chunk, points
    # that need only the Stirling correction (κ ≥ 40, so one step, and μ = ν + 1 < 15); recurrence steps
    # (κ < 40, small ν) in the middle chunk alone, in the overlap, and in the last chunk alone. Each point's
    # value must be what a call on that point's own small array gives (the per-point arithmetic is the same).
    from sumjax import _numerics
    from sumjax.alignment import _bessel

    monkeypatch.setattr(_numerics, "_LONG_PASS", 0)  # the small pieces take the same logarithms as the whole
    c = _bessel._CHUNK
    n = 2 * c + 1000  # chunks start at 0, c and n − c (overlapping the middle one on [n − c, 2c))
    rng = np.random.default_rng(3)
    kappa = np.exp(rng.uniform(np.log(50.0), np.log(1e6), n))  # one step, no correction
    nu = np.exp(rng.uniform(np.log(40.0), np.log(1e5), n))
    stirling = np.r_[100:140]
    kappa[stirling], nu[stirling] = rng.uniform(40.0, 60.0, 40), rng.uniform(0.0, 13.0, 40)
    steps = np.r_[c + 100 : c + 140, n - c + 100 : n - c + 140, n - 40 : n]
    kappa[steps] = np.geomspace(1e-3, 39.0, steps.size)[rng.permutation(steps.size)]
    nu[steps] = rng.uniform(0.0, 30.0, steps.size)
    core = jax.jit(lambda k, v: jnp.stack(_bessel.vmf_core(k, v)))
    whole = np.asarray(core(jnp.asarray(kappa), jnp.asarray(nu)))
    small = np.concatenate([np.asarray(core(jnp.asarray(kappa[i : i + 1000]), jnp.asarray(nu[i : i + 1000])))
                            for i in range(0, n, 1000)], axis=1)
    np.testing.assert_array_max_ulp(whole, small, maxulp=2)
    # and the gradients of R and log M (forward-mode partials of the same kernel)
    for i in (0, 2):
        f = lambda k, v: _bessel.vmf_core(k, v)[i]  # noqa: E731
        gw = jax.jit(jax.grad(lambda k, v: jnp.sum(f(k, v)), argnums=(0, 1)))(jnp.asarray(kappa), jnp.asarray(nu))
        gs = jax.jit(jax.vmap(jax.grad(f, argnums=(0, 1))))(jnp.asarray(kappa), jnp.asarray(nu))
        np.testing.assert_allclose(np.asarray(gw), np.asarray(gs), rtol=1e-13, atol=0)
