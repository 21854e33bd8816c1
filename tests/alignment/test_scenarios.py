"""The scenario engine against an independent NumPy/SciPy loop (Bessel ratios, Brent roots, a Brent root for
the tilt of the law), `total_harm(method="sum")`, closed forms, finite differences, and bad input.

All runs share one compiled loop (float64, max_rounds = 64, one reading) to keep the suite fast."""

import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sp

from sumjax.alignment import scenarios as S
from sumjax.alignment import total_harm
from sumjax.alignment.readings import FIRST_RECONSTRUCTION, SCALE_FREE_KL, SCALE_FREE_SQRT_KL

MAXR = 64
C, D, BA, BH = 0.8, 12.0, 2.0, 1.0  # reference point: D*(0.8, 12) ≈ 5.87, δ = 1, N = 6


# ----------------------------------------------------------------- independent reference (SciPy)


def A(k, d):
    return sp.ive(d / 2, k) / sp.ive(d / 2 - 1, k) if k > 0 else 0.0


def KL(k, d):
    if k == 0:
        return 0.0
    nu = d / 2 - 1
    return k * A(k, d) - (sp.gammaln(d / 2) + nu * np.log(2 / k) + np.log(sp.ive(nu, k)) + k)


def kappa_of(D, d):
    return 0.0 if D == 0 else so.brentq(lambda k: KL(k, d) - D, 1e-12, 1e6, xtol=1e-14, rtol=1e-15)


def dstar(c, d):
    return KL(so.brentq(lambda k: A(k, d) - c, 1e-12, 1e6, xtol=1e-14, rtol=1e-15), d)


def scale(ba, bh, reading):
    if reading is SCALE_FREE_KL:
        return max(ba - bh, 0.0)
    return max(np.sqrt(ba) - np.sqrt(bh), 0.0)


def ref_loop(c, d, ba, bh, reading=FIRST_RECONSTRUCTION, *, growth=0.0, repeats=1.0, coverage=1.0, beta_s=0.0,
             sandbox_rounds=0, rho=0.0, deployment=0.0, d_after=0.0, turn_round=-1, lam=0.0, k_frag=1.0, cap=True):
    """The reconstructed loop written out in NumPy/SciPy (progress in D)."""
    d = k_frag * (d - 3) + 3
    d0 = d
    Dstar = dstar(c, d0)
    Db = 0.0
    k = np.zeros(2)
    H, n_rounds = 0.0, 0
    for n in range(10_000):
        if n == turn_round and d_after > d:
            kap = np.linalg.norm(k)
            psi = np.arccos(np.sqrt(d / d_after))
            ang = np.arctan2(k[1], k[0]) + psi
            k = kap * np.array([np.cos(ang), np.sin(ang)])
            d = d_after
            Db = KL(kap, d)
        kap = np.linalg.norm(k)
        cos_t = k[0] / kap if kap > 0 else 1.0
        mean = A(kap, d) * cos_t
        straight = (kap == 0 or k[1] == 0) and d == d0
        if (Db >= Dstar) if straight else (mean >= c):
            break
        n_rounds += 1
        b = ba * (1 + growth) ** n
        sandbox = n < sandbox_rounds
        if not sandbox:
            H += (1 - rho) * scale(b, bh, reading) * (1 - mean + lam * np.sqrt(b / 2))
        delta = min(repeats * b, bh) if cap else repeats * b
        dt_true = beta_s if sandbox else (1 - rho) * delta
        Db += beta_s if sandbox else delta
        u = np.array([np.sqrt(coverage), np.sqrt(1 - coverage)]) if sandbox else np.array([1.0, 0.0])
        k_u = max(float(k @ u), 0.0)
        k = k + (kappa_of(KL(k_u, d) + dt_true, d) - k_u) * u  # tilt exp(t·u·a): the component along u gains δ
    kap = np.linalg.norm(k)
    mean = A(kap, d) * (k[0] / kap if kap > 0 else 1.0)
    b = ba * (1 + growth) ** n_rounds
    return H + deployment * scale(b, bh, reading) * (1 - mean + lam * np.sqrt(b / 2)), n_rounds, mean


def run(scn, c=C, d=D, ba=BA, bh=BH, reading=FIRST_RECONSTRUCTION, **kw):
    return S.scenario_harm(scn, c, d, ba, bh, reading=reading, max_rounds=MAXR, **kw)


# ----------------------------------------------------------------- baseline


def _legacy(reading):
    return {"integrate_over": "sqrt_D"} if reading is SCALE_FREE_SQRT_KL else {}


@pytest.mark.parametrize("reading", [FIRST_RECONSTRUCTION, SCALE_FREE_SQRT_KL])
def test_baseline_is_total_harm_sum(reading):
    has_reading = "reading" in inspect.signature(total_harm).parameters
    for c, d, ba, bh in [(0.8, 12.0, 2.0, 1.0), (0.7, 30.0, 3.3, 0.9), (0.9, 5.5, 1.7, 0.6)]:
        out = run(S.Baseline(), c, d, ba, bh, reading=reading)
        opts = {"reading": reading} if has_reading else _legacy(reading)
        ref = total_harm(c, d, ba, bh, method="sum", **opts)
        np.testing.assert_allclose(out.total, ref, rtol=1e-12)
        assert bool(out.aligned)


def test_baseline_against_scipy_loop_default_reading():
    for c, d, ba, bh in [(0.8, 12.0, 2.0, 1.0), (0.85, 20.0, 1.4, 0.7)]:
        out = run(S.Baseline(), c, d, ba, bh, reading=SCALE_FREE_KL)
        H, N, mean = ref_loop(c, d, ba, bh, SCALE_FREE_KL)
        np.testing.assert_allclose(out.total, H, rtol=1e-10)
        assert int(out.rounds) == N and float(out.final_mean) >= c


# ----------------------------------------------------------------- effects off = baseline


OFF = [S.Sandbox(0.3, 0.7, 0), S.Repeats(1.0), S.PowerGrowth(0.0), S.PowerGrowth(0.0, "linear"),
       S.Deception(0.0, 0.0), S.LeftTurn(D, 2), S.LeftTurn(40.0, 1000), S.Goodharting(0.0, 0.0), S.Fragility(1.0)]


@pytest.mark.parametrize("scn", OFF, ids=lambda s: type(s).__name__)
def test_effect_off_is_baseline(scn):
    base = run(S.Baseline())
    out = run(scn)
    np.testing.assert_allclose(out.total, base.total, rtol=1e-14)
    np.testing.assert_allclose(out.harm, base.harm, rtol=1e-14, atol=0)
    assert float(out.rounds) == float(base.rounds)


# ----------------------------------------------------------------- each scenario against the reference loop


CASES = [
    ("sandbox", S.Sandbox(0.6, 0.8, 4), dict(coverage=0.6, beta_s=0.8, sandbox_rounds=4)),
    ("sandbox_orthogonal", S.Sandbox(0.1, 0.5, 3), dict(coverage=0.1, beta_s=0.5, sandbox_rounds=3)),
    ("repeats_uncapped", S.Repeats(2.5), dict(repeats=2.5, cap=False)),
    ("growth", S.PowerGrowth(0.07), dict(growth=0.07)),
    ("deception", S.Deception(0.35, 7.5), dict(rho=0.35, deployment=7.5)),
    ("left_turn", S.LeftTurn(30.0, 3), dict(d_after=30.0, turn_round=3)),
    ("goodharting", S.Goodharting(0.3, 4.0), dict(lam=0.3, deployment=4.0)),
    ("fragility", S.Fragility(1.7), dict(k_frag=1.7)),
]


@pytest.mark.parametrize("name,scn,kw", CASES, ids=[c[0] for c in CASES])
def test_scenario_against_reference_loop(name, scn, kw):
    cap = kw.pop("cap", True)
    out = run(scn, cap_delta=cap, rectify=True) if not cap else run(scn)
    H, N, mean = ref_loop(C, D, BA, BH, cap=cap, **kw)
    np.testing.assert_allclose(out.total, H, rtol=1e-9)
    assert int(out.rounds) == N
    np.testing.assert_allclose(out.final_mean, mean, rtol=1e-9)


def test_sandbox_full_coverage_is_harmless_and_caps_mean():
    # coverage 1 with enough sandbox divergence aligns in the sandbox: zero harm
    out = run(S.Sandbox(1.0, 1.0, 10))
    assert float(out.total) == 0.0 and bool(out.aligned)
    # a sandbox alone caps E[c] at cos φ: E[c]_n = A_d(κ(nβ_S))·√q during the sandbox rounds
    q, bs = 0.5, 2.0
    out = run(S.Sandbox(q, bs, 40), c=0.705)
    assert 5 < int(out.rounds) < 40
    for n in range(1, int(out.rounds)):
        np.testing.assert_allclose(out.mean[n], A(kappa_of(n * bs, D), D) * np.sqrt(q), rtol=1e-10)
    assert np.all(np.asarray(out.mean) < np.sqrt(q))
    assert float(out.total) == 0.0  # c* = 0.705 < cos φ ≈ 0.7071 is reached in the sandbox


def test_repeats_beta_h_binds_with_the_cap():
    # with the cap and β_A ≥ β_H, δ = β_H whatever R: extra information changes nothing
    base = run(S.Baseline())
    for R in (2.0, 7.0):
        np.testing.assert_allclose(run(S.Repeats(R)).total, base.total, rtol=1e-14)
    # below the threshold (β_A < β_H) H = 0 with or without repeats: the threshold does not move
    assert float(run(S.Repeats(5.0), ba=0.8).total) == 0.0
    # harmful replays multiply the harm by R
    np.testing.assert_allclose(run(S.Repeats(3.0, harmful=True)).total, 3 * base.total, rtol=1e-14)


def test_power_growth_onset_closed_form():
    """β₀ < β_H: harmless iff the rounds before β_A,m > β_H already align (Σ_{n<m} β_n ≥ D*)."""
    b0, bh, c, d = 0.3, 1.0, 0.8, 12.0
    Ds = dstar(c, d)
    for g in (0.02, 0.08, 0.15, 0.3, 0.6):
        m = int(np.floor(np.log(bh / b0) / np.log1p(g))) + 1
        harmless = sum(b0 * (1 + g) ** n for n in range(m)) >= Ds
        H = float(run(S.PowerGrowth(g), c=c, d=d, ba=b0, bh=bh).total)
        assert (H == 0.0) == harmless, (g, H, harmless)


def test_deception_rho_zero_and_deployment():
    base = run(S.Baseline())
    H, N, mean = ref_loop(C, D, BA, BH, deployment=10.0)
    out = run(S.Deception(0.0, 10.0))
    np.testing.assert_allclose(out.total, H, rtol=1e-10)
    np.testing.assert_allclose(out.training, base.total, rtol=1e-14)
    # ρ = 1: the true law never moves, E[c] stays 0, training takes the same N rounds
    out = run(S.Deception(1.0, 3.0))
    assert float(out.final_mean) == 0.0 and float(out.rounds) == float(base.rounds)
    np.testing.assert_allclose(out.total, 3.0 * (np.sqrt(BA) - np.sqrt(BH)), rtol=1e-14)


def test_left_turn_drops_mean_by_sqrt_ratio():
    out = run(S.LeftTurn(48.0, 2))
    base = run(S.Baseline())
    kap = kappa_of(2.0, D)  # after rounds 0, 1: D = 2δ = 2
    np.testing.assert_allclose(out.mean[2], A(kap, 48.0) * np.sqrt(D / 48.0), rtol=1e-10)
    assert float(out.rounds) > float(base.rounds) and float(out.total) > float(base.total)


def test_goodharting_thresholds_against_tilt():
    """β_zero = 2c²/λ² where the KL-optimal push (sumjax.tilt) turns the concave U_H's gain negative."""
    from sumjax import GaussianWorld, LinearUtility, QuadraticUtility, tilt

    d, lam, c = 3, 0.4, 0.7
    h = jnp.array([1.0, 0.0, 0.0])
    a = jnp.array([c, np.sqrt(1 - c * c), 0.0])
    U = QuadraticUtility(lam * jnp.eye(d), h)
    world = GaussianWorld.isotropic(d)

    def gain(beta):
        w = tilt(world, LinearUtility(a), beta).world
        mu, cov = w.mean, w.cov
        return float(h @ mu - 0.5 * lam * (jnp.trace(cov) + mu @ mu) + 0.5 * lam * d)

    root = so.brentq(gain, 1.0, 100.0, xtol=1e-12)
    np.testing.assert_allclose(root, float(S.zero_gain_power(c, lam)), rtol=1e-9)
    np.testing.assert_allclose(gain(2.0), float(S.net_human_gain(c, 2.0, lam)), rtol=1e-12)
    peak = so.minimize_scalar(lambda b: -gain(b), bounds=(0.01, root), method="bounded", options={"xatol": 1e-10}).x
    np.testing.assert_allclose(peak, float(S.peak_gain_power(c, lam)), rtol=1e-5)
    # λ → 0: the baseline, continuously
    base = float(run(S.Baseline()).total)
    np.testing.assert_allclose(float(run(S.Goodharting(1e-9)).total), base, rtol=1e-8)


def test_fragility_is_the_loop_in_the_narrowed_dimension():
    k = 2.0
    out = run(S.Fragility(k))
    ref = total_harm(C, k * (D - 3) + 3, BA, BH, method="sum", reading=FIRST_RECONSTRUCTION)
    np.testing.assert_allclose(out.total, ref, rtol=1e-12)


# ----------------------------------------------------------------- gradients vs finite differences


GRAD_POINTS = [
    (S.Sandbox(0.6, 0.8, 4), ("coverage", "beta_s")),
    (S.Repeats(2.5, harmful=True), ("repeats",)),
    (S.PowerGrowth(0.07), ("growth",)),
    (S.Deception(0.35, 7.5), ("rho", "deployment")),
    (S.LeftTurn(30.0, 3), ("d_after",)),
    (S.Goodharting(0.3, 4.0), ("lam", "deployment")),
    (S.Fragility(1.7), ("k_frag",)),
]


@eqx.filter_jit
def _grad(e, d, ba, bh):
    return jax.grad(lambda e, d, ba, bh: S.simulate(e, C, d, ba, bh, reading=FIRST_RECONSTRUCTION, max_rounds=MAXR).total,
                    argnums=(0, 1, 2, 3))(e, d, ba, bh)


def _total(e, d=D, ba=BA, bh=BH):
    return float(S.simulate(e, C, d, ba, bh, reading=FIRST_RECONSTRUCTION, max_rounds=MAXR).total)


@pytest.mark.parametrize("scn,names", GRAD_POINTS, ids=lambda x: type(x).__name__ if isinstance(x, S.Scenario) else "")
def test_gradients_match_finite_differences(scn, names):
    e = scn.effects()
    ge, gd, gba, gbh = _grad(e, jnp.float64(D), jnp.float64(BA), jnp.float64(BH))
    for name in names:
        x0 = float(getattr(e, name))
        h = 1e-6 * max(1.0, abs(x0))
        plus = _total(eqx.tree_at(lambda t: getattr(t, name), e, jnp.float64(x0 + h)))
        minus = _total(eqx.tree_at(lambda t: getattr(t, name), e, jnp.float64(x0 - h)))
        fd = (plus - minus) / (2 * h)
        assert abs(fd) > 1e-6, f"{name}: flat point, pick another"
        np.testing.assert_allclose(float(getattr(ge, name)), fd, rtol=2e-5, err_msg=name)
    for val, (dd, ba, bh) in ((gd, (1, 0, 0)), (gba, (0, 1, 0)), (gbh, (0, 0, 1))):
        h = 1e-6
        fd = (_total(e, D + h * dd, BA + h * ba, BH + h * bh) - _total(e, D - h * dd, BA - h * ba, BH - h * bh)) / (2 * h)
        np.testing.assert_allclose(float(val), fd, rtol=2e-5, atol=1e-7)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(ge))


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("make,name", [
    (lambda: S.Deception(1.5), "rho"), (lambda: S.Deception(-0.1), "rho"), (lambda: S.Deception(0.2, -1.0), "deployment"),
    (lambda: S.LeftTurn(6.0, 2), "d_after"), (lambda: S.LeftTurn(20.0, -1), "turn_round"),
    (lambda: S.PowerGrowth(-0.1), "growth"), (lambda: S.Repeats(0.5), "repeats"),
    (lambda: S.Sandbox(1.2, 1.0, 2), "coverage"), (lambda: S.Sandbox(0.5, -1.0, 2), "beta_s"),
    (lambda: S.Sandbox(0.5, 1.0, -2), "rounds"), (lambda: S.Goodharting(-0.1), "lam"),
    (lambda: S.Fragility(0.0), "k"), (lambda: S.Fragility(-3.0), "k"),
])
def test_bad_parameters_are_named(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        run(make())


def test_round_cap():
    with pytest.raises(ValueError, match="max_rounds"):  # eager lower bound, before any work
        S.scenario_harm(S.Baseline(), 0.99, 100.0, 0.5, 1.0, reading=FIRST_RECONSTRUCTION, max_rounds=MAXR)
    with pytest.raises(ValueError, match="max_rounds"):  # δ = 0: never aligned
        run(S.Baseline(), bh=0.0)
    with pytest.raises(ValueError, match="max_rounds"):  # only found by running: a long orthogonal sandbox
        run(S.Sandbox(0.0, 0.5, 64))
    traced = jax.jit(lambda bh: S.scenario_harm(S.Sandbox(0.0, 0.5, 64), C, D, BA, bh, reading=FIRST_RECONSTRUCTION,
                                                max_rounds=MAXR).total)
    with pytest.raises(Exception, match="max_rounds"):
        jax.block_until_ready(traced(jnp.float64(BH)))
    with pytest.raises(ValueError, match="max_rounds"):
        S.scenario_harm(S.Baseline(), C, D, BA, BH, max_rounds=0)
    with pytest.raises(ValueError, match="c_star"):
        run(S.Baseline(), c=1.0)


# ----------------------------------------------------------------- information per round (repeats, "mutual")


def _vmf3(rng, kappa, n):
    """a ~ vMF(e₁, κ) on S² by inverting the cosine's CDF (closed form in d = 3)."""
    u = rng.random(n)
    c = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa
    phi = rng.random(n) * 2 * np.pi
    r = np.sqrt(np.maximum(1 - c * c, 0))
    return np.stack([c, r * np.cos(phi), r * np.sin(phi)], -1)


@pytest.mark.parametrize("R", [1, 3])
def test_mutual_information_against_nested_monte_carlo(R):
    """I(a; x̄), x̄ = √(2β)a + mean of R noises, against nested MC (outer 4000, inner 4000; the inner log-mean
    biases the estimate up by O(1/M); tolerance 4 standard errors + 0.01)."""
    from sumjax.alignment.information import _mutual_information as mutual_information

    rng = np.random.default_rng(R)
    kappa, beta, n = 2.0, 0.7, 4000
    s = np.sqrt(2 * beta)
    a = _vmf3(rng, kappa, n)
    x = s * a + rng.standard_normal((n, 3)) / np.sqrt(R)
    a_in = _vmf3(rng, kappa, n)
    logp_cond = -0.5 * R * np.sum((x - s * a) ** 2, -1)
    quad = -0.5 * R * (np.sum(x**2, -1)[:, None] - 2 * s * x @ a_in.T + s * s)  # |a'| = 1
    logp = np.logaddexp.reduce(quad, axis=1) - np.log(n)
    samples = logp_cond - logp
    est, se = samples.mean(), samples.std() / np.sqrt(n)
    got = float(mutual_information(jnp.float64(kappa), jnp.float64(3.0), jnp.float64(R * beta)))
    assert abs(got - est) < 4 * se + 0.01, (got, est, se)
    assert 0 < got < R * beta


def test_repeats_one_is_one_observation_under_mutual_information():
    """information="mutual": R = 1 credits I(a; x) of one observation; R repeats the information of power R·β_A."""
    from sumjax.alignment.readings import Reading
    from sumjax.alignment.information import _mutual_information as mutual_information

    rd = Reading("sqrt_kl", "D", "relu_sqrt", information="mutual", name="first_mutual")
    c, d, ba, bh = 0.6, 6.0, 0.6, 0.5  # β_A > β_H, uncapped: δ = I(a; x)
    for R in (1.0, 2.0):
        out = S.scenario_harm(S.Repeats(R), c, d, ba, bh, reading=rd, cap_delta=False, max_rounds=MAXR)
        Ds, Dn, H, n = dstar(c, d), 0.0, 0.0, 0
        while Dn < Ds:
            kap = kappa_of(Dn, d)
            H += (np.sqrt(ba) - np.sqrt(bh)) * (1 - A(kap, d))
            Dn += float(mutual_information(jnp.float64(kap), jnp.float64(d), jnp.float64(R * ba)))
            n += 1
        np.testing.assert_allclose(out.total, H, rtol=1e-9)
        assert int(out.rounds) == n
