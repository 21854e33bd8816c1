"""Samplers against independent laws: SciPy's Beta and von Mises–Fisher, quadrature of the 1-D
density, Amos' bounds on the Bessel ratio, with Monte Carlo errors stated as k·σ/√N."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sp
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hs

from sumjax.alignment import sample_cosine, sample_uniform_sphere, sample_vmf

K_SIGMA = 5.0  # Monte Carlo tolerance: 5 standard errors (two-sided p ≈ 6e-7 per check)


def bessel_ratio(kappa, d):
    """A_d(κ) = I_{d/2}(κ)/I_{d/2−1}(κ) from SciPy's scaled Bessel functions (moderate κ, d)."""
    return sp.ive(d / 2, kappa) / sp.ive(d / 2 - 1, kappa)


def amos_bounds(kappa, d):
    """Amos (1974) bounds on I_{ν+1}/I_ν with ν = d/2 − 1; width O(1/κ²) relative for large κ."""
    nu = d / 2 - 1
    lo = kappa / (nu + 1 + np.sqrt(kappa**2 + (nu + 1) ** 2))
    hi = kappa / (nu + 0.5 + np.sqrt(kappa**2 + (nu + 1.5) ** 2))
    return lo, hi


def cosine_cdf(kappa, d):
    """CDF of the tilted cosine law by quadrature of exp(κ(c − 1))(1 − c²)^{(d−3)/2}."""
    f = lambda c: np.exp(kappa * (c - 1)) * (1 - c * c) ** ((d - 3) / 2)
    z = si.quad(f, -1, 1, limit=200)[0]
    return np.vectorize(lambda x: si.quad(f, -1, x, limit=200)[0] / z)


_cos = jax.jit(sample_cosine, static_argnums=(3,))


@pytest.mark.parametrize("d", [2.0, 3.0, 10.0, 57.5, 1000.0])
def test_uniform_cosine_is_beta(d):
    c = np.asarray(_cos(jax.random.key(1), 0.0, d, (20000,)))
    a = (d - 1) / 2
    assert st.kstest((1 + c) / 2, st.beta(a, a).cdf).pvalue > 1e-3
    assert np.all(np.abs(c) <= 1)


@pytest.mark.parametrize("kappa,d", [(0.5, 2.0), (3.0, 3.0), (20.0, 5.0), (7.0, 40.5)])
def test_tilted_cosine_ks_against_quadrature(kappa, d):
    c = np.asarray(_cos(jax.random.key(2), kappa, d, (4000,)))
    assert st.kstest(c, cosine_cdf(kappa, d)).pvalue > 1e-3


def test_cosine_mean_against_bessel_ratio_vmapped():
    kappa = jnp.array([0.0, 0.1, 1.0, 10.0, 300.0, 2000.0])
    d = jnp.array([2.0, 7.0, 3.0, 100.0, 50.0, 3000.0])
    n = 20000
    keys = jax.random.split(jax.random.key(3), kappa.size)
    c = jax.vmap(lambda k, ka, dd: sample_cosine(k, ka, dd, (n,)))(keys, kappa, d)
    c = np.asarray(c)
    mean, se = c.mean(1), c.std(1, ddof=1) / np.sqrt(n)
    exact = bessel_ratio(np.asarray(kappa), np.asarray(d))
    assert np.all(np.abs(mean - exact) < K_SIGMA * se)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kappa,d", [(1e7, 1e6), (1e7, 3.0), (1e3, 1e6), (0.0, 1e6)])
def test_extreme_kappa_and_dimension(dtype, kappa, d):
    n = 4000
    c, cc = sample_cosine(jax.random.key(4), jnp.asarray(kappa, dtype), jnp.asarray(d, dtype), (n,), return_complement=True)
    assert c.dtype == dtype and cc.dtype == dtype
    c, cc = np.asarray(c, np.float64), np.asarray(cc, np.float64)
    assert np.all(np.isfinite(c)) and np.all(cc >= 0) and np.all(cc <= 2)
    lo, hi = amos_bounds(kappa, d) if kappa > 0 else (0.0, 0.0)
    # The complement carries the relative accuracy: compare E[1 − c] with 1 − A_d(κ).
    se = cc.std(ddof=1) / np.sqrt(n)
    assert 1 - hi - K_SIGMA * se - 1e-12 <= cc.mean() <= 1 - lo + K_SIGMA * se + 1e-12
    # c and 1 − c agree with each other to the dtype's rounding.
    assert np.max(np.abs((1 - c) - cc)) < 4 * np.finfo(dtype).eps
    if kappa == 0:  # uniform: Var c = 1/d
        var = c.var()
        assert abs(var * d - 1) < K_SIGMA * np.sqrt(2 / n)


def test_uniform_sphere_and_vmf_norms_and_mean():
    k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
    u = sample_uniform_sphere(k1, 50, (3000,))
    assert u.shape == (3000, 50)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1, atol=1e-14)
    assert np.all(np.abs(np.asarray(u).mean(0)) < K_SIGMA / np.sqrt(50 * 3000))
    mu = sample_uniform_sphere(k2, 50)
    kappa = 40.0
    x = np.asarray(sample_vmf(k3, mu, kappa, (20000,)))
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1, atol=1e-13)
    c = x @ np.asarray(mu)
    assert abs(c.mean() - bessel_ratio(kappa, 50)) < K_SIGMA * c.std() / np.sqrt(x.shape[0])
    perp = x - c[:, None] * np.asarray(mu)[None]
    # E[a] = A μ exactly, so the orthogonal part averages to zero in every coordinate.
    assert np.all(np.abs(perp.mean(0)) < K_SIGMA * perp.std(0) / np.sqrt(x.shape[0]) + 1e-12)


@pytest.mark.parametrize("d,kappa", [(2, 3.0), (3, 5.0)])
def test_vmf_against_scipy(d, kappa):
    mu = np.zeros(d)
    mu[-1] = 1.0
    mu = np.roll(mu, 1) * 0.6 + np.roll(mu, 2) * 0.8 if d > 2 else np.array([0.6, 0.8])
    ours = np.asarray(sample_vmf(jax.random.key(6), jnp.asarray(mu), kappa, (3000,)))
    ref = st.vonmises_fisher(mu, kappa).rvs(3000, random_state=np.random.default_rng(0))
    for j in range(d):
        assert st.ks_2samp(ours[:, j], ref[:, j]).pvalue > 1e-3


def test_vmf_mean_direction_e1_and_minus_e1():
    # μ = e₁ is the degenerate reflection (identity); μ = −e₁ the opposite extreme. One batched call.
    mu = jnp.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    x = np.asarray(sample_vmf(jax.random.key(7), mu, 10.0, (10000, 2)))
    c = np.einsum("nkd,kd->nk", x, np.asarray(mu))
    assert np.all(np.abs(c.mean(0) - bessel_ratio(10.0, 3)) < K_SIGMA * c.std(0) / 100)
    grad = jax.grad(lambda m: sample_vmf(jax.random.key(7), m, 10.0, (4,)).sum())(mu[0])
    assert np.all(np.isfinite(grad))


def test_jit_vmap_and_pathwise_gradient_in_mean_direction():
    key = jax.random.key(8)
    f = jax.jit(lambda mu: sample_vmf(key, mu, 3.0, (5,)))
    mus = sample_uniform_sphere(jax.random.key(9), 4, (3,))
    out = jax.vmap(f)(mus)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(out[1], f(mus[1]), atol=1e-14)
    # Given the key, a sample is a smooth function of μ: check the pathwise gradient by finite differences.
    w = jnp.arange(20.0).reshape(5, 4) / 20
    g = lambda mu: jnp.sum(w * f(mu))
    mu = mus[0]
    grad = jax.grad(g)(mu)
    e = jnp.array([0.3, -0.2, 0.5, 0.1])
    e = e - jnp.dot(e, mu) * mu  # tangent, so μ ± he stays on the sphere to O(h²)
    h = 1e-6
    fd = (g(mu + h * e) - g(mu - h * e)) / (2 * h)
    # μ + he is off the unit sphere by O(h²) only, inside the validation tolerance.
    np.testing.assert_allclose(jnp.dot(grad, e), fd, rtol=1e-6, atol=1e-8)


def test_not_differentiable_in_kappa_raises():
    with pytest.raises(NotImplementedError, match="not differentiable"):
        jax.grad(lambda k: sample_cosine(jax.random.key(0), k, 5.0))(1.0)
    with pytest.raises(NotImplementedError, match="not differentiable"):
        jax.grad(lambda k: sample_vmf(jax.random.key(0), jnp.array([1.0, 0.0, 0.0]), k).sum())(1.0)


_cos64 = jax.jit(lambda k, ka, d: sample_cosine(k, ka, d, (64,), return_complement=True))


@given(hs.floats(0.0, 1e4), hs.floats(2.0, 1e5))
def test_property_cosine_in_range(kappa, d):
    c, cc = _cos64(jax.random.key(10), jnp.float64(kappa), jnp.float64(d))
    c, cc = np.asarray(c), np.asarray(cc)
    assert np.all(np.isfinite(c)) and np.all((c >= -1) & (c <= 1)) and np.all((cc >= 0) & (cc <= 2))


def test_bad_input_raises():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`d`"):
        sample_cosine(key, 1.0, 1.5)
    with pytest.raises(ValueError, match="`kappa`"):
        sample_cosine(key, -1.0, 3.0)
    with pytest.raises(ValueError, match="`kappa`"):
        sample_cosine(key, jnp.nan, 3.0)
    with pytest.raises(ValueError, match="`d`"):
        sample_uniform_sphere(key, 1)
    with pytest.raises(ValueError, match="mean_direction"):
        sample_vmf(key, jnp.array([1.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="mean_direction"):
        sample_vmf(key, jnp.array([1.0]), 1.0)
    with pytest.raises(Exception, match="`kappa`"):
        jax.jit(lambda k: sample_cosine(key, k, 3.0))(-2.0)
    with pytest.raises(Exception, match="mean_direction"):
        jax.jit(lambda mu: sample_vmf(key, mu, 1.0))(jnp.array([2.0, 0.0]))


def test_rbg_keys_under_vmap_terminate_with_the_right_law():
    # rbg keys are not vmap-invariant; the rejection loop re-keys them to threefry, so a vmapped call
    # must finish and give the vMF law: the mean cosine within 5 standard errors of A_d(κ) (Bessel route).
    from sumjax.alignment import vmf_mean

    keys = jax.random.split(jax.random.key(0, impl="rbg"), 8)
    c = jax.jit(jax.vmap(lambda k: sample_cosine(k, 4.0, 9.0, (512,))))(keys)
    assert c.shape == (8, 512) and bool(jnp.all(jnp.isfinite(c)))
    exact = float(vmf_mean(4.0, 9.0))
    assert abs(float(c.mean()) - exact) < 5 * float(c.std()) / np.sqrt(c.size)
    a = jax.vmap(lambda k: sample_vmf(k, jnp.eye(5)[1], 2.0, (64,)))(keys[:2])
    assert a.dtype == jnp.float64 and np.allclose(np.linalg.norm(np.asarray(a), axis=-1), 1.0, atol=1e-12)


# The whole (d, κ) grid in ONE call (κ and d broadcast along the last axis): one compilation.
_GRID_D = np.array([2.0, 3.0, 10.0, 1000.0, 1e6])
_GRID_K = np.array([0.0, 1e-3, 1.0, 100.0, 1e5])
_GD, _GK = (a.ravel() for a in np.meshgrid(_GRID_D, _GRID_K, indexing="ij"))
_N_GRID = 20000


@pytest.fixture(scope="module")
def grid_draws():
    c, cc = sample_cosine(jax.random.key(11), jnp.asarray(_GK), jnp.asarray(_GD), (_N_GRID, _GD.size),
                          return_complement=True)
    return np.asarray(c), np.asarray(cc)


def test_cosine_law_mean_on_grid(grid_draws):
    # E[1 − c] = 1 − A_d(κ) (A from the Bessel-ratio kernel, tested against mpmath in test_vmf), within
    # 5 Monte Carlo standard errors of the complement, which keeps relative accuracy when 1 − A ≪ 1.
    from sumjax.alignment._vmf import mean_complement

    c, cc = grid_draws
    assert np.all(np.isfinite(c)) and np.all((cc >= 0) & (cc <= 2))
    exact = np.asarray(mean_complement(jnp.asarray(_GK), jnp.asarray(_GD)))
    se = cc.std(0, ddof=1) / np.sqrt(_N_GRID)
    z = (cc.mean(0) - exact) / se
    assert np.all(np.abs(z) < K_SIGMA), dict(zip(zip(_GD, _GK), np.round(z, 2)))
    # Second moment: Var c = 1 − (d − 1)A/κ − A² (κ > 0), 1/d at κ = 0; sample variance within 10 %
    # where the variance is not dominated by rounding.
    A = 1 - exact
    var = np.where(_GK > 0, 1 - (_GD - 1) * A / np.where(_GK > 0, _GK, 1) - A * A, 1 / _GD)
    ok = var > 1e-6
    np.testing.assert_allclose(c.var(0)[ok], var[ok], rtol=0.1)


def _cdf_d3(kappa):
    """d = 3: p(c) ∝ e^{κc} on [−1, 1], CDF (e^{κ(c−1)} − e^{−2κ})/(1 − e^{−2κ}) (c at κ = 0: (1 + c)/2)."""
    if kappa == 0:
        return lambda x: (1 + x) / 2
    return lambda x: (np.exp(kappa * (x - 1)) - np.exp(-2 * kappa)) / -np.expm1(-2 * kappa)


@pytest.mark.parametrize("j", [j for j in range(_GD.size) if _GD[j] <= 10 and _GK[j] <= 100])
def test_cosine_law_ks_on_grid(grid_draws, j):
    # KS against the exact CDF: closed form at d = 3, quadrature of the density at d = 2, 10.
    x = grid_draws[0][:2000, j]
    d, kappa = _GD[j], _GK[j]
    cdf = _cdf_d3(kappa) if d == 3 else cosine_cdf(kappa, d)
    assert st.kstest(x, cdf).pvalue > 1e-3
