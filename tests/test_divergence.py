"""KL, expected utility, entropy (SUM Appendix 1) and the amount of optimisation (Appendix 2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import entropy as scipy_entropy
from scipy.stats import multivariate_normal

import sumjax as sj

RUNTIME = (RuntimeError, ValueError)
rng = np.random.default_rng(0)


def rand_chol(d, rng):
    return np.tril(rng.normal(size=(d, d)) * 0.3) + np.diag(rng.uniform(0.5, 1.5, d))


def test_gaussian_kl_matches_monte_carlo_and_numpy():
    d = 3
    m0, m1 = rng.normal(size=d), rng.normal(size=d)
    L0, L1 = rand_chol(d, rng), rand_chol(d, rng)
    S0, S1 = L0 @ L0.T, L1 @ L1.T
    p, q = sj.GaussianWorld(m0, L0), sj.GaussianWorld(m1, L1)
    val = float(sj.kl(p, q))
    # NumPy formula with explicit inverses/determinants (independent of the Cholesky route)
    ref = 0.5 * (np.trace(np.linalg.inv(S1) @ S0) + (m1 - m0) @ np.linalg.inv(S1) @ (m1 - m0) - d + np.log(np.linalg.det(S1) / np.linalg.det(S0)))
    np.testing.assert_allclose(val, ref, rtol=1e-12)
    # Monte Carlo: E_p[log p − log q], 5 standard errors
    x = multivariate_normal(m0, S0).rvs(200000, random_state=1)
    r = multivariate_normal(m0, S0).logpdf(x) - multivariate_normal(m1, S1).logpdf(x)
    assert abs(r.mean() - val) < 5 * r.std() / np.sqrt(len(r))
    assert abs(float(sj.kl(p, p))) < 1e-14


def test_gaussian_kl_jit_vmap_grad():
    f = jax.jit(lambda m: sj.kl(sj.GaussianWorld(m, np.eye(2)), sj.GaussianWorld.isotropic(2)))
    ms = np.array([[1.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(ms)), 0.5 * np.sum(ms**2, 1), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jax.grad(f)(ms[1])), ms[1], rtol=1e-14)
    # d/dσ KL(N(0,σ²)‖N(0,1)) = σ − 1/σ
    g = jax.grad(lambda s: sj.kl(sj.GaussianWorld(jnp.zeros(1), s * jnp.eye(1)), sj.GaussianWorld.isotropic(1)))(1.7)
    np.testing.assert_allclose(float(g), 1.7 - 1 / 1.7, rtol=1e-13)


simplex5 = st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5).filter(lambda x: sum(x) > 0.05).map(lambda x: np.array(x) / sum(x))


@given(simplex5, st.lists(st.floats(0.01, 1.0), min_size=5, max_size=5).map(lambda x: np.array(x) / sum(x)))
def test_discrete_kl_matches_scipy(p, q):
    val = float(discrete_kl(p, q))
    np.testing.assert_allclose(val, scipy_entropy(p, q), rtol=1e-12, atol=1e-15)


discrete_kl = jax.jit(lambda p, q: sj.kl(sj.DiscreteWorld.from_probs(p), sj.DiscreteWorld.from_probs(q)))


def test_discrete_kl_edges_vmap_grad():
    assert np.isinf(float(sj.kl(sj.DiscreteWorld.from_probs(np.array([0.5, 0.5])), sj.DiscreteWorld.from_probs(np.array([1.0, 0.0])))))
    assert float(sj.kl(sj.DiscreteWorld.from_probs(np.array([1.0, 0.0])), sj.DiscreteWorld.from_probs(np.array([0.5, 0.5])))) == pytest.approx(np.log(2), rel=1e-15)
    ps = np.array([[0.2, 0.3, 0.5, 0.0, 0.0], [0.1, 0.1, 0.1, 0.1, 0.6]])
    q = np.full(5, 0.2)
    np.testing.assert_allclose(np.asarray(jax.vmap(discrete_kl, in_axes=(0, None))(ps, q)), [scipy_entropy(p, q) for p in ps], rtol=1e-13)
    # ∂KL/∂q_i = −p_i/q_i (q not renormalised through from_probs' log: use logits world instead)
    g = jax.grad(lambda lq: sj.kl(sj.DiscreteWorld.from_probs(ps[0]), sj.DiscreteWorld(lq)))(np.log(q))
    np.testing.assert_allclose(np.asarray(g), -(ps[0] - q), atol=1e-14)  # d/dlogits = q − p
    g = jax.grad(lambda p: sj.kl(sj.DiscreteWorld.from_probs(p), sj.DiscreteWorld.from_probs(q)))(ps[0])
    assert np.all(np.isfinite(np.asarray(g)))


def test_particle_kl_and_mismatch_errors():
    xs = rng.normal(size=(6, 2))
    lp, lq = np.log(np.arange(1.0, 7.0)), np.zeros(6)
    p, q = sj.ParticleWorld(xs, lp), sj.ParticleWorld(xs, lq)
    pw = np.arange(1.0, 7.0) / 21
    np.testing.assert_allclose(float(sj.kl(p, q)), scipy_entropy(pw, np.full(6, 1 / 6)), rtol=1e-13)
    with pytest.raises(ValueError, match="SAME samples"):
        sj.kl(p, sj.ParticleWorld(xs + 1.0, lq))
    with pytest.raises(ValueError, match="share their samples"):
        sj.kl(p, sj.ParticleWorld(xs[:5], lq[:5]))
    with pytest.raises(TypeError, match="same kind"):
        sj.kl(p, sj.DiscreteWorld(lq))
    with pytest.raises(ValueError, match="same number of states"):
        sj.kl(sj.DiscreteWorld(lq), sj.DiscreteWorld(lq[:3]))
    with pytest.raises(ValueError, match="same dimension"):
        sj.kl(sj.GaussianWorld.isotropic(2), sj.GaussianWorld.isotropic(3))
    with pytest.raises(RUNTIME, match="SAME samples"):
        jax.block_until_ready(jax.jit(lambda x: sj.kl(p, sj.ParticleWorld(x, lq)))(xs + 1.0))


def test_expected_utility_closed_forms_against_monte_carlo():
    d = 3
    mu, L = rng.normal(size=d), rand_chol(d, rng)
    A, b = rng.normal(size=(d, d)), rng.normal(size=d)
    world = sj.GaussianWorld(mu, L)
    quad = sj.QuadraticUtility(A, b, 0.5)
    x = np.asarray(world.sample(jax.random.key(0), 200000))
    vals = np.asarray(quad(x))
    eu = float(sj.expected_utility(world, quad))
    assert abs(vals.mean() - eu) < 5 * vals.std() / np.sqrt(len(vals))
    S = L @ L.T
    np.testing.assert_allclose(eu, -0.5 * (np.trace(A @ S) + mu @ A @ mu) + b @ mu + 0.5, rtol=1e-12)
    lin = sj.LinearUtility(b, 1.0)
    np.testing.assert_allclose(float(sj.expected_utility(world, lin)), b @ mu + 1.0, rtol=1e-14)
    # discrete, particle; jit/vmap/grad
    p = np.array([0.2, 0.3, 0.5])
    f = jax.jit(lambda p, v: sj.expected_utility(sj.DiscreteWorld.from_probs(p), sj.TabularUtility(v)))
    np.testing.assert_allclose(float(f(p, np.array([1.0, 2.0, 4.0]))), 2.8, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.grad(f, argnums=1)(p, np.zeros(3))), p, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.vmap(f, in_axes=(None, 0))(p, np.eye(3))), p, rtol=1e-15)
    pw = sj.ParticleWorld.from_samples(x[:100])
    np.testing.assert_allclose(float(sj.expected_utility(pw, quad)), vals[:100].mean(), rtol=1e-12)
    gmu = jax.grad(lambda m: sj.expected_utility(sj.GaussianWorld(m, L), quad))(mu)
    np.testing.assert_allclose(np.asarray(gmu), -0.5 * (A + A.T) @ mu + b, rtol=1e-12)


@given(simplex5, st.lists(st.floats(-3.0, 3.0), min_size=5, max_size=5).map(np.array))
def test_appendix1_entropy_identity(p, s):
    """S[P] = E_P[s − log P] = log Σ e^s − KL(P‖Q) with Q ∝ e^s (SUM Appendix 1)."""
    world = sj.DiscreteWorld.from_probs(p)
    S = float(entropy_s(p, s))
    q = np.exp(s - logsumexp(s))
    ref_direct = scipy_entropy(p) + p @ s
    np.testing.assert_allclose(S, ref_direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S, logsumexp(s) - scipy_entropy(p, q), rtol=1e-12, atol=1e-12)
    kl_q = float(sj.kl(world, sj.DiscreteWorld.from_intrinsic_entropies(s)))
    np.testing.assert_allclose(S, logsumexp(s) - kl_q, rtol=1e-12, atol=1e-12)


entropy_s = jax.jit(lambda p, s: sj.entropy(sj.DiscreteWorld.from_probs(p), s))


def test_entropy_gaussian_particle_grad_errors():
    L = rand_chol(3, rng)
    g = sj.GaussianWorld(np.zeros(3), L)
    np.testing.assert_allclose(float(sj.entropy(g)), multivariate_normal(np.zeros(3), L @ L.T).entropy(), rtol=1e-13)
    pw = sj.ParticleWorld(rng.normal(size=(4, 2)), np.log(np.array([0.1, 0.2, 0.3, 0.4])))
    np.testing.assert_allclose(float(sj.entropy(pw)), scipy_entropy([0.1, 0.2, 0.3, 0.4]), rtol=1e-13)
    # ∂S/∂s = p; gradient w.r.t. p finite at p_i = 0
    p = np.array([0.0, 0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(np.asarray(jax.grad(entropy_s, argnums=1)(p, np.zeros(5))), p)
    assert np.all(np.isfinite(np.asarray(jax.grad(entropy_s)(p, np.zeros(5)))))
    np.testing.assert_allclose(np.asarray(jax.vmap(entropy_s, in_axes=(None, 0))(p, np.eye(5))), np.log(2) + p, rtol=1e-14)
    with pytest.raises(TypeError, match="intrinsic"):
        sj.entropy(g, np.zeros(3))
    with pytest.raises(ValueError, match="intrinsic"):
        sj.entropy(sj.DiscreteWorld.from_probs(p), np.zeros(4))


def test_optimisation_amount():
    np.testing.assert_allclose(float(sj.optimisation_amount(2.25)), 1.5)
    np.testing.assert_allclose(float(sj.optimisation_amount(2.25, measure="kl")), 2.25)
    f = jax.jit(jax.vmap(jax.grad(sj.optimisation_amount)))
    np.testing.assert_allclose(np.asarray(f(np.array([0.0, 4.0]))), [0.0, 0.25])  # 0 by convention at KL = 0
    with pytest.raises(ValueError, match="kl_value"):
        sj.optimisation_amount(-1.0)
    with pytest.raises(ValueError, match="measure"):
        sj.optimisation_amount(1.0, measure="l2")
