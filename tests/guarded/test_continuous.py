"""Continuous laws of U_{t+1}: exact for weighted samples, the finite case in the concentrated limit,
Beta (two utilities) against scipy quadrature, and gradients in α against quadrature derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from sumjax.guarded import (
    DirichletLaw,
    SampleLaw,
    action_value,
    g,
    law_action_value,
    law_mean,
    law_penalty,
    penalty,
)

README = np.array([[1.0, 0.9], [0.0, 1.0], [1.2, 0.8]])
U_T = np.array([0.5, 0.5])


def test_sample_law_is_the_finite_formula():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(9, 4))
    atoms = rng.dirichlet(np.ones(4), size=6)
    w = rng.dirichlet(np.ones(6))
    u = rng.dirichlet(np.ones(4))
    law = SampleLaw(atoms, w)
    r = law_action_value(u, law, V)
    assert float(r.value) == pytest.approx(float(action_value(u, atoms, w, V)), abs=1e-13)
    assert float(r.std_error) == 0.0
    assert float(law_penalty(u, law, V).value) == pytest.approx(float(penalty(u, atoms, w, V)), abs=1e-13)
    np.testing.assert_allclose(law_mean(law), w @ atoms, atol=1e-15)


def test_dirichlet_concentrated_limit_is_the_forced_update():
    m = np.array([0.3, 0.7])
    r = law_action_value(U_T, DirichletLaw(1e8 * m), README, key=jax.random.key(1), n_samples=4000)
    # Samples within ~1e-4 of m; f is 1.4-Lipschitz: the value is g_m(U_t) within 1e-3.
    assert float(r.value) == pytest.approx(float(g(m, U_T, README)), abs=1e-3)
    # The mean is exact (α/Σα), not sampled: a law centred at U_t is unbiased whatever the samples.
    np.testing.assert_allclose(law_mean(DirichletLaw([1.5, 4.5])), [0.25, 0.75], atol=1e-15)


def _quad_value(alpha):
    """E[f(U)] + E[V(π_U)]·(U_t − EU) for U = (1 − x, x), x ~ Beta(α₁, α₀), by quadrature at f's kinks."""
    a0, a1 = alpha
    dist = stats.beta(a1, a0)
    eu = np.array([a0, a1]) / (a0 + a1)

    def term(x):
        w = np.array([1 - x, x])
        k = np.argmax(README @ w)
        return README[k] @ w + README[k] @ (U_T - eu)

    kinks = [1 / 3, 2 / 3]  # C=A at x = 2/3 (1.2 − .4x = 1 − .1x... ) and the B crossings
    return integrate.quad(lambda x: term(x) * dist.pdf(x), 0, 1, points=kinks, limit=200, epsabs=1e-12)[0]


def test_beta_law_against_quadrature_and_gradient():
    alpha = np.array([2.0, 3.0])
    r = law_action_value(U_T, DirichletLaw(alpha), README, key=jax.random.key(3), n_samples=4000)
    exact = _quad_value(alpha)
    assert abs(float(r.value) - exact) <= 5 * float(r.std_error) + 1e-12
    assert 0 < float(r.std_error) < 1e-2

    # Gradient in α (implicit reparametrisation of the gamma draws) against central differences of quadrature.
    fn = jax.jit(lambda a, k: law_action_value(U_T, DirichletLaw(a), README, key=k, n_samples=4000).value)
    grads = np.stack([np.asarray(jax.grad(fn)(jnp.asarray(alpha), jax.random.key(10 + i))) for i in range(8)])
    mean, se = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(len(grads))
    h = 1e-4
    fd = np.array([(_quad_value(alpha + h * e) - _quad_value(alpha - h * e)) / (2 * h) for e in np.eye(2)])
    assert np.all(np.abs(mean - fd) <= 5 * se + 1e-6), (mean, fd, se)


def test_bad_laws():
    with pytest.raises(ValueError, match="concentration"):
        DirichletLaw([1.0, -1.0])
    with pytest.raises(ValueError, match="key"):
        law_action_value(U_T, DirichletLaw([1.0, 1.0]), README)
    with pytest.raises(ValueError, match="weights"):
        SampleLaw(np.eye(2), [0.7, 0.7])
    with pytest.raises(ValueError, match="law"):
        law_action_value(U_T, DirichletLaw([1.0, 1.0, 1.0]), README, key=jax.random.key(0))
