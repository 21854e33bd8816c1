"""Fragile worlds N(0, Σ): the KL-optimal push (closed form and a brute-force check), the Σ-cosine,
the effective dimension against Monte Carlo, and what the text's 'narrower acts like larger d'
remark does and does not mean in the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.alignment import (
    effective_dimension,
    fragile_cosine,
    fragile_push,
    fragile_total_harm,
    sample_fragile_cosine,
    total_harm,
)


def test_push_is_kl_optimal_with_kl_beta():
    rng = np.random.default_rng(0)
    d, beta = 6, 0.7
    var = rng.uniform(0.2, 3.0, d)
    a = rng.normal(size=d)
    m = np.asarray(fragile_push(a, var, beta))
    np.testing.assert_allclose(0.5 * np.sum(m * m / var), beta, rtol=1e-13)  # KL(N(m,Σ)‖N(0,Σ))
    # Any other shift with the same KL gains less a·m (brute force over random directions).
    u = rng.normal(size=(5000, d))
    u *= np.sqrt(2 * beta / np.sum(u * u / var, axis=1))[:, None]
    assert np.all(u @ a <= m @ a + 1e-12)
    np.testing.assert_allclose(m @ a, np.sqrt(2 * beta * np.sum(a * a * var)), rtol=1e-13)
    # The human gain is √(2β hᵀΣh)·c_Σ.
    h = rng.normal(size=d)
    np.testing.assert_allclose(m @ h, np.sqrt(2 * beta * np.sum(h * h * var)) * fragile_cosine(a, h, var), rtol=1e-12)


def test_full_matrix_matches_diagonal_after_rotation():
    rng = np.random.default_rng(1)
    d = 5
    var = rng.uniform(0.3, 2.0, d)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    S = Q @ np.diag(var) @ Q.T
    a, h = rng.normal(size=d), rng.normal(size=d)
    np.testing.assert_allclose(fragile_cosine(Q @ a, Q @ h, S), fragile_cosine(a, h, var), rtol=1e-12)
    np.testing.assert_allclose(effective_dimension(S, Q @ h), effective_dimension(var, h), rtol=1e-12)
    np.testing.assert_allclose(fragile_push(Q @ a, S, 0.3), Q @ np.asarray(fragile_push(a, var, 0.3)), rtol=1e-12, atol=1e-14)


def test_isotropic_narrowing_changes_nothing():
    """The remark fails for Σ = σ²I: c_Σ = c for every a, d_eff = d, so harm is unchanged."""
    rng = np.random.default_rng(2)
    d = 50
    a, h = rng.normal(size=(3, d)), rng.normal(size=d)
    c = (a @ h) / np.linalg.norm(a, axis=1) / np.linalg.norm(h)
    for s2 in (1e-4, 0.1, 1.0):
        np.testing.assert_allclose(fragile_cosine(a, h, jnp.full(d, s2)), c, rtol=1e-12)
        np.testing.assert_allclose(effective_dimension(jnp.full(d, s2), h), d, rtol=1e-12)
    np.testing.assert_allclose(fragile_total_harm(0.5, jnp.full(d, 0.01), h, 2.0, 1.0), total_harm(0.5, float(d), 2.0, 1.0), rtol=1e-12)


@pytest.mark.parametrize("s2", [0.1, 1.0, 10.0])
def test_effective_dimension_against_monte_carlo(s2):
    d, n = 500, 20000
    var = jnp.ones(d).at[0].set(s2)
    h = jnp.zeros(d).at[0].set(1.0)
    deff = float(effective_dimension(var, h))
    np.testing.assert_allclose(deff, 1 + (d - 1) / s2, rtol=1e-12)
    c = np.asarray(sample_fragile_cosine(jax.random.key(0), h, var, (n,)))
    x = c * c * deff  # E[c_Σ²]·d_eff = 1 + O(1/d_eff) for the cosine law of d_eff
    assert abs(x.mean() - 1) < 4 * x.std() / np.sqrt(n) + 3 / deff


def test_narrowing_along_h_is_polynomially_larger_d():
    """Holds in this sense: Σ = diag(σ², 1, …), h = e₁, σ² = ξ^{−γ} ⇒ d_eff ≈ (d − 1)ξ^γ, so harm
    (∝ d_eff over D) grows like ξ^γ — 'polynomially-scaling [fragility] had the same effect as
    increasing d'. Narrowing the *other* directions does the opposite (d_eff < d, less harm)."""
    d, gamma = 1000, 0.5
    xi = jnp.array([1.0, 10.0, 100.0, 1000.0])
    h = jnp.zeros(d).at[0].set(1.0)
    H = jax.vmap(lambda x: fragile_total_harm(0.5, jnp.ones(d).at[0].set(x**-gamma), h, 2.0, 1.0))(xi)
    slopes = np.diff(np.log(np.asarray(H))) / np.diff(np.log(np.asarray(xi)))
    np.testing.assert_allclose(slopes, gamma, rtol=1e-2)
    wide_h = jnp.full(d, 0.1).at[0].set(1.0)  # everything but h narrowed
    assert float(effective_dimension(wide_h, h)) < d
    assert float(fragile_total_harm(0.5, wide_h, h, 2.0, 1.0)) < float(total_harm(0.5, float(d), 2.0, 1.0))


def test_jit_vmap_grad():
    d = 20
    h = jnp.zeros(d).at[0].set(1.0)
    f = lambda s2: fragile_total_harm(0.5, jnp.ones(d).at[0].set(s2), h, 2.0, 1.0)
    g = jax.jit(jax.grad(f))(0.3)
    fd = (f(0.3 + 1e-6) - f(0.3 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    a = jax.random.normal(jax.random.key(1), (4, d))
    v = jax.vmap(lambda x: fragile_cosine(x, h, jnp.ones(d)))(a)
    np.testing.assert_allclose(v, fragile_cosine(a, h, jnp.ones(d)), rtol=1e-13)


def test_bad_input_raises():
    d = 4
    h = jnp.ones(d)
    with pytest.raises(ValueError, match="`cov`"):
        effective_dimension(jnp.array([1.0, -1.0, 1.0, 1.0]), h)
    with pytest.raises(ValueError, match="`cov`"):
        effective_dimension(jnp.ones(3), h)
    with pytest.raises(ValueError, match="positive definite"):
        effective_dimension(jnp.diag(jnp.array([1.0, 1.0, 0.0, -1.0])), h)
    with pytest.raises(ValueError, match="symmetric"):
        effective_dimension(jnp.eye(d).at[0, 1].set(0.5), h)
    with pytest.raises(ValueError, match="`beta`"):
        fragile_push(h, jnp.ones(d), -1.0)
    with pytest.raises(ValueError, match="`c_star`"):
        fragile_total_harm(1.0, jnp.ones(d), h, 2.0, 1.0)


# ----------------------------------------------------------------- the literal reading: p_d(c)^k


@pytest.mark.parametrize("d,k", [(10.0, 0.5), (10.0, 3.0), (4.0, 2.5), (100.0, 1.7)])
def test_narrowed_cosine_law_is_the_law_of_d_prime(d, k):
    """p_d(c)^k, normalised by SciPy quadrature, equals the cosine law of d' = k(d − 3) + 3, i.e.
    (1 + c)/2 ~ Beta((d' − 1)/2, (d' − 1)/2) (scipy.stats.beta), pointwise; and its vMF tilt has the
    mean and KL of the package's closed forms at d' (the loop sees only these)."""
    from scipy import integrate, stats

    from sumjax.alignment import narrowed_dimension, vmf_kl, vmf_mean

    dp = float(narrowed_dimension(d, k))
    assert dp == k * (d - 3) + 3
    un = lambda c: ((1 - c * c) ** ((d - 3) / 2)) ** k
    Z = integrate.quad(un, -1, 1, epsabs=0, epsrel=1e-13)[0]
    c = np.linspace(-0.95, 0.95, 7)
    a = (dp - 1) / 2
    np.testing.assert_allclose(un(c) / Z, stats.beta(a, a).pdf((1 + c) / 2) / 2, rtol=1e-9)
    for kappa in (0.7, 8.0):
        w = lambda c: un(c) * np.exp(kappa * (c - 1))
        Zk = integrate.quad(w, -1, 1, epsabs=0, epsrel=1e-13)[0]
        mean = integrate.quad(lambda c: c * w(c), -1, 1, epsabs=0, epsrel=1e-13)[0] / Zk
        kl = kappa * mean - (np.log(Zk) + kappa - np.log(Z))
        np.testing.assert_allclose(float(vmf_mean(kappa, dp)), mean, rtol=1e-9)
        np.testing.assert_allclose(float(vmf_kl(kappa, dp)), kl, rtol=1e-8)


def test_narrowed_total_harm_and_checks():
    from sumjax.alignment import narrowed_total_harm

    np.testing.assert_allclose(narrowed_total_harm(0.5, 10.0, 2.0, 2.0, 1.0), total_harm(0.5, 17.0, 2.0, 1.0),
                               rtol=1e-15)
    with pytest.raises(ValueError, match="`k`"):
        narrowed_total_harm(0.5, 10.0, 0.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="narrowed dimension"):
        narrowed_total_harm(0.5, 2.0, 2.0, 2.0, 1.0)  # d' = 3 − 2 = 1 < 2
