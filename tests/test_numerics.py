"""The shared numerical helpers against NumPy (independent implementations)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sumjax._numerics import quantile, sort_floats

_sort = jax.jit(sort_floats)
_quantile = jax.jit(quantile)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 64), elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_sort_floats_matches_numpy(x):
    # NumPy's sort is the reference: ±inf in place, −0 beside +0 (equal as floats), NaNs last.
    np.testing.assert_array_equal(np.asarray(_sort(jnp.asarray(x))), np.sort(x))


def test_sort_floats_float32_and_signed_zero():
    x = np.array([0.0, -0.0, -1.5, np.inf, -np.inf, np.nan, 3.0, -np.nan], np.float32)
    out = np.asarray(_sort(jnp.asarray(x)))
    np.testing.assert_array_equal(out, np.sort(x))
    assert out.dtype == np.float32 and np.signbit(out[2]) and not np.signbit(out[3])  # −0 before +0


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e300, 1e300)),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_quantile_matches_numpy(x, q):
    got = np.asarray(_quantile(jnp.asarray(x), jnp.asarray(q)))
    np.testing.assert_allclose(got, np.quantile(x, q), rtol=1e-12, atol=1e-300)


def test_quantile_nan_propagates():
    x = jnp.asarray([1.0, np.nan, 2.0, 3.0])
    assert np.all(np.isnan(np.asarray(_quantile(x, jnp.asarray([0.0, 0.5, 1.0])))))


def test_quantile_on_an_infinite_order_statistic_is_that_infinity():
    # With frac = 0 the neighbour's weight is 0; inf·0 must not turn the result into NaN.
    x = jnp.asarray([-np.inf, 1.0, 2.0, np.inf])
    got = np.asarray(_quantile(x, jnp.asarray([0.0, 1.0 / 3.0, 1.0])))
    np.testing.assert_array_equal(got, [-np.inf, 1.0, np.inf])
