"""Utilities: values against NumPy, symmetric-part semantics, validation, jit/vmap/grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sumjax as sj

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 3))


def test_linear_utility():
    u = sj.LinearUtility(np.array([1.0, -2.0, 0.5]), 0.25)
    np.testing.assert_allclose(np.asarray(u(X)), X @ [1.0, -2.0, 0.5] + 0.25, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(u))(X)), np.asarray(u(X)), rtol=1e-15)
    g = jax.grad(lambda v: sj.LinearUtility(v)(X[0]))(np.ones(3))
    np.testing.assert_allclose(np.asarray(g), X[0])
    assert u.dim == 3
    assert sj.LinearUtility(jnp.ones(2, jnp.float32))(np.ones(2, np.float32)).dtype == jnp.float32


def test_quadratic_utility_depends_on_symmetric_part_only():
    A = rng.normal(size=(3, 3))
    b = rng.normal(size=3)
    u = sj.QuadraticUtility(A, b, -1.0)
    ref = -0.5 * np.einsum("ni,ij,nj->n", X, A, X) + X @ b - 1.0
    np.testing.assert_allclose(np.asarray(u(X)), ref, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(sj.QuadraticUtility(0.5 * (A + A.T), b, -1.0)(X)), ref, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(u.A_sym), 0.5 * (A + A.T))
    # ∇_x U = −sym(A)x + b, under jit and vmap
    g = jax.jit(jax.vmap(jax.grad(u)))(X)
    np.testing.assert_allclose(np.asarray(g), -X @ (0.5 * (A + A.T)) + b, rtol=1e-12)


def test_tabular_utility():
    u = sj.TabularUtility(np.array([3.0, 1.0, 2.0]))
    assert float(u(2)) == 2.0 and u.n == 3
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(u))(jnp.arange(3))), [3.0, 1.0, 2.0])
    g = jax.grad(lambda v: sj.TabularUtility(v)(1))(np.zeros(3))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 1.0, 0.0])


def test_utility_errors():
    with pytest.raises(ValueError, match="`u`"):
        sj.LinearUtility(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        sj.LinearUtility(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="`A`"):
        sj.QuadraticUtility(np.eye(3), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        sj.QuadraticUtility(np.eye(2), np.array([np.inf, 0.0]))
    with pytest.raises(ValueError, match="offset"):
        sj.LinearUtility(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        sj.TabularUtility(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="non-empty"):
        sj.TabularUtility(np.zeros(0))
