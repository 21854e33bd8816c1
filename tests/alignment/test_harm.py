"""The training loop's total harm against an independent SciPy computation (Bessel ratios,
Brent roots, adaptive quadrature over D), the large-d closed forms, finite differences for
gradients, and the SUM text's claims as tests.

Most checks here run the package's first reading (√KL harm ReLU(√β_A − √β_H)·F, progress in D):
the loop's machinery is shared by every reading; `test_readings.py` checks the readings themselves."""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as hs

from sumjax.alignment import (
    HarmFunctional,
    alignment_step,
    negative_part,
    required_divergence,
    vmf_mean_from_kl,
)
from sumjax.alignment import harm_scale as _harm_scale
from sumjax.alignment import harm_series as _harm_series
from sumjax.alignment import per_round_harm as _per_round_harm
from sumjax.alignment import total_harm as _total_harm

FR = "first_reconstruction"
total_harm = functools.partial(_total_harm, reading=FR)
harm_series = functools.partial(_harm_series, reading=FR)
per_round_harm = functools.partial(_per_round_harm, reading=FR)
harm_scale = functools.partial(_harm_scale, reading=FR)

# ----------------------------------------------------------------- independent reference (SciPy)


def A(k, d):
    return sp.ive(d / 2, k) / sp.ive(d / 2 - 1, k) if k > 0 else 0.0


def KL(k, d):
    if k == 0:
        return 0.0
    nu = d / 2 - 1
    logM = sp.gammaln(d / 2) + nu * np.log(2 / k) + np.log(sp.ive(nu, k)) + k
    return k * A(k, d) - logM


def kappa_of_D(D, d):
    return so.brentq(lambda k: KL(k, d) - D, 0, 1e4 * d, xtol=1e-14, rtol=1e-15) if D > 0 else 0.0


def kappa_of_c(c, d):
    return so.brentq(lambda k: A(k, d) - c, 0, 1e4 * d, xtol=1e-14, rtol=1e-15)


def ref_total(cs, d, ba, bh, over="D", method="integral", g=lambda c: 1 - c, rectify=True):
    s = max(np.sqrt(ba) - np.sqrt(bh), 0) if rectify else np.sqrt(ba)
    delta = min(ba, bh) if rectify else ba
    Ds = KL(kappa_of_c(cs, d), d)
    if g is None:
        F = lambda D: 1 - A(kappa_of_D(D, d), d)
    else:  # E[g(c)] by quadrature of the tilted cosine density
        def F(D):
            k = kappa_of_D(D, d)
            w = lambda c: np.exp(k * (c - 1)) * (1 - c * c) ** ((d - 3) / 2)
            return si.quad(lambda c: g(c) * w(c), -1, 1, points=[0.0])[0] / si.quad(w, -1, 1, points=[0.0])[0]
    if method == "sum":
        N = int(np.ceil(Ds / delta if over == "D" else np.sqrt(Ds / delta)))
        n = np.arange(N)
        return s * sum(F(x) for x in (n * delta if over == "D" else n * n * delta))
    if over == "D":
        return s / delta * si.quad(F, 0, Ds, epsabs=0, epsrel=1e-11, limit=200)[0]
    return s / np.sqrt(delta) * si.quad(lambda r: F(r * r), 0, np.sqrt(Ds), epsabs=0, epsrel=1e-11, limit=200)[0]


@mp.workdps(30)  # scoped: a global mp.dps would leak into other test modules
def mp_negative_part(k, d):
    """E[max(0, −c)] by 30-digit quadrature in angles (c = −sin θ; c = cos φ for the normaliser)."""
    k, d = mp.mpf(k), mp.mpf(d)
    sc = 1 / (k + mp.sqrt(d) + 1)
    pts = lambda hi: sorted({mp.mpf(0), hi, *[min(hi, sc * j) for j in (0.5, 1, 2, 4, 8, 16, 32, 64)]})
    N = mp.quad(lambda t: mp.sin(t) * mp.exp(-k * mp.sin(t)) * mp.cos(t) ** (d - 2), pts(mp.pi / 2))
    Z = mp.quad(lambda p: mp.exp(k * (mp.cos(p) - 1)) * mp.sin(p) ** (d - 2), pts(mp.pi)) * mp.exp(k)
    return N / Z


CASES = [(0.5, 10.0, 2.0, 1.0), (0.9, 3.0, 1.5, 0.5), (0.99, 40.0, 4.0, 1.0)]


@pytest.mark.parametrize("over", ["D", "sqrt_D"])
@pytest.mark.parametrize("cs,d,ba,bh", CASES)
def test_total_harm_integral_and_sum_against_scipy(cs, d, ba, bh, over):
    ours = total_harm(jnp.array([cs]), d, ba, bh, integrate_over=over)[0]
    np.testing.assert_allclose(ours, ref_total(cs, d, ba, bh, over, g=None), rtol=1e-10)
    ours_sum = total_harm(cs, d, ba, bh, integrate_over=over, method="sum")
    np.testing.assert_allclose(ours_sum, ref_total(cs, d, ba, bh, over, "sum", g=None), rtol=1e-12)


def test_unrectified_and_kl_measure_against_scipy():
    cs, d, ba = 0.7, 8.0, 0.5
    ref = ref_total(cs, d, ba, 0.0, g=None, rectify=False)
    np.testing.assert_allclose(total_harm(cs, d, ba, rectify=False), ref, rtol=1e-10)
    # KL measure: the push in KL units, β_A·F per round, over the same rounds (δ = β_A).
    Ds = KL(kappa_of_c(cs, d), d)
    ref_kl = ba / ba * si.quad(lambda D: 1 - A(kappa_of_D(D, d), d), 0, Ds, epsrel=1e-11)[0]
    np.testing.assert_allclose(total_harm(cs, d, ba, rectify=False, measure="kl"), ref_kl, rtol=1e-10)


def test_negative_part_functional_against_quadrature_of_density():
    cs, d, ba, bh = 0.6, 6.0, 2.0, 1.0
    g = lambda c: max(0.0, -c)
    ref = ref_total(cs, d, ba, bh, g=g)
    np.testing.assert_allclose(total_harm(cs, d, ba, bh, functional="negative_part"), ref, rtol=1e-7)
    # The law E[max(0, −c)] itself against 30-digit mpmath quadrature, κ from 0 to 100, d from 2 to 100.
    k = np.array([0.0, 0.1, 1.0, 10.0, 100.0, 0.0, 1.0, 10.0, 100.0])
    dd = np.array([2.0, 2.0, 3.0, 6.0, 6.0, 100.0, 100.0, 100.0, 100.0])
    ours = np.asarray(negative_part.expectation(jnp.asarray(k), jnp.asarray(dd)))
    for ki, di, oi in zip(k, dd, ours):
        np.testing.assert_allclose(oi, float(mp_negative_part(ki, di)), rtol=1e-11)
    # Large d, κ = 0: E[max(0, −c)] = E|c|/2 → √(2/(πd))/2 (c ≈ N(0, 1/d)), to O(1/d).
    np.testing.assert_allclose(negative_part.expectation(0.0, 1e6), np.sqrt(2 / (np.pi * 1e6)) / 2, rtol=1e-5)
    assert negative_part.name == "negative_part"
    # A user HarmFunctional with no closed form goes through the package's generic quadrature.
    custom = HarmFunctional(lambda c: (1.0 - c) ** 2)
    ref2 = ref_total(cs, d, ba, bh, g=lambda c: (1 - c) ** 2)
    np.testing.assert_allclose(total_harm(cs, d, ba, bh, functional=custom), ref2, rtol=1e-7)


_sum_int = jax.jit(
    lambda cs, d, ba, bh: jnp.stack(
        [total_harm(cs, d, ba, bh, method=m, integrate_over=o) for o in ("D", "sqrt_D") for m in ("sum", "integral")]
    )
)


@given(hs.floats(0.01, 0.95), hs.floats(2.0, 200.0), hs.floats(0.05, 5.0), hs.floats(0.05, 5.0))
def test_property_sum_minus_integral_between_zero_and_one_round(cs, d, ba, bh):
    # F decreasing ⇒ left Riemann sum: 0 ≤ H_sum − H_int ≤ s·F(0) = s (one round of full harm).
    h = np.asarray(_sum_int(cs, d, ba, bh))
    s = max(np.sqrt(ba) - np.sqrt(bh), 0.0)
    for k in (0, 2):
        assert -1e-9 * (1 + h[k + 1]) <= h[k] - h[k + 1] <= s * (1 + 1e-9) + 1e-12


def test_harm_series_matches_total_and_schedule():
    ser = harm_series(0.5, 12.0, jnp.array([2.0, 3.0]), 1.0, num_rounds=60)
    N = np.asarray(ser.rounds_needed)
    np.testing.assert_allclose(ser.cumulative[:, -1], total_harm(0.5, 12.0, jnp.array([2.0, 3.0]), 1.0, method="sum"), rtol=1e-13)
    np.testing.assert_array_equal(ser.active.sum(-1), N)
    np.testing.assert_allclose(ser.D[0, :5], np.arange(5) * 1.0)
    np.testing.assert_allclose(ser.mean_cos, vmf_mean_from_kl(ser.D, 12.0), rtol=1e-12)
    Ds = float(required_divergence(0.5, 12.0))
    assert np.all(np.asarray(ser.D)[np.asarray(ser.active)] < Ds)
    assert np.all(np.asarray(ser.mean_cos)[np.asarray(ser.active)] < 0.5)
    sq = harm_series(0.5, 12.0, 2.0, 1.0, num_rounds=10, integrate_over="sqrt_D")
    np.testing.assert_allclose(sq.D[:4], np.arange(4) ** 2 * 1.0)


def test_harm_series_per_round_harm_for_both_kinds_of_functional():
    # The schedule computes E[c] and 1 − E[c] in one Bessel evaluation and takes F = 1 − E[c] from it
    # (`of_complement`); a functional without that form (negative part) evaluates its law. Both against SciPy
    # quadrature of the tilted cosine density at the same D_n, and E[c] against the Bessel ratio.
    cs, d, ba, bh = 0.6, 6.0, 2.0, 1.0
    s = np.sqrt(ba) - np.sqrt(bh)
    for name, g in (("one_minus_cosine", lambda c: 1.0 - c), ("negative_part", lambda c: max(0.0, -c))):
        ser = harm_series(cs, d, ba, bh, num_rounds=6, functional=name)
        D, act = np.asarray(ser.D), np.asarray(ser.active)
        for Dn, hn, mn, an in zip(D, np.asarray(ser.harm), np.asarray(ser.mean_cos), act):
            k = kappa_of_D(Dn, d)
            w = lambda c: np.exp(k * (c - 1)) * (1 - c * c) ** ((d - 3) / 2)  # noqa: B023
            z = si.quad(w, -1, 1, points=[0.0], epsabs=0, epsrel=1e-12)[0]
            F = si.quad(lambda c: g(c) * w(c), -1, 1, points=[0.0], epsabs=0, epsrel=1e-12)[0] / z  # noqa: B023
            np.testing.assert_allclose(hn, s * F if an else 0.0, rtol=1e-9, atol=1e-300)
            np.testing.assert_allclose(mn, A(k, d) if k > 0 else 0.0, rtol=1e-12, atol=1e-300)
        assert act[0] and not act[-1]


def test_pieces_and_per_round_harm():
    np.testing.assert_allclose(alignment_step(3.0, 1.0), 1.0)
    np.testing.assert_allclose(alignment_step(3.0, 1.0, rectify=False), 3.0)
    np.testing.assert_allclose(alignment_step(3.0, 1.0, rectify=False, cap_delta=True), 1.0)
    np.testing.assert_allclose(harm_scale(4.0, 1.0), 1.0)
    np.testing.assert_allclose(harm_scale(4.0, rectify=False), 2.0)
    D, d = 3.0, 10.0
    np.testing.assert_allclose(per_round_harm(D, d, 4.0, 1.0), 1 - A(kappa_of_D(D, d), d), rtol=1e-12)
    # KL units, same fraction θ = 1 − √(β_H/β_A) = ½ of the push β_A = 4: T = 2.
    np.testing.assert_allclose(per_round_harm(D, d, 4.0, 1.0, measure="kl"), 2 * (1 - A(kappa_of_D(D, d), d)), rtol=1e-12)


# ----------------------------------------------------------------- the SUM text's claims


def test_claim_required_divergence_linear_in_d():
    """Holds: over d ∈ [10, 1e4] an affine fit D* ≈ a + b·d leaves residuals < 0.2% of D*, and the
    slope is the large-d limit −½·log(1 − c*²) (the offset a is O(1), not 0: 'linear' = affine)."""
    d = np.geomspace(10, 1e4, 9)
    for cs in (0.1, 0.5, 0.9, 0.99):
        D = np.asarray(required_divergence(cs, d))
        coef, *_ = np.linalg.lstsq(np.vstack([np.ones_like(d), d]).T, D, rcond=None)
        assert np.max(np.abs(D - coef[0] - coef[1] * d) / D) < 2e-3
        np.testing.assert_allclose(coef[1], -0.5 * np.log1p(-cs * cs), rtol=1e-3)
    # d = 1e6: D*/d is the limit to O(1/d).
    np.testing.assert_allclose(required_divergence(0.5, 1e6) / 1e6, -0.5 * np.log(0.75), rtol=1e-5)


def test_claim_total_harm_proportional_to_d():
    """Holds over D: H/d → (s/δ)(c* − log(1 + c*)) (large-d closed form, κ ≈ dc/(1 − c²));
    at d = 1e6 to 1e-5, and H is affine in d with residuals < 1% over d ∈ [10, 1e4]."""
    cs, ba, bh = 0.8, 3.0, 1.0
    lim = (np.sqrt(ba) - np.sqrt(bh)) / bh * (cs - np.log1p(cs))
    np.testing.assert_allclose(total_harm(cs, 1e6, ba, bh) / 1e6, lim, rtol=1e-5)
    d = np.geomspace(10, 1e4, 7)
    H = np.asarray(total_harm(cs, d, ba, bh))
    coef, *_ = np.linalg.lstsq(np.vstack([np.ones_like(d), d]).T, H, rcond=None)
    assert np.max(np.abs(H - coef[0] - coef[1] * d) / H) < 1e-2
    np.testing.assert_allclose(coef[1], lim, rtol=1e-3)


def test_claim_sqrt_D_integration_gives_sqrt_d_not_d():
    """Does NOT hold as 'the same': over √D, H ∝ √d (limit (s/√δ)·√(1/2)·[(1−c*)√L(c*) + ∫₀^{c*}√L],
    L = −log(1 − c²)). What is shared with D-integration: H = 0 for β_A ≤ β_H, growth past it,
    H increasing in d."""
    cs, ba, bh = 0.8, 3.0, 1.0
    L = lambda c: -np.log1p(-c * c)
    lim = (np.sqrt(ba) - np.sqrt(bh)) / np.sqrt(bh) * np.sqrt(0.5) * (
        (1 - cs) * np.sqrt(L(cs)) + si.quad(lambda c: np.sqrt(L(c)), 0, cs)[0]
    )
    np.testing.assert_allclose(total_harm(cs, 1e6, ba, bh, integrate_over="sqrt_D") / 1e3, lim, rtol=1e-4)
    d = np.array([100.0, 400.0, 1600.0, 6400.0])
    for over, power in (("D", 1.0), ("sqrt_D", 0.5)):
        H = np.asarray(total_harm(cs, d, ba, bh, integrate_over=over))
        slopes = np.diff(np.log(H)) / np.diff(np.log(d))
        np.testing.assert_allclose(slopes, power, atol=0.02)
        beta = np.array([0.25, 0.5, 1.0, 1.2, 2.0])
        Hb = np.asarray(total_harm(cs, 100.0, beta, 1.0, integrate_over=over))
        assert np.all(Hb[:3] == 0) and np.all(np.diff(Hb[2:]) > 0)


def test_claim_zero_below_threshold_fast_growth_above_faster_for_larger_d():
    """Holds: H = 0 exactly for β_A ≤ β_H; just above, H rises linearly in √β_A − √β_H with right
    derivative dH/dβ_A = (1/(2√β_H·β_H))·∫₀^{D*}F dD ∝ d (so faster for larger d); no harm is possible
    below, and the kink (not a jump) is the 'sudden' onset."""
    bh = 1.0
    beta = jnp.array([0.0, 0.3, 0.99, 1.0])
    assert np.all(np.asarray(total_harm(0.9, jnp.array([[10.0], [1e3], [1e6]]), beta, bh)) == 0)
    g = jax.vmap(jax.grad(lambda b, d: total_harm(0.9, d, b, bh)), (None, 0))(1.0 + 1e-9, jnp.array([10.0, 100.0, 1e3, 1e4, 1e6]))
    g = np.asarray(g)
    assert np.all(np.diff(g) > 0)
    np.testing.assert_allclose(g[-1] / g[-2], 100.0, rtol=1e-3)  # ∝ d at large d
    # Below threshold the gradient is exactly zero, and finite at β_A = 0 and at β_A = β_H.
    g0 = jax.grad(lambda b: total_harm(0.9, 10.0, b, bh))
    assert float(g0(0.5)) == 0.0 and np.isfinite(float(g0(0.0))) and np.isfinite(float(g0(1.0)))


# ----------------------------------------------------------------- sensitivity (grad vs FD)


def _fd(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("over", ["D", "sqrt_D"])
def test_gradients_against_finite_differences(over):
    H = jax.jit(lambda c, d, ba, bh: total_harm(c, d, ba, bh, integrate_over=over))
    args = (0.7, 30.0, 2.5, 0.8)
    g = jax.jit(jax.grad(H, argnums=(0, 1, 2, 3)))(*args)
    for i, h in enumerate((1e-6, 1e-4, 1e-5, 1e-5)):
        up = [a + h if j == i else a for j, a in enumerate(args)]
        dn = [a - h if j == i else a for j, a in enumerate(args)]
        np.testing.assert_allclose(g[i], (H(*up) - H(*dn)) / (2 * h), rtol=2e-6, err_msg=str(i))


def test_sum_method_gradients_against_finite_differences():
    # N = ⌈D*/δ⌉ is locally constant, so the sum is smooth in β_A (via s) and in d, β_H (via δ and F).
    f = jax.jit(lambda ba, bh, d: total_harm(0.6, d, ba, bh, method="sum"))
    args = (2.0, 0.7, 15.0)
    g = jax.grad(f, argnums=(0, 1, 2))(*args)
    for i, h in enumerate((1e-6, 1e-7, 1e-6)):
        up = [a + h if j == i else a for j, a in enumerate(args)]
        dn = [a - h if j == i else a for j, a in enumerate(args)]
        np.testing.assert_allclose(g[i], (f(*up) - f(*dn)) / (2 * h), rtol=1e-6)


# ----------------------------------------------------------------- transformations, dtypes, edges


def test_jit_vmap_broadcast():
    cs = jnp.array([0.3, 0.6, 0.9])
    d = jnp.array([[5.0], [50.0]])
    out = jax.jit(lambda c, dd: total_harm(c, dd, 2.0, 1.0))(cs, d)
    assert out.shape == (2, 3)
    v = jax.vmap(lambda c: total_harm(c, 50.0, 2.0, 1.0))(cs)
    np.testing.assert_allclose(out[1], v, rtol=1e-13)
    vs = jax.vmap(lambda b: harm_series(0.6, 5.0, b, 1.0, num_rounds=8).cumulative[-1])(jnp.array([1.5, 2.0, 4.0]))
    np.testing.assert_allclose(vs, [total_harm(0.6, 5.0, b, 1.0, method="sum") for b in (1.5, 2.0, 4.0)], rtol=1e-13)
    g = jax.jit(jax.grad(lambda D: per_round_harm(D, 5.0, 2.0, 1.0)))(1.0)
    fd = (per_round_harm(1.0 + 1e-6, 5.0, 2.0, 1.0) - per_round_harm(1.0 - 1e-6, 5.0, 2.0, 1.0)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_float32_stays_accurate():
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    for cs, d in ((0.5, 10.0), (0.99, 1e4), (1e-3, 1e6)):
        h32 = total_harm(f32(cs), f32(d), f32(2.0), f32(1.0))
        h64 = total_harm(cs, d, 2.0, 1.0)
        assert h32.dtype == jnp.float32
        np.testing.assert_allclose(h32, h64, rtol=2e-4)


def test_edges_finite_values_and_gradients():
    cs = jnp.array([1e-6, 0.9999, 0.5, 0.9999, 1e-6])
    d = jnp.array([2.0, 2.0, 1e6, 1e6, 1e6])
    for over in ("D", "sqrt_D"):
        f = lambda c, dd, b: total_harm(c, dd, b, 1.0, integrate_over=over)
        v = f(cs, d, 2.0)
        gs = jax.jit(jax.vmap(jax.grad(f, argnums=(0, 1, 2)), (0, 0, None)))(cs, d, 2.0)
        assert np.all(np.isfinite(v)) and np.all(v > 0)
        assert all(np.all(np.isfinite(x)) for x in gs), (over, gs)
    # Tiny c*: H ≈ (s/δ)·d·c*²/2 (F ≈ 1 while D* ≈ d c*²/2).
    np.testing.assert_allclose(total_harm(1e-6, 10.0, 4.0, 1.0), 10.0 * 1e-12 / 2, rtol=1e-5)
    # β_A = 0: no action, no harm, finite gradients (rectified and not).
    assert float(total_harm(0.5, 10.0, 0.0, 1.0)) == 0.0
    assert float(total_harm(0.5, 10.0, 0.0, rectify=False)) == 0.0
    assert np.isfinite(float(jax.grad(lambda b: total_harm(0.5, 10.0, b, 1.0))(0.0)))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="`d`"):
        total_harm(0.5, 1.5, 2.0, 1.0)
    with pytest.raises(ValueError, match="`beta_a`"):
        total_harm(0.5, 10.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="`beta_h`"):
        total_harm(0.5, 10.0, 1.0, -1.0)
    for cs in (0.0, 1.0, 1.5, -0.2, np.nan):
        with pytest.raises(ValueError, match="`c_star`"):
            total_harm(cs, 10.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="`beta_a`"):
        total_harm(0.5, 10.0, np.nan, 1.0)
    with pytest.raises(ValueError, match="`beta_h` is required"):
        total_harm(0.5, 10.0, 2.0)
    with pytest.raises(ValueError, match="never progresses"):
        total_harm(0.5, 10.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="`reading`"):
        total_harm(0.5, 10.0, 2.0, 1.0, reading="nonsense")
    with pytest.raises(ValueError, match="`threshold`"):
        total_harm(0.5, 10.0, 2.0, 1.0, threshold="step")
    with pytest.raises(ValueError, match="`information`"):
        total_harm(0.5, 10.0, 2.0, 1.0, information="fisher")
    with pytest.raises(ValueError, match="`measure`"):
        total_harm(0.5, 10.0, 2.0, 1.0, measure="l2")
    with pytest.raises(ValueError, match="`progress`"):
        total_harm(0.5, 10.0, 2.0, 1.0, integrate_over="logD")
    with pytest.raises(ValueError, match="`method`"):
        total_harm(0.5, 10.0, 2.0, 1.0, method="mc")
    with pytest.raises(ValueError, match="`functional`"):
        total_harm(0.5, 10.0, 2.0, 1.0, functional="max")
    with pytest.raises(ValueError, match="`num_rounds`"):
        harm_series(0.5, 10.0, 2.0, 1.0, num_rounds=0)
    jf = jax.jit(lambda c, d, b: total_harm(c, d, b, 1.0))
    with pytest.raises(Exception, match="`c_star`"):
        jf(1.2, 10.0, 2.0)
    with pytest.raises(Exception, match="`d`"):
        jf(0.5, 1.0, 2.0)
    with pytest.raises(Exception, match="`beta_a`"):
        jf(0.5, 10.0, -2.0)
