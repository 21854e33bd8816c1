"""The KL-bounded tilt against independent computations (NumPy/SciPy, closed forms,
fine discretisations, finite differences) and its properties (hypothesis)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.special import logsumexp as np_logsumexp
from scipy.stats import entropy as scipy_kl

import sumjax as sj
from sumjax.tilt import tilt_kl

N = 6  # fixed discrete size: one compilation serves every hypothesis example
RUNTIME = (RuntimeError, ValueError)


# ----------------------------------------------------------------------------- independent references


def np_discrete_tilt(p, u, beta):
    """k from scipy.optimize.brentq on KL(k) = β, computed in NumPy/SciPy only."""
    p, u = np.asarray(p, float), np.asarray(u, float)
    logp = np.log(p)

    def tilted(k):
        lw = logp + k * u
        return np.exp(lw - np_logsumexp(lw))

    def f(k):
        return scipy_kl(tilted(k), p) - beta

    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    k = brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-14)
    return k, tilted(k)


def np_gauss_kl(m0, S0, m1, S1):
    d = len(m0)
    S1i = np.linalg.inv(S1)
    dm = m1 - m0
    return 0.5 * (np.trace(S1i @ S0) + dm @ S1i @ dm - d + np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1])


def np_quadratic_tilt(mu, S, A, b, beta):
    """Spec formula (precision Σ⁻¹+kA, mean (Σ⁻¹+kA)⁻¹(Σ⁻¹μ+kb)), k by brentq on the NumPy KL."""
    Si = np.linalg.inv(S)
    As = 0.5 * (A + A.T)

    def world(k):
        prec = Si + k * As
        cov = np.linalg.inv(prec)
        return cov @ (Si @ mu + k * b), cov

    def f(k):
        m, c = world(k)
        return np_gauss_kl(m, c, mu, S) - beta

    ev = np.linalg.eigvalsh(np.linalg.cholesky(S).T @ As @ np.linalg.cholesky(S))
    limit = -1 / ev.min() if ev.min() < 0 else np.inf
    hi = 1.0 if np.isinf(limit) else limit * (1 - 1e-12)
    while np.isinf(limit) and f(hi) < 0:
        hi *= 2
    k = brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-14)
    return (k, *world(k))


# ----------------------------------------------------------------------------- jitted kernels (compiled once)


@jax.jit
def discrete_tilt(log_probs, values, beta):
    r = sj.tilt(sj.DiscreteWorld(log_probs), sj.TabularUtility(values), beta)
    return r.world.probs, r.multiplier, r.kl, r.gain, r.saturated


@jax.jit
def particle_tilt(samples, log_weights, u, beta):
    r = sj.tilt(sj.ParticleWorld(samples, log_weights), sj.LinearUtility(u), beta)
    return r.world.weights, r.multiplier, r.kl, r.gain, r.saturated


@jax.jit
def quad_tilt(mu, L, A, b, beta):
    r = sj.tilt(sj.GaussianWorld(mu, L), sj.QuadraticUtility(A, b), beta)
    return r.world.mean, r.world.cov, r.multiplier, r.kl, r.gain


@jax.jit
def lin_tilt(mu, L, u, beta):
    r = sj.tilt(sj.GaussianWorld(mu, L), sj.LinearUtility(u), beta)
    return r.world.mean, r.world.chol, r.multiplier, r.kl, r.gain


def disc_obj(lp, v, b):
    probs, k, kl, gain, sat = discrete_tilt(lp, v, b)
    return gain + 0.3 * jnp.where(sat, 0.0, k) + probs[2]


def quad_obj(mu, L, A, b, beta):
    mean, cov, k, kl, gain = quad_tilt(mu, L, A, b, beta)
    return gain + mean[1] + k + cov[0, 1]


def lin_obj(mu, L, u, beta):
    mean, chol, k, kl, gain = lin_tilt(mu, L, u, beta)
    return gain + mean[0] + k


disc_grads = jax.jit(jax.grad(disc_obj, argnums=(0, 1, 2)))
quad_grads = jax.jit(jax.grad(quad_obj, argnums=(0, 1, 2, 3, 4)))
lin_grads = jax.jit(jax.grad(lin_obj, argnums=(0, 1, 2, 3)))


def finite(tree):
    return all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(tree))


probs_st = st.lists(st.floats(0.02, 1.0), min_size=N, max_size=N).map(lambda x: np.array(x) / np.sum(x))
values_st = st.lists(st.floats(-3.0, 3.0), min_size=N, max_size=N).map(np.array)


# ----------------------------------------------------------------------------- discrete worlds


@given(probs_st, values_st, st.floats(1e-4, 0.95))
def test_discrete_matches_scipy_brentq(p, u, frac):
    """k, P' and KL against SciPy's brentq on the same equation; β a fraction of the max KL."""
    kl_max = -np.log(p[u == u.max()].sum())
    if u.max() - u.min() < 1e-3:
        return
    beta = frac * kl_max
    probs, k, kl, gain, sat = discrete_tilt(jnp.log(p), u, beta)
    k_ref, p_ref = np_discrete_tilt(p, u, beta)
    assert not bool(sat)
    np.testing.assert_allclose(float(k), k_ref, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(probs), p_ref, rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(float(kl), beta, rtol=1e-9)
    np.testing.assert_allclose(scipy_kl(np.asarray(probs), p), beta, rtol=1e-7)
    np.testing.assert_allclose(float(gain), p_ref @ u - p @ u, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("beta", [1e-5, 1e-3, 0.1, 0.5])
def test_discrete_float32_accuracy(beta):
    p = np.array([0.1, 0.2, 0.05, 0.3, 0.15, 0.2])
    u = np.array([0.3, -1.0, 2.0, 0.5, 1.1, -0.2])
    r = sj.tilt(sj.DiscreteWorld.from_probs(jnp.asarray(p, jnp.float32)), sj.TabularUtility(jnp.asarray(u, jnp.float32)), beta)
    assert r.world.log_probs.dtype == jnp.float32 and r.kl.dtype == jnp.float32
    k_ref, p_ref = np_discrete_tilt(p, u, beta)
    np.testing.assert_allclose(float(r.kl), beta, rtol=2e-5)
    np.testing.assert_allclose(float(r.multiplier), k_ref, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(r.world.probs), p_ref, rtol=1e-5)
    np.testing.assert_allclose(float(r.gain), p_ref @ u - p @ u, rtol=1e-4)


@given(probs_st, values_st, st.floats(0.01, 0.9), st.integers(0, 2**31 - 1))
def test_discrete_optimality_against_perturbations(p, u, frac, seed):
    """No P'' with KL(P''‖P) ≤ β has larger expected utility than the tilt (random perturbations)."""
    if u.max() - u.min() < 1e-2:
        return
    beta = frac * -np.log(p[u == u.max()].sum())
    probs, *_ = discrete_tilt(jnp.log(p), u, beta)
    probs = np.asarray(probs)
    best = probs @ u
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(400, N))
    t = rng.uniform(0.0, 1.0, size=(400, 1))
    cand = np.log(probs) + t * z
    cand = np.exp(cand - np_logsumexp(cand, axis=1, keepdims=True))
    cand = np.concatenate([cand, 0.5 * cand + 0.5 * p])  # mixtures towards P stay feasible more often
    kls = np.array([scipy_kl(c, p) for c in cand])
    feasible = kls <= beta
    assert np.all(cand[feasible] @ u <= best + 1e-10)


def test_saturation_conditions_on_argmax_set_with_ties():
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.05, 0.2])
    u = np.array([1.0, 3.0, 0.0, 3.0, -1.0, 2.0])  # argmax set {1, 3}, mass 0.35
    kl_max = -np.log(0.35)
    for beta in [kl_max, kl_max + 1.0]:
        probs, k, kl, gain, sat = discrete_tilt(jnp.log(p), u, beta)
        assert bool(sat) and np.isinf(float(k))
        np.testing.assert_allclose(np.asarray(probs), [0, 0.2 / 0.35, 0, 0.15 / 0.35, 0, 0], atol=1e-15)
        np.testing.assert_allclose(float(kl), kl_max, rtol=1e-14)
        np.testing.assert_allclose(float(gain), 3.0 - p @ u, rtol=1e-14)
    # just below saturation: finite k, KL = β, still no NaN
    probs, k, kl, gain, sat = discrete_tilt(jnp.log(p), u, kl_max * (1 - 1e-9))
    assert not bool(sat) and np.isfinite(float(k)) and float(k) > 10
    np.testing.assert_allclose(float(kl), kl_max * (1 - 1e-9), rtol=1e-12)
    # gradients in the saturated regime are finite
    assert finite(disc_grads(jnp.log(p), u, kl_max + 0.5))


def test_zero_power_and_constant_utility_leave_world_unchanged():
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.05, 0.2])
    u = np.array([1.0, 3.0, 0.0, 3.0, -1.0, 2.0])
    probs, k, kl, gain, sat = discrete_tilt(jnp.log(p), u, 0.0)
    np.testing.assert_allclose(np.asarray(probs), p, rtol=1e-14)
    assert float(k) == 0 and float(kl) == 0 and float(gain) == 0 and not bool(sat)
    probs, k, kl, gain, sat = discrete_tilt(jnp.log(p), np.full(N, 2.5), 0.7)
    np.testing.assert_allclose(np.asarray(probs), p, rtol=1e-14)
    assert float(k) == 0 and float(kl) == 0 and float(gain) == 0 and bool(sat)
    # finite gradients at β = 0 and for constant U (w.r.t. power, log-probs, values)
    assert finite(disc_grads(jnp.log(p), u, 0.0))
    assert finite(disc_grads(jnp.log(p), np.full(N, 2.5), 0.7))
    # Gaussian: u = 0 and β = 0
    mu, L = np.zeros(2), np.eye(2)
    for uu, b in [(np.zeros(2), 0.3), (np.array([1.0, 2.0]), 0.0)]:
        mean, chol, k, kl, gain = lin_tilt(mu, L, uu, b)
        np.testing.assert_array_equal(np.asarray(mean), mu)
        assert float(k) == 0 and float(gain) == 0
        assert finite(lin_grads(mu, L, uu, b))
    for A, b, beta in [(np.zeros((2, 2)), np.zeros(2), 0.4), (np.zeros((2, 2)), np.zeros(2), 0.0), (np.eye(2), np.ones(2), 0.0)]:
        mean, cov, k, kl, gain = quad_tilt(mu, L, A, b, beta)
        np.testing.assert_allclose(np.asarray(cov), np.eye(2), atol=1e-15)
        assert float(k) == 0
        assert finite(quad_grads(mu, L, A, b, beta))


# ----------------------------------------------------------------------------- invariance U → aU + b


@given(probs_st, values_st, st.floats(0.05, 20.0), st.floats(-5.0, 5.0), st.floats(0.01, 0.9))
def test_affine_invariance_discrete_and_particle(p, u, a, c, frac):
    if u.max() - u.min() < 1e-2:
        return
    beta = frac * -np.log(p[u == u.max()].sum())
    probs1, k1, *_ = discrete_tilt(jnp.log(p), u, beta)
    probs2, k2, *_ = discrete_tilt(jnp.log(p), a * u + c, beta)
    np.testing.assert_allclose(np.asarray(probs2), np.asarray(probs1), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(float(k2), float(k1) / a, rtol=1e-8)
    # particle world: samples are the values themselves (1-D states), linear U
    x = u[:, None]
    w1, k1, *_ = particle_tilt(x, jnp.log(p), np.array([1.0]), beta)
    w2, k2, *_ = particle_tilt(a * x + c, jnp.log(p), np.array([1.0]), beta)
    np.testing.assert_allclose(np.asarray(w2), np.asarray(w1), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(float(k2), float(k1) / a, rtol=1e-8)


@given(st.floats(0.05, 20.0), st.floats(-5.0, 5.0), st.floats(0.01, 3.0))
def test_affine_invariance_gaussian(a, c, beta):
    mu, L = np.array([0.3, -0.2]), np.array([[1.0, 0.0], [0.4, 0.7]])
    A, b = np.array([[1.0, 0.3], [0.3, -0.2]]), np.array([0.5, 1.0])
    m1, c1, k1, *_ = quad_tilt(mu, L, A, b, beta)
    m2, c2, k2, *_ = quad_tilt(mu, L, a * A, a * b, beta)  # offset c is irrelevant by construction
    np.testing.assert_allclose(np.asarray(m2), np.asarray(m1), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(c1), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(float(k2), float(k1) / a, rtol=1e-8)
    u = np.array([0.7, -1.2])
    m1, _, k1, *_ = lin_tilt(mu, L, u, beta)
    r = sj.tilt(sj.GaussianWorld(mu, L), sj.LinearUtility(a * u, c), beta)
    np.testing.assert_allclose(np.asarray(r.world.mean), np.asarray(m1), rtol=1e-12)
    np.testing.assert_allclose(float(r.multiplier), float(k1) / a, rtol=1e-12)


# ----------------------------------------------------------------------------- Gaussian worlds


@pytest.mark.parametrize("dtype,rtol", [(jnp.float64, 1e-12), (jnp.float32, 2e-5)])
def test_gaussian_linear_closed_form(dtype, rtol):
    mu = np.array([0.5, -1.0, 2.0])
    L = np.array([[1.0, 0, 0], [0.3, 0.8, 0], [-0.2, 0.1, 1.5]])
    u = np.array([1.0, -0.5, 0.25])
    S = L @ L.T
    beta = 0.37
    r = sj.tilt(sj.GaussianWorld(jnp.asarray(mu, dtype), jnp.asarray(L, dtype)), sj.LinearUtility(jnp.asarray(u, dtype)), beta)
    assert r.world.mean.dtype == dtype
    q = u @ S @ u
    k = np.sqrt(2 * beta / q)
    np.testing.assert_allclose(float(r.multiplier), k, rtol=rtol)
    np.testing.assert_allclose(np.asarray(r.world.mean), mu + k * S @ u, rtol=rtol)
    np.testing.assert_allclose(float(r.gain), np.sqrt(2 * beta * q), rtol=rtol)
    np.testing.assert_allclose(np_gauss_kl(np.asarray(r.world.mean, float), S, mu, S), beta, rtol=10 * rtol)


def test_gaussian_linear_against_fine_discretisation():
    """1-D N(μ, σ²) on a fine grid, tilted by the generic reweighting: same k, mean and gain."""
    mu, sigma, u, beta = 0.4, 1.3, 0.8, 0.6
    x = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 20001)
    lp = -0.5 * ((x - mu) / sigma) ** 2
    r = sj.tilt(sj.DiscreteWorld.from_logits(lp), sj.TabularUtility(u * x), beta)
    k = np.sqrt(2 * beta / (u * u * sigma**2))
    np.testing.assert_allclose(float(r.multiplier), k, rtol=1e-9)
    np.testing.assert_allclose(float(r.world.probs @ x), mu + k * sigma**2 * u, rtol=1e-9)
    np.testing.assert_allclose(float(r.gain), np.sqrt(2 * beta) * abs(u) * sigma, rtol=1e-9)
    # and the same world as a Monte Carlo particle world (error ~ 1/√n; bound 6σ of the estimator)
    xs = jax.random.normal(jax.random.key(0), (20000, 1)) * sigma + mu
    rp = sj.tilt(sj.ParticleWorld.from_samples(xs), sj.LinearUtility(jnp.array([u])), beta)
    np.testing.assert_allclose(float(rp.kl), beta, rtol=1e-10)
    assert abs(float(rp.multiplier) - k) < 6 * k / np.sqrt(20000) * 3


def test_gaussian_quadratic_against_numerical_integration():
    """1-D: grid quadrature of P·e^{kU} for U = −½ax² + bx gives the same k, mean, variance."""
    mu, sigma, a, b, beta = 0.2, 0.9, 0.7, 0.4, 0.8
    x = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 20001)  # same shape as above: one compiled program
    lp = -0.5 * ((x - mu) / sigma) ** 2
    r_grid = sj.tilt(sj.DiscreteWorld.from_logits(lp), sj.TabularUtility(-0.5 * a * x**2 + b * x), beta)
    mean, cov, k, kl, gain = quad_tilt(np.array([mu]), np.array([[sigma]]), np.array([[a]]), np.array([b]), beta)
    pg = np.asarray(r_grid.world.probs)
    mg = pg @ x
    np.testing.assert_allclose(float(k), float(r_grid.multiplier), rtol=1e-8)
    np.testing.assert_allclose(float(mean[0]), mg, rtol=1e-8)
    np.testing.assert_allclose(float(cov[0, 0]), pg @ (x - mg) ** 2, rtol=1e-8)
    np.testing.assert_allclose(float(gain), float(r_grid.gain), rtol=1e-8)


@given(st.integers(0, 2**31 - 1), st.floats(0.01, 5.0), st.booleans())
def test_gaussian_quadratic_matches_spec_formula_and_brentq(seed, beta, indefinite):
    rng = np.random.default_rng(seed)
    d = 3
    mu = rng.normal(size=d)
    L = np.tril(rng.normal(size=(d, d)) * 0.4) + np.diag(rng.uniform(0.5, 1.5, d))
    Q = rng.normal(size=(d, d))
    A = Q @ Q.T / d + (-0.8 * np.eye(d) * rng.uniform(0.2, 1.0) if indefinite else 0.0)
    b = rng.normal(size=d)
    k_ref, m_ref, c_ref = np_quadratic_tilt(mu, L @ L.T, A, b, beta)
    mean, cov, k, kl, gain = quad_tilt(mu, L, A, b, beta)
    np.testing.assert_allclose(float(k), k_ref, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(mean), m_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(cov), c_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(float(kl), beta, rtol=1e-9)
    np.testing.assert_allclose(np_gauss_kl(np.asarray(mean), np.asarray(cov), mu, L @ L.T), beta, rtol=1e-7)
    # gain = E'[U] − E[U] in NumPy
    eu = lambda m, C: -0.5 * (np.trace(A @ C) + m @ A @ m) + b @ m  # noqa: E731
    np.testing.assert_allclose(float(gain), eu(m_ref, c_ref) - eu(mu, L @ L.T), rtol=1e-6, atol=1e-9)


def test_gaussian_quadratic_indefinite_stays_admissible_at_huge_power():
    mu, L = np.zeros(2), np.eye(2)
    A, b = np.array([[-1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 0.0])  # limit k < 1
    for beta in [10.0, 1e3]:
        mean, cov, k, kl, gain = quad_tilt(mu, L, A, b, beta)
        assert 0 < float(k) < 1
        assert np.all(np.linalg.eigvalsh(np.linalg.inv(np.asarray(cov))) > 0)
        np.testing.assert_allclose(float(kl), beta, rtol=1e-8)


@pytest.mark.parametrize("beta", [1e-6, 1e-3, 0.5])
def test_gaussian_quadratic_float32(beta):
    mu, L = np.array([0.1, -0.3]), np.array([[1.0, 0.0], [0.5, 0.8]])
    A, b = np.array([[1.0, 0.2], [0.2, 0.5]]), np.array([0.3, -0.4])
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    r = sj.tilt(sj.GaussianWorld(f(mu), f(L)), sj.QuadraticUtility(f(A), f(b)), beta)
    assert r.world.mean.dtype == jnp.float32
    k_ref, m_ref, c_ref = np_quadratic_tilt(mu, L @ L.T, A, b, beta)
    np.testing.assert_allclose(float(r.kl), beta, rtol=1e-5)
    np.testing.assert_allclose(float(r.multiplier), k_ref, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(r.world.mean), m_ref, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- gradients vs finite differences


def fd(f, x, h=1e-6):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * h)
    return g


P0 = np.array([0.1, 0.2, 0.05, 0.3, 0.15, 0.2])
U0 = np.array([0.3, -1.0, 2.0, 0.5, 1.1, -0.2])


def test_discrete_gradients_match_finite_differences():
    beta = 0.4
    g_lp, g_v, g_b = disc_grads(jnp.log(P0), U0, beta)
    np.testing.assert_allclose(np.asarray(g_lp), fd(lambda lp: disc_obj(lp, U0, beta), np.log(P0)), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(g_v), fd(lambda v: disc_obj(jnp.log(P0), v, beta), U0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(float(g_b), fd(lambda b: disc_obj(jnp.log(P0), U0, float(b)), beta), rtol=1e-6)


def test_second_derivatives_match_finite_differences_of_gradients():
    """The implicit rule differentiates itself: Hessians are exact, not just gradients."""
    H = jax.jit(jax.hessian(disc_obj, argnums=(1, 2)))(jnp.log(P0), U0, 0.4)
    h = 1e-5
    ref_bb = (disc_grads(jnp.log(P0), U0, 0.4 + h)[2] - disc_grads(jnp.log(P0), U0, 0.4 - h)[2]) / (2 * h)
    np.testing.assert_allclose(float(H[1][1]), float(ref_bb), rtol=1e-6)
    ref_vv = np.array([(disc_grads(jnp.log(P0), U0 + h * e, 0.4)[1] - disc_grads(jnp.log(P0), U0 - h * e, 0.4)[1]) / (2 * h) for e in np.eye(N)])
    np.testing.assert_allclose(np.asarray(H[0][0]), ref_vv, rtol=1e-5, atol=1e-8)


def test_quadratic_gradients_match_finite_differences():
    mu, L = np.array([0.1, -0.3]), np.array([[1.0, 0.0], [0.5, 0.8]])
    A, b = np.array([[1.0, 0.2], [0.2, -0.3]]), np.array([0.3, -0.4])
    args = [mu, L, A, b, 0.7]
    grads = quad_grads(*args)
    for i, g in enumerate(grads):
        def f(x, i=i):
            a = list(args)
            a[i] = np.tril(x) if i == 1 else (float(x) if i == 4 else x)
            return quad_obj(*a)
        ref = fd(f, args[i])
        if i == 1:  # only the lower triangle of chol is a parameter
            ref, g = np.tril(ref), np.tril(np.asarray(g))
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-5, atol=1e-7)


def test_quadratic_gradient_with_repeated_eigenvalues_is_finite():
    """A = I in an isotropic world: eigh's derivative is undefined here; ours is not used."""
    args = [np.zeros(3), np.eye(3), np.eye(3), np.ones(3), 0.5]
    g = np.asarray(quad_grads(*args)[2])
    ref = fd(lambda A: quad_obj(args[0], args[1], A, args[3], 0.5), np.eye(3))
    # only the symmetric part of A matters
    np.testing.assert_allclose(0.5 * (g + g.T), 0.5 * (ref + ref.T), rtol=1e-6, atol=1e-8)


def test_linear_gradients_match_finite_differences():
    args = [np.array([0.1, -0.3]), np.array([[1.0, 0.0], [0.5, 0.8]]), np.array([0.6, -0.2]), 0.3]
    grads = lin_grads(*args)
    for i in (0, 2, 3):
        def f(x, i=i):
            a = list(args)
            a[i] = float(x) if i == 3 else x
            return lin_obj(*a)
        np.testing.assert_allclose(np.asarray(grads[i]), fd(f, args[i]), rtol=1e-7, atol=1e-10)


def test_particle_world_with_mlp_utility():
    """Any eqx.Module utility on a particle world; gradients w.r.t. its parameters match FD."""
    mlp = eqx.nn.MLP(2, "scalar", 8, 2, key=jax.random.key(1))
    xs = jax.random.normal(jax.random.key(2), (64, 2))
    world = sj.ParticleWorld.from_samples(xs)

    @eqx.filter_jit
    def run(model):
        r = sj.tilt(world, model, 0.5)
        return r.kl, r.multiplier, r.world.weights, r.gain

    gain = lambda m: run(m)[3]  # noqa: E731
    kl, k, weights, _ = run(mlp)
    np.testing.assert_allclose(float(kl), 0.5, rtol=1e-10)
    vals = np.asarray(jax.vmap(mlp)(xs))
    k_ref, p_ref = np_discrete_tilt(np.full(64, 1 / 64), vals, 0.5)
    np.testing.assert_allclose(float(k), k_ref, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(weights), p_ref, rtol=1e-7)
    grads = eqx.filter_jit(eqx.filter_grad(gain))(mlp)
    w_last = mlp.layers[-1].weight
    g_last = np.asarray(grads.layers[-1].weight)

    def f(w):
        return gain(eqx.tree_at(lambda m: m.layers[-1].weight, mlp, jnp.asarray(w)))

    np.testing.assert_allclose(g_last, fd(f, np.asarray(w_last)), rtol=1e-5, atol=1e-8)


# ----------------------------------------------------------------------------- transformations, arrays of powers


def test_power_array_broadcasts_and_matches_vmap():
    betas = jnp.array([[0.0, 0.1], [0.5, 5.0]])
    world, util = sj.DiscreteWorld.from_probs(jnp.asarray(P0)), sj.TabularUtility(jnp.asarray(U0))
    r = sj.tilt(world, util, betas)
    assert r.world.log_probs.shape == (2, 2, N) and r.multiplier.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            probs, k, kl, gain, sat = discrete_tilt(jnp.log(P0), U0, float(betas[i, j]))
            np.testing.assert_allclose(np.asarray(r.world.probs[i, j]), np.asarray(probs), rtol=1e-12)
            assert bool(r.saturated[i, j]) == bool(sat)
    # vmap over worlds (means) and jit on Gaussian worlds
    means = jnp.arange(6.0).reshape(3, 2)
    out = jax.vmap(lin_tilt, in_axes=(0, None, None, None))(means, jnp.eye(2), jnp.array([1.0, 1.0]), 1.0)[0]
    np.testing.assert_allclose(np.asarray(out), np.asarray(means) + 1.0, rtol=1e-12)  # k = √(2/2) = 1, Σu = (1,1)


def test_tilt_kl_inverts_tilt():
    world, util = sj.DiscreteWorld.from_probs(jnp.asarray(P0)), sj.TabularUtility(jnp.asarray(U0))
    k = discrete_tilt(jnp.log(P0), U0, 0.3)[1]
    np.testing.assert_allclose(float(tilt_kl(world, util, k)), 0.3, rtol=1e-10)
    k = quad_tilt(np.zeros(2), np.eye(2), np.eye(2), np.ones(2), 0.3)[2]
    g, q = sj.GaussianWorld.isotropic(2), sj.QuadraticUtility(jnp.eye(2), jnp.ones(2))
    np.testing.assert_allclose(float(tilt_kl(g, q, k)), 0.3, rtol=1e-10)
    k = lin_tilt(np.zeros(2), np.eye(2), np.ones(2), 0.3)[2]
    np.testing.assert_allclose(float(tilt_kl(g, sj.LinearUtility(jnp.ones(2)), k)), 0.3, rtol=1e-12)


def test_expm1_minus_x_against_mpmath():
    import importlib

    import mpmath

    mod = importlib.import_module("sumjax.tilt")
    x = np.array([-3.0, -0.5, -1e-3, 1e-9, 0.3, 0.5, 0.5001, 4.0])
    with mpmath.workdps(50):  # the reference itself must not cancel
        ref = np.array([float(mpmath.expm1(mpmath.mpf(v)) - mpmath.mpf(v)) for v in x])
    np.testing.assert_allclose(np.asarray(mod._expm1_minus_x(jnp.asarray(x))), ref, rtol=1e-14)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    world, util = sj.DiscreteWorld.from_probs(jnp.asarray(P0)), sj.TabularUtility(jnp.asarray(U0))
    for bad in [-0.1, float("nan"), float("inf")]:
        with pytest.raises(ValueError, match="power"):
            sj.tilt(world, util, bad)
    with pytest.raises(RUNTIME, match="power"):
        jax.block_until_ready(discrete_tilt(jnp.log(P0), U0, -0.1))
    with pytest.raises(ValueError, match="per state|shape"):
        sj.tilt(world, sj.TabularUtility(jnp.ones(N + 1)), 0.1)
    g = sj.GaussianWorld.isotropic(3)
    with pytest.raises(ValueError, match="dimension"):
        sj.tilt(g, sj.LinearUtility(jnp.ones(2)), 0.1)
    with pytest.raises(TypeError, match="ParticleWorld"):
        sj.tilt(g, lambda x: jnp.sum(x), 0.1)
    with pytest.raises(TypeError, match="TabularUtility"):
        sj.tilt(world, sj.LinearUtility(jnp.ones(2)), 0.1)
    with pytest.raises(RUNTIME, match="finite"):
        sj.tilt(world, lambda i: jnp.where(i == 2, jnp.nan, 1.0), 0.1)
    with pytest.raises(ValueError, match="dimension"):
        sj.tilt(sj.ParticleWorld.from_samples(jnp.ones((5, 3))), sj.LinearUtility(jnp.ones(2)), 0.1)
