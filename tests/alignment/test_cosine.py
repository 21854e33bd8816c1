"""The cosine law p_d(c): against SciPy's Beta law and mpmath, edge limits, gradients, errors."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as ss
from hypothesis import given
from hypothesis import strategies as st

from sumjax.alignment import cosine_log_normaliser, cosine_logpdf

_logpdf = jax.jit(cosine_logpdf)


def test_against_scipy_beta():
    # (1 + c)/2 ~ Beta((d-1)/2, (d-1)/2), so log p_d(c) = log beta.pdf((1+c)/2) - log 2
    c = np.linspace(-0.999, 0.999, 41)
    for d in (2.0, 2.5, 3.0, 4.0, 7.3, 100.0):
        a = (d - 1) / 2
        ref = ss.beta.logpdf((1 + c) / 2, a, a) - np.log(2)
        np.testing.assert_allclose(np.asarray(_logpdf(jnp.asarray(c), d)), ref, rtol=1e-12, atol=1e-12)
    # large d (SciPy's betaln loses ~1e-11 there): mpmath at 40 digits
    with mp.workdps(40):
        for d in (5000.0, 1e6):
            ref = [float((mp.mpf(d) - 3) / 2 * mp.log(1 - mp.mpf(x) ** 2) - mp.log(mp.beta(0.5, (mp.mpf(d) - 1) / 2))) for x in c[::8]]
            np.testing.assert_allclose(np.asarray(_logpdf(jnp.asarray(c[::8]), d)), ref, rtol=1e-13, atol=1e-13)


def test_normaliser_against_mpmath_large_d():
    d = np.array([2.0, 2.5, 3.0, 17.0, 18.0, 1e3, 1e5, 1e6, 1e6 + 0.3, 1e9])
    with mp.workdps(40):  # 1e6 + 0.3 needs more than double precision to represent exactly
        ref = np.array([float(mp.log(mp.beta(mp.mpf(1) / 2, (mp.mpf(x) - 1) / 2))) for x in d])
    # ~1e-16 ABSOLUTE: the difference of two lgamma values of size 1e6 would lose 1e-9
    np.testing.assert_allclose(np.asarray(cosine_log_normaliser(d)), ref, rtol=0, atol=5e-15)
    assert abs(float(cosine_log_normaliser(2.0)) - np.log(np.pi)) < 1e-15


@given(st.floats(2.0, 60.0))
def test_density_integrates_to_one(d):
    # θ-form: ∫₀^π sin^{d-2}θ dθ = B(½, (d-1)/2)
    val = si.quad(lambda t: np.sin(t) ** (d - 2), 0, np.pi, epsabs=0, epsrel=1e-13)[0]
    assert abs(np.log(val) - float(cosine_log_normaliser(d))) < 1e-12


def test_edges_and_outside():
    d = jnp.array([2.0, 2.5, 3.0, 3.5, 1e6])
    for c in (1.0, -1.0):
        v = np.asarray(cosine_logpdf(c, d))
        assert v[0] == np.inf and v[1] == np.inf and v[3] == -np.inf and v[4] == -np.inf
        assert v[2] == pytest.approx(-np.log(2.0), abs=1e-15)  # d = 3: uniform on [-1, 1]
    out = np.asarray(cosine_logpdf(jnp.array([1.5, -1.0000001, 7.0]), 3.0))
    assert np.all(out == -np.inf)
    # accurate right up to the endpoint (log1p(-c) + log1p(c), not log(1 - c²))
    c = 1 - 1e-15
    with mp.workdps(40):  # 1 - c² cancels at 15 digits
        ref = float(((mp.mpf(4) - 3) / 2) * mp.log(1 - mp.mpf(c) ** 2) - mp.log(mp.beta(0.5, 1.5)))
    assert float(cosine_logpdf(c, 4.0)) == pytest.approx(ref, rel=1e-14)


_grad = jax.jit(jax.vmap(jax.grad(cosine_logpdf, argnums=(0, 1))))


def test_gradients_jit_vmap():
    c = jnp.array([-0.9, -0.2, 0.0, 0.4, 0.99, 1.0, -1.0, 0.3])
    d = jnp.array([2.0, 3.0, 4.5, 100.0, 1e6, 5.0, 2.0, 2.0])
    gc, gd = _grad(c, d)
    assert not np.any(np.isnan(np.asarray(gc))) and np.all(np.isfinite(np.asarray(gd[:5])))
    # analytic: ∂c log p = -(d-3)c/(1-c²)
    np.testing.assert_allclose(np.asarray(gc[:5]), np.asarray(-(d[:5] - 3) * c[:5] / (1 - c[:5] ** 2)), rtol=1e-12)
    # ∂d by central differences (points with d > 2, so d - h stays valid)
    h = 1e-6 * d[1:5]
    fd = (_logpdf(c[1:5], d[1:5] + h) - _logpdf(c[1:5], d[1:5] - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(gd[1:5]), np.asarray(fd), rtol=1e-6, atol=1e-9)
    # float32 in, float32 out, accurate
    out32 = cosine_logpdf(jnp.asarray(c[:5], jnp.float32), jnp.asarray(d[:5], jnp.float32))
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out32), np.asarray(_logpdf(c[:5], d[:5])), rtol=2e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="`d`"):
        cosine_logpdf(0.1, 1.5)
    with pytest.raises(ValueError, match="`c`"):
        cosine_logpdf(jnp.nan, 3.0)
    with pytest.raises(ValueError, match="`d`"):
        cosine_log_normaliser(jnp.array([3.0, jnp.nan]))
    with pytest.raises(Exception, match="`d`"):
        jax.block_until_ready(_logpdf(jnp.array([0.1, 0.2]), jnp.array([3.0, 1.0])))
