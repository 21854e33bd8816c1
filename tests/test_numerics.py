"""The shared numerical helpers against NumPy (independent implementations)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mpmath as mp

from sumjax._numerics import log, log1p, quantile, sort_floats

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


_log, _log1p = jax.jit(log), jax.jit(log1p)
_TINY = np.finfo(np.float64).tiny


def _ulps(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 64), elements=st.floats(_TINY, 1.7e308)))
def test_log_within_one_ulp_of_mpmath(x):
    # mpmath at 30 digits, rounded to float64, is the reference; fdlibm's bound is < 1 ulp.
    with mp.workdps(30):
        ref = np.array([float(mp.log(mp.mpf(v))) for v in x])
    assert _ulps(np.asarray(_log(jnp.asarray(x))), ref).max() <= 1.0


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 64), elements=st.one_of(
    st.floats(-1.0, 1.0, exclude_min=True), st.floats(1.0, 1.7e308),
    st.floats(-1e-8, 1e-8).filter(lambda v: abs(v) >= _TINY or v == 0.0))))
def test_log1p_within_two_ulp_of_mpmath(x):
    x = np.where(np.abs(x) < _TINY, 0.0, x)  # XLA:CPU flushes subnormals to zero (as its own log1p does)
    with mp.workdps(40):
        ref = np.array([float(mp.log1p(mp.mpf(v))) for v in x])
    got = np.asarray(_log1p(jnp.asarray(x)))
    nz = ref != 0
    assert np.all(got[~nz] == 0.0)
    assert not nz.any() or _ulps(got[nz], ref[nz]).max() <= 2.0


def test_log_and_log1p_edges_and_gradients():
    x = jnp.asarray([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 2.0**-1022, 1.7976931348623157e308])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(_log(x)), np.log(np.asarray(x)))
        y = jnp.asarray([-1.0, -2.0, np.inf, -np.inf, np.nan, 0.0, -0.5, 1e308])
        np.testing.assert_array_equal(np.asarray(_log1p(y)), np.log1p(np.asarray(y)))
    # derivatives 1/x and 1/(1+x), also under vmap; float32 passes through to XLA's own functions
    v = jnp.asarray([0.25, 1.0, 3.0, 1e-300])
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(log))(v)), 1.0 / np.asarray(v), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(log1p))(v)), 1.0 / (1.0 + np.asarray(v)), rtol=1e-15)
    f32 = jnp.asarray([0.5, 2.0], jnp.float32)
    assert log(f32).dtype == jnp.float32 and log1p(f32).dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(log(f32)), np.log(np.asarray(f32)), rtol=1e-6)
