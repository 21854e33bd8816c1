"""SUM figures 1–2 (E[c] vs D, D* vs d) against SciPy quadrature of the cosine law (independent).

Under vMF(h, κ) in d dimensions c has density ∝ e^{κc}(1 − c²)^{(d−3)/2} on [−1, 1]; E[c] and
D(κ) = κE[c] − log E_unif[e^{κc}] follow by 1-D quadrature. For d = 3: A = coth κ − 1/κ.
"""

import jax.numpy as jnp
import numpy as np
from scipy import integrate, optimize, special

from sumjax.experiments import cosine_mean, required_divergence
from sumjax.experiments._base import FAILS, HOLDS, Context


def _quad_mean_kl(kappa, d):
    """(E[c], D) by quadrature in s = κ(1 − c), which keeps the mass near c = 1 resolved for huge κ;
    the integrand is handled in log space, shifted by its maximum."""
    alpha = 0.5 * (d - 3)
    upper = 2 * kappa
    logw = lambda s: -s + alpha * np.log(s * (2 - s / kappa))  # noqa: E731
    grid = np.linspace(0, upper, 20001)[1:-1]
    mode = grid[np.argmax(logw(grid))] if alpha > 0 else 0.0
    shift = logw(mode) if alpha > 0 else 0.0
    w = lambda s: np.exp(logw(s) - shift) if 0 < s < upper else 0.0  # noqa: E731
    width = 5 * np.sqrt(max(alpha, 1.0))
    pts = sorted({p for p in (mode - width, mode, mode + width, 0.5, 5.0) if 0 < p < upper}) or None
    top = min(upper, mode + 60 * np.sqrt(max(alpha, 1.0)) + 100)  # the rest is below e^-100
    pts = [p for p in pts if p < top] if pts else None
    z = integrate.quad(w, 0, top, limit=400, points=pts)[0]
    es = integrate.quad(lambda s: s * w(s), 0, top, limit=400, points=pts)[0] / z
    mean = 1 - es / kappa
    log_mgf = kappa + np.log(z) + shift - (alpha + 1) * np.log(kappa) - special.betaln(0.5, 0.5 * (d - 1))
    return mean, kappa * mean - log_mgf


def test_cosine_mean_against_quadrature(tmp_path):
    cfg = cosine_mean.Config(dims=(3.0, 10.0), n_divergence=6, n_mc=4000, chunk=12)
    data = cosine_mean.compute(Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False))
    for i, d in enumerate(cfg.dims):
        for j in range(cfg.n_divergence):
            kappa = float(data["kappa"][i, j])
            m, D = _quad_mean_kl(kappa, d)
            np.testing.assert_allclose(data["mean"][i, j], m, rtol=1e-7, atol=1e-10)
            np.testing.assert_allclose(D, data["D"][i, j], rtol=1e-6)
    # Monte Carlo: 4000 draws; mean within 5 standard errors and a 10–90% band around it.
    se = data["mc_std"] / np.sqrt(cfg.n_mc)
    assert np.all(np.abs(data["mc_mean"] - data["mean"]) <= 5 * se + 1e-9)
    assert np.all(data["q10"] <= data["mean"] + 1e-9) and np.all(data["mean"] <= data["q90"] + 1e-9)
    assert [c.verdict for c in cosine_mean.claims(data, cfg)] == [HOLDS, HOLDS]
    # Violating data: Monte Carlo far off, and E[c] rising with d — both rows read "does not hold".
    bad = dict(data, mc_mean=data["mc_mean"] + 100 * se + 1.0, mean=data["mean"][::-1].copy(), D=data["D"][::-1].copy())
    assert [c.verdict for c in cosine_mean.claims(bad, cfg)] == [FAILS, FAILS]
    import matplotlib.pyplot as plt

    plt.close(cosine_mean.plot(data, cfg))


def test_required_divergence_against_closed_form_d3_and_limit(tmp_path):
    cfg = required_divergence.Config(c_stars=(0.3, 0.9), d_min=3.0, d_max=3e4, n_dims=8, chunk=16)
    data = required_divergence.compute(Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False))
    assert data["d"][0, 0] == 3.0
    for i, c in enumerate(cfg.c_stars):
        kappa = optimize.brentq(lambda k: 1 / np.tanh(k) - 1 / k - c, 1e-6, 1e4, xtol=1e-15)
        exact = kappa * c - np.log(np.sinh(kappa) / kappa)
        np.testing.assert_allclose(data["D_star"][i, 0], exact, rtol=1e-9)
        # Large d: D*/d → −½ log(1 − c²) (Gaussian concentration of a on the sphere).
        np.testing.assert_allclose(data["D_star"][i, -1] / data["d"][i, -1], -0.5 * np.log1p(-c * c), rtol=2e-3)
        # Middle d against quadrature at the κ that quadrature says reaches c.
        d = data["d"][i, 3]
        k = optimize.brentq(lambda k: _quad_mean_kl(k, d)[0] - c, 1e-2, 1e4, xtol=1e-12)
        np.testing.assert_allclose(data["D_star"][i, 3], _quad_mean_kl(k, d)[1], rtol=1e-6)
    (claim,) = required_divergence.claims(data, cfg)
    assert claim.verdict in (HOLDS, "holds with caveat") and "%" in claim.measured
    # Violating data: D* ∝ d² is not linear in d.
    bad = dict(data, D_star=data["D_star"] * data["d"])
    assert required_divergence.claims(bad, cfg)[0].verdict == FAILS
    import matplotlib.pyplot as plt

    plt.close(required_divergence.plot(data, cfg))
