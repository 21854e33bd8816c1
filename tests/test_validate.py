"""The validation helpers: eager errors on concrete input, runtime errors under jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax._validate import check_finite, check_range, check_shape, check_simplex


def test_check_range_eager_names_argument_and_range():
    with pytest.raises(ValueError, match=r"`d` must lie in \[2, inf\); got 1.0"):
        check_range(1.0, "d", 2.0)
    with pytest.raises(ValueError, match="`power`"):
        check_range(jnp.array([1.0, -2.0]), "power", 0.0)
    with pytest.raises(ValueError, match="`kappa`"):
        check_range(jnp.nan, "kappa", 0.0)
    np.testing.assert_array_equal(check_range(jnp.arange(3.0), "x", 0.0, 2.0), jnp.arange(3.0))


def test_check_range_under_jit_and_vmap():
    f = jax.jit(lambda x: check_range(x, "beta", 0.0) * 2)
    assert float(f(1.5)) == 3.0
    with pytest.raises(Exception, match="`beta` must lie in"):
        f(-1.0).block_until_ready()
    g = jax.vmap(lambda x: check_range(x, "beta", 0.0))
    with pytest.raises(Exception, match="`beta` must lie in"):
        jax.block_until_ready(g(jnp.array([1.0, -1.0])))


def test_check_range_is_transparent_to_grad():
    g = jax.grad(lambda x: check_range(x, "x", 0.0) ** 2)
    assert float(g(3.0)) == pytest.approx(6.0)
    assert float(jax.jit(g)(3.0)) == pytest.approx(6.0)


def test_check_simplex_and_finite_and_shape():
    check_simplex(jnp.array([0.25, 0.75]), "w")
    with pytest.raises(ValueError, match="simplex"):
        check_simplex(jnp.array([0.5, 0.6]), "w")
    with pytest.raises(ValueError, match="simplex"):
        check_simplex(jnp.array([-0.5, 1.5]), "w")
    with pytest.raises(ValueError, match="finite"):
        check_finite(jnp.array([1.0, jnp.inf]), "x")
    with pytest.raises(ValueError, match=r"shape \(\*, 3\)"):
        check_shape(jnp.zeros((2, 4)), "values", (None, 3))
