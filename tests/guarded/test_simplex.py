"""Points of the simplex: validation, uniform sampling, vertices, plotting grid, tangent space."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sumjax.guarded import (
    barycentric_grid,
    check_weights,
    mix,
    project_tangent,
    sample_simplex,
    tangent_basis,
    to_cartesian,
    vertices,
)


def test_check_weights_accepts_points_and_rejects_others_eagerly():
    w = check_weights(jnp.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]))
    assert w.shape == (2, 3)
    with pytest.raises(ValueError, match="`w` must lie on the simplex"):
        check_weights(jnp.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="`u_t` must lie on the simplex"):
        check_weights(jnp.array([-0.1, 1.1]), "u_t")
    with pytest.raises(ValueError, match="simplex"):
        check_weights(jnp.array([jnp.nan, 1.0]))
    with pytest.raises(ValueError, match="last axis"):
        check_weights(0.5)


def test_check_weights_raises_under_jit_and_vmap():
    f = jax.jit(lambda w: check_weights(w).sum())
    assert float(f(jnp.array([0.25, 0.75]))) == pytest.approx(1.0)
    with pytest.raises(Exception, match="simplex"):
        f(jnp.array([0.5, 0.6])).block_until_ready()
    with pytest.raises(Exception, match="simplex"):
        jax.block_until_ready(jax.vmap(check_weights)(jnp.array([[0.5, 0.5], [0.9, 0.9]])))


def test_vertices_are_the_pure_utilities():
    v = vertices(4)
    np.testing.assert_array_equal(np.asarray(v), np.eye(4))
    assert vertices(3, dtype=jnp.float32).dtype == jnp.float32
    with pytest.raises(ValueError, match="`n_utilities`"):
        vertices(0)


@pytest.mark.parametrize("n1", [2, 5, 64])
def test_sample_simplex_is_dirichlet_one(n1):
    # Under Dirichlet(1,...,1) each coordinate is Beta(1, n) (independent closed form); KS test.
    w = sample_simplex(jax.random.PRNGKey(n1), n1, (4000,))
    assert w.shape == (4000, n1) and w.dtype == jnp.float64
    wn = np.asarray(w)
    assert np.all(wn >= 0) and np.allclose(wn.sum(-1), 1.0, atol=1e-12)
    for j in (0, n1 - 1):
        assert stats.kstest(wn[:, j], stats.beta(1, n1 - 1).cdf).pvalue > 1e-3
    # exchangeable: all coordinate means 1/(n+1) within 5 standard errors
    se = np.sqrt((n1 - 1) / (n1**2 * (n1 + 1)) / 4000)
    assert np.max(np.abs(wn.mean(0) - 1 / n1)) < 5 * se


def test_sample_simplex_float32_jit_and_shape():
    s = jax.jit(sample_simplex, static_argnums=(1, 2, 3))(jax.random.PRNGKey(1), 3, (2, 5), jnp.float32)
    assert s.shape == (2, 5, 3) and s.dtype == jnp.float32
    assert np.allclose(np.asarray(s).sum(-1), 1.0, atol=1e-6)
    check_weights(s)
    with pytest.raises(ValueError, match="`n_utilities`"):
        sample_simplex(jax.random.PRNGKey(0), 1.5)


def test_mix_is_the_segment():
    a, b = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 0.5, 0.5])
    t = jnp.array([0.0, 0.25, 1.0])
    m = mix(a, b, t)
    np.testing.assert_allclose(np.asarray(m), [[1, 0, 0], [0.75, 0.125, 0.125], [0, 0.5, 0.5]])
    # grad in t is the direction b - a
    np.testing.assert_allclose(np.asarray(jax.jacfwd(lambda s: mix(a, b, s))(0.3)), np.asarray(b - a))


@pytest.mark.parametrize("r", [1, 4, 10])
def test_barycentric_grid_covers_the_2_simplex(r):
    g = np.asarray(barycentric_grid(r))
    assert g.shape == ((r + 1) * (r + 2) // 2, 3)
    assert np.allclose(g.sum(-1), 1.0) and np.all(g >= 0)
    assert len({tuple(np.round(x * r).astype(int)) for x in g}) == g.shape[0]
    for v in np.eye(3):
        assert np.any(np.all(np.isclose(g, v), axis=1))
    with pytest.raises(ValueError, match="`resolution`"):
        barycentric_grid(0)


def test_to_cartesian_is_an_equilateral_triangle():
    c = np.asarray(to_cartesian(jnp.eye(3)))
    d = [np.linalg.norm(c[i] - c[j]) for i, j in ((0, 1), (1, 2), (0, 2))]
    np.testing.assert_allclose(d, 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(to_cartesian(jnp.full(3, 1 / 3))), [0.5, np.sqrt(3) / 6], rtol=1e-14)
    assert to_cartesian(barycentric_grid(3)).shape == (10, 2)
    with pytest.raises(ValueError, match="`w`"):
        to_cartesian(jnp.ones(4) / 4)


@given(st.lists(st.floats(-10, 10), min_size=6, max_size=6))
def test_project_tangent_is_the_orthogonal_projection(x):
    x = jnp.asarray(x)
    p = np.asarray(project_tangent(x))
    expected = (np.eye(6) - np.ones((6, 6)) / 6) @ np.asarray(x)  # independent: the projection matrix
    np.testing.assert_allclose(p, expected, atol=1e-12)
    assert abs(p.sum()) < 1e-11


@pytest.mark.parametrize("n1", [2, 3, 17, 64])
def test_tangent_basis_is_orthonormal_and_spans_sum_zero(n1):
    b = np.asarray(tangent_basis(n1))
    assert b.shape == (n1, n1 - 1)
    np.testing.assert_allclose(b.T @ b, np.eye(n1 - 1), atol=1e-13)
    np.testing.assert_allclose(np.ones(n1) @ b, 0.0, atol=1e-13)
    np.testing.assert_allclose(b @ b.T, np.eye(n1) - 1.0 / n1, atol=1e-13)
    assert tangent_basis(n1, dtype=jnp.float32).dtype == jnp.float32


def test_project_tangent_under_jit_vmap_grad():
    x = jax.random.normal(jax.random.PRNGKey(2), (7, 4))
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(project_tangent))(x)), np.asarray(project_tangent(x)), atol=1e-14)
    # d/dx of sum(P x * c) = P c (P symmetric)
    c = jnp.arange(4.0)
    gr = jax.grad(lambda y: jnp.dot(project_tangent(y), c))(x[0])
    np.testing.assert_allclose(np.asarray(gr), np.asarray(c - c.mean()), atol=1e-14)
    assert project_tangent(jnp.ones(3, jnp.float32)).dtype == jnp.float32
