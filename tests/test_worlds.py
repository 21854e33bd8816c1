"""Worlds: log-densities and sampling against SciPy, validation of every constructor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

import sumjax as sj

RUNTIME = (RuntimeError, ValueError)
MU = np.array([0.5, -1.0, 2.0])
L = np.array([[1.0, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.2, 0.1, 1.5]])


def test_gaussian_log_prob_matches_scipy_under_jit_vmap_grad():
    world = sj.GaussianWorld(MU, L)
    assert world.dim == 3
    np.testing.assert_allclose(np.asarray(world.cov), L @ L.T, rtol=1e-15)
    x = np.random.default_rng(0).normal(size=(7, 3))
    ref = multivariate_normal(MU, L @ L.T).logpdf(x)
    np.testing.assert_allclose(np.asarray(world.log_prob(x)), ref, rtol=1e-12)
    lp = jax.jit(lambda m, c, x: sj.GaussianWorld(m, c).log_prob(x))
    np.testing.assert_allclose(np.asarray(jax.vmap(lp, in_axes=(None, None, 0))(MU, L, x)), ref, rtol=1e-12)
    # ∇_x log N = −Σ⁻¹(x − μ), ∇_μ = +Σ⁻¹(x − μ)
    gx, gm = jax.grad(lambda x, m: lp(m, L, x), argnums=(0, 1))(x[0], MU)
    want = -np.linalg.solve(L @ L.T, x[0] - MU)
    np.testing.assert_allclose(np.asarray(gx), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gm), -want, rtol=1e-12)


def test_gaussian_float32_and_isotropic():
    w = sj.GaussianWorld(jnp.asarray(MU, jnp.float32), jnp.asarray(L, jnp.float32))
    x = np.array([0.1, 0.2, 0.3])
    assert w.log_prob(x).dtype == jnp.float32
    np.testing.assert_allclose(float(w.log_prob(x)), multivariate_normal(MU, L @ L.T).logpdf(x), rtol=1e-6)
    iso = sj.GaussianWorld.isotropic(4)
    np.testing.assert_array_equal(np.asarray(iso.cov), np.eye(4))
    assert sj.GaussianWorld.isotropic(2, jnp.float32).mean.dtype == jnp.float32
    with pytest.raises(ValueError, match="`d`"):
        sj.GaussianWorld.isotropic(0)


def test_gaussian_sample_moments_within_monte_carlo_error():
    world = sj.GaussianWorld(MU, L)
    n = 40000
    xs = np.asarray(jax.jit(lambda key: world.sample(key, n))(jax.random.key(3)))
    S = L @ L.T
    assert xs.shape == (n, 3)
    # mean: each coordinate within 5 standard errors
    assert np.all(np.abs(xs.mean(0) - MU) < 5 * np.sqrt(np.diag(S) / n))
    # covariance entries: standard error of a sample covariance ≈ √((S_ii S_jj + S_ij²)/n)
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)
    assert np.all(np.abs(np.cov(xs.T) - S) < 5 * se)


def test_from_covariance_and_its_errors():
    S = L @ L.T
    w = sj.GaussianWorld.from_covariance(MU, S)
    np.testing.assert_allclose(np.asarray(w.chol), np.linalg.cholesky(S), rtol=1e-12)
    with pytest.raises(ValueError, match="symmetric"):
        sj.GaussianWorld.from_covariance(MU, S + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="positive definite"):
        sj.GaussianWorld.from_covariance(MU, np.diag([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="finite"):
        sj.GaussianWorld.from_covariance(MU, np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        sj.GaussianWorld.from_covariance(MU, np.eye(2))
    with pytest.raises(RUNTIME, match="positive definite"):
        jax.block_until_ready(jax.jit(lambda c: sj.GaussianWorld.from_covariance(jnp.zeros(2), c).chol)(-np.eye(2)))
    # gradient through the factorisation: d/dS log N(x; 0, S) at S = I is ½(xxᵀ − I)
    x = np.array([0.3, -0.7])
    g = jax.grad(lambda c: sj.GaussianWorld.from_covariance(jnp.zeros(2), c).log_prob(x))(np.eye(2))
    np.testing.assert_allclose(np.asarray(0.5 * (g + g.T)), 0.5 * (np.outer(x, x) - np.eye(2)), rtol=1e-12)


def test_gaussian_constructor_errors():
    with pytest.raises(ValueError, match="lower triangular"):
        sj.GaussianWorld(MU, L.T)
    with pytest.raises(ValueError, match="nonzero diagonal"):
        sj.GaussianWorld(MU, np.diag([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        sj.GaussianWorld(MU, np.eye(2))
    with pytest.raises(ValueError, match="mean"):
        sj.GaussianWorld(np.array([0.0, np.nan, 0.0]), L)
    with pytest.raises(ValueError, match="last axis"):
        sj.GaussianWorld(MU, L).log_prob(np.zeros(2))


@given(st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5).filter(lambda x: sum(x) > 0.1))
def test_discrete_world_constructors_agree(w):
    p = np.array(w) / np.sum(w)
    a = sj.DiscreteWorld.from_probs(p)
    b = sj.DiscreteWorld.from_logits(np.log(np.where(p > 0, p, 1.0)) + np.where(p > 0, 2.0, -np.inf))
    np.testing.assert_allclose(np.asarray(a.probs), p, atol=1e-15)
    np.testing.assert_allclose(np.asarray(b.probs), p, atol=1e-15)
    assert a.n == 5


def test_discrete_world_intrinsic_entropies_and_transformations():
    s = np.array([0.3, -1.0, 2.0, 0.0])
    q = sj.DiscreteWorld.from_intrinsic_entropies(s)
    np.testing.assert_allclose(np.asarray(q.probs), np.exp(s) / np.exp(s).sum(), rtol=1e-15)
    f = jax.jit(jax.vmap(lambda s: sj.DiscreteWorld.from_intrinsic_entropies(s).probs[0]))
    np.testing.assert_allclose(np.asarray(f(np.stack([s, 2 * s]))), [np.exp(s[0]) / np.exp(s).sum(), np.exp(2 * s[0]) / np.exp(2 * s).sum()], rtol=1e-14)
    # ∂p_0/∂s = p_0(e_0 − p)
    g = jax.grad(lambda s: sj.DiscreteWorld.from_intrinsic_entropies(s).probs[0])(s)
    p = np.exp(s) / np.exp(s).sum()
    np.testing.assert_allclose(np.asarray(g), p[0] * (np.eye(4)[0] - p), rtol=1e-13)
    # zero probabilities: log-probs -inf, finite gradients
    g = jax.grad(lambda p: sj.DiscreteWorld.from_probs(p).probs[1])(np.array([0.0, 0.5, 0.5]))
    assert np.all(np.isfinite(np.asarray(g)))


def test_discrete_world_errors():
    with pytest.raises(ValueError, match="simplex"):
        sj.DiscreteWorld.from_probs(np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="simplex"):
        sj.DiscreteWorld.from_probs(np.array([1.2, -0.2]))
    with pytest.raises(ValueError, match="NaN"):
        sj.DiscreteWorld(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="all -inf"):
        sj.DiscreteWorld.from_logits(np.array([-np.inf, -np.inf]))
    with pytest.raises(ValueError, match="finite"):
        sj.DiscreteWorld.from_intrinsic_entropies(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="non-empty vector"):
        sj.DiscreteWorld.from_probs(np.ones((2, 2)) / 4)
    with pytest.raises(RUNTIME, match="simplex"):
        jax.block_until_ready(jax.jit(lambda p: sj.DiscreteWorld.from_probs(p).log_probs)(np.array([0.5, 0.6])))


def test_particle_world_weights_and_ess():
    xs = np.random.default_rng(1).normal(size=(10, 2))
    w = sj.ParticleWorld.from_samples(xs)
    np.testing.assert_allclose(np.asarray(w.weights), np.full(10, 0.1), rtol=1e-15)
    np.testing.assert_allclose(float(w.ess), 10.0, rtol=1e-14)
    lw = np.log(np.arange(1.0, 11.0))
    w = sj.ParticleWorld(xs, lw)
    p = np.arange(1.0, 11.0) / 55.0
    np.testing.assert_allclose(np.asarray(w.weights), p, rtol=1e-14)
    np.testing.assert_allclose(float(w.effective_sample_size), 1 / np.sum(p**2), rtol=1e-14)
    ess = jax.jit(jax.vmap(lambda lw: sj.ParticleWorld(xs, lw).ess))(np.stack([lw, np.zeros(10)]))
    np.testing.assert_allclose(np.asarray(ess), [1 / np.sum(p**2), 10.0], rtol=1e-13)
    # d ESS / d lw at equal weights is 0 (a maximum)
    g = jax.grad(lambda lw: sj.ParticleWorld(xs, lw).ess)(np.zeros(10))
    np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-13)
    with pytest.raises(ValueError, match="log_weights"):
        sj.ParticleWorld(xs, np.zeros(9))
    with pytest.raises(ValueError, match="samples"):
        sj.ParticleWorld(np.full((3, 2), np.nan), np.zeros(3))
    # integer-valued states are allowed
    assert sj.ParticleWorld.from_samples(np.arange(4)).n == 4
