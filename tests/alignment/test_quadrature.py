"""The θ-quadrature route against the Bessel route (two independent computations), against
SciPy quadrature for user functions, gradients, float32, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sc

from sumjax.alignment import (
    vmf_expectation,
    vmf_kl,
    vmf_kl_quadrature,
    vmf_log_mgf,
    vmf_log_mgf_quadrature,
    vmf_mean,
    vmf_mean_complement,
    vmf_mean_complement_quadrature,
    vmf_mean_quadrature,
)


def _quad4(k, d):
    return jnp.stack(
        [vmf_mean_quadrature(k, d), vmf_mean_complement_quadrature(k, d), vmf_log_mgf_quadrature(k, d), vmf_kl_quadrature(k, d)]
    )


def _bessel4(k, d):
    return jnp.stack([vmf_mean(k, d), vmf_mean_complement(k, d), vmf_log_mgf(k, d), vmf_kl(k, d)])


_both = jax.jit(lambda k, d: (_quad4(k, d), _bessel4(k, d)))

# log-spaced grid over d ∈ [2, 1e6] (with d = 2, 3 and non-integer d) and κ ∈ [0, 1e7]
_D = np.array([2.0, 2.0001, 2.3, 2.5, 3.0, 3.7, 5.0, 10.0, 31.4, 100.0, 1e3, 1e4, 1e5, 1e6])
_K = np.concatenate([[0.0, 1e-300, 1e-12, 1e-6], np.geomspace(1e-3, 1e7, 31)])
_KK, _DD = (a.ravel() for a in np.meshgrid(_K, _D))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.where(b == 0, 1.0, np.abs(b))


_REF = {}


def _grid_f64():
    if not _REF:  # one evaluation (and one compilation) of the float64 grid, shared
        _REF["q"], _REF["b"] = (np.asarray(v) for v in _both(jnp.asarray(_KK), jnp.asarray(_DD)))
    return _REF["q"], _REF["b"]


def test_quadrature_matches_bessel_float64():
    q, b = _grid_f64()
    assert np.all(np.isfinite(q))
    rel = _rel(q, b)
    assert rel.max() < 1e-11, (rel.max(), np.unravel_index(rel.argmax(), rel.shape))


def test_quadrature_matches_bessel_float32():
    q, b = _both(jnp.asarray(_KK, jnp.float32), jnp.asarray(_DD, jnp.float32))
    assert q.dtype == jnp.float32 and b.dtype == jnp.float32
    keep = (_KK == 0) | (_KK >= 1e-6)  # κ²/(2d) must stay representable in float32
    ref = _grid_f64()[1][:, keep]
    assert _rel(np.asarray(q)[:, keep], ref).max() < 1e-5 and _rel(np.asarray(b)[:, keep], ref).max() < 1e-5


def _scipy_expectation(fn, k, d):
    """E[fn(c)] under vMF by scipy.integrate.quad (adaptive Gauss–Kronrod) over θ, c = cos θ,
    with density ∝ e^{κ(cos θ - 1)} sin^{d-2}θ, breakpoints at the mode and at θ = π/2."""
    grid = np.linspace(1e-9, np.pi - 1e-9, 20001)
    logf = lambda t: k * (np.cos(t) - 1) + (d - 2) * np.log(np.sin(t))  # noqa: E731
    mode = grid[np.argmax(logf(grid))]
    shift = logf(mode)
    dens = lambda t: np.exp(logf(t) - shift)  # noqa: E731
    kw = dict(points=sorted({mode, 0.5 * np.pi}), epsabs=0, epsrel=1e-13, limit=500)
    Z = si.quad(dens, 0, np.pi, **kw)[0]
    return si.quad(lambda t: fn(np.cos(t)) * dens(t), 0, np.pi, **kw)[0] / Z


_user_fns = {
    "relu_neg": (lambda c: jnp.maximum(0.0, -c), lambda c: max(0.0, -c)),
    "square": (lambda c: c * c, lambda c: c * c),
    "cubic": (lambda c: c**3 - 0.5 * c, lambda c: c**3 - 0.5 * c),
}
_EK = jnp.array([0.0, 0.7, 3.0, 12.0, 0.5, 40.0])
_ED = jnp.array([3.0, 2.0, 5.5, 20.0, 200.0, 9.0])


@pytest.mark.parametrize("name", sorted(_user_fns))
def test_vmf_expectation_against_scipy(name):
    jfn, pfn = _user_fns[name]
    got = np.asarray(vmf_expectation(jfn, _EK, _ED))
    ref = np.array([_scipy_expectation(pfn, float(k), float(d)) for k, d in zip(_EK, _ED)])
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)


def test_vmf_expectation_identities():
    # E[1] = 1, E[c] = A_d(κ), E[c²] = 1 - (d-1)A/κ (from M'' / M), across the range
    k = jnp.array([1e-3, 1.0, 50.0, 1e4, 1e7, 3e3])
    d = jnp.array([2.0, 2.5, 7.0, 1e3, 1e6, 1e6])
    one, c1, c2 = (np.asarray(vmf_expectation(f, k, d)) for f in (jnp.ones_like, lambda c: c, lambda c: c * c))
    A = np.asarray(vmf_mean(k, d))
    np.testing.assert_allclose(one, 1.0, rtol=1e-14)
    np.testing.assert_allclose(c1, A, rtol=1e-12)
    np.testing.assert_allclose(1 - c2, (np.asarray(d) - 1) * A / np.asarray(k), rtol=1e-9)


_qgrad = jax.jit(jax.vmap(jax.grad(lambda k, d: vmf_kl_quadrature(k, d) + vmf_mean_quadrature(k, d), argnums=(0, 1))))
_relu = lambda c: jnp.maximum(0.0, -c)  # noqa: E731
_evals_grads = jax.jit(
    lambda k, d: (vmf_expectation(_relu, k, d), jax.vmap(jax.grad(lambda k, d: vmf_expectation(_relu, k, d), argnums=(0, 1)))(k, d))
)


def test_quadrature_gradients():
    # reverse-mode gradients of the quadrature route vs central differences of the Bessel route
    k = np.array([0.0, 0.0, 0.5, 1e7, 60.0, 1e4, 1e7, 2e3])
    d = np.array([2.0, 9.0, 2.0, 2.0, 30.0, 1e3, 1e6, 1e6])
    qk, qd = (np.asarray(g) for g in _qgrad(jnp.asarray(k), jnp.asarray(d)))
    assert np.all(np.isfinite(qk)) and np.all(np.isfinite(qd))
    # at κ = 0: D' = 0, A' = 1/d, ∂_d = 0
    np.testing.assert_allclose(qk[:2], 1 / d[:2], rtol=1e-12)
    assert np.all(np.abs(qd[:2]) < 1e-14)
    kk, dd = k[2:], d[2:]
    hk, hd = 1e-6 * kk, 1e-6 * dd
    pts_k = np.concatenate([kk + hk, kk - hk, kk, kk])
    lo = np.maximum(dd - hd, 2.0)  # at d = 2 (allowed) a one-sided difference
    pts_d = np.concatenate([dd, dd, dd + hd, lo])
    n = pts_k.size  # padded to the grid's shape: reuses that compilation
    pad_k = np.concatenate([pts_k, np.ones(_KK.size - n)])
    pad_d = np.concatenate([pts_d, np.full(_KK.size - n, 3.0)])
    _, b = (np.asarray(v)[:, :n] for v in _both(jnp.asarray(pad_k), jnp.asarray(pad_d)))
    f = (b[3] + b[0]).reshape(4, -1)
    np.testing.assert_allclose(qk[2:], (f[0] - f[1]) / (2 * hk), rtol=1e-6)
    np.testing.assert_allclose(qd[2:], (f[2] - f[3]) / (dd + hd - lo), rtol=1e-5, atol=1e-9)
    # a user harm functional E[max(0, -c)]: gradient vs central differences of itself
    k2, d2 = jnp.array([0.3, 2.0, 8.0, 0.3, 2.0, 8.0, 0.3, 2.0, 8.0]), jnp.array([3.0, 10.0, 4.5] * 3)
    h = 1e-5
    step = jnp.array([0.0] * 3 + [h] * 3 + [-h] * 3)
    v, (ek, ed) = _evals_grads(k2 + step, d2)
    vd, _ = _evals_grads(k2[:3].repeat(3) * 0 + jnp.tile(k2[:3], 3), d2 + step)
    np.testing.assert_allclose(np.asarray(ek[:3]), np.asarray((v[3:6] - v[6:]) / (2 * h)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ed[:3]), np.asarray((vd[3:6] - vd[6:]) / (2 * h)), rtol=1e-6)
    assert np.asarray(ek[:3]).max() < 0  # more alignment, less expected harm


def test_scipy_vonmises_fisher_scale_is_covered():
    # SciPy's vonmises_fisher entropy is NaN at d = 10⁴; here the KL (= log|S^{d-1}| - entropy)
    # is finite and both routes agree at d = 10⁴, 10⁵, 10⁶.
    d = jnp.array([1e4, 1e5, 1e6])
    k = jnp.array([50.0, 2e3, 1e6])
    q, b = vmf_kl_quadrature(k, d), vmf_kl(k, d)
    assert np.all(np.isfinite(np.asarray(q)))
    np.testing.assert_allclose(np.asarray(q), np.asarray(b), rtol=1e-11)
    # at small κ D ≈ κ²/(2d), independently of both routes
    np.testing.assert_allclose(np.asarray(vmf_kl_quadrature(1e-4, d)), 1e-8 / (2 * np.asarray(d)), rtol=1e-7)
    assert sc.gammaln(0.5) > 0  # (scipy imported for the reference above)


def test_bad_input():
    with pytest.raises(ValueError, match="kappa"):
        vmf_mean_quadrature(-1.0, 3.0)
    with pytest.raises(ValueError, match="`d`"):
        vmf_kl_quadrature(1.0, 1.9)
    with pytest.raises(ValueError, match="`d`"):
        vmf_expectation(jnp.abs, 1.0, jnp.nan)
    with pytest.raises(ValueError, match="n_nodes"):
        vmf_mean_quadrature(1.0, 3.0, n_nodes=2)
    with pytest.raises(Exception, match="kappa"):
        jax.block_until_ready(_evals_grads(jnp.array([1.0, -2.0] + [1.0] * 7), jnp.full(9, 3.0))[0])
