"""SUM figures 3–4 (harm vs d, harm vs β_A/β_H) against an independent NumPy/SciPy loop for d = 3.

For d = 3: E[c] = A(κ) = coth κ − 1/κ and D(κ) = κA − log(sinh κ/κ). The total harm integral is
H = (s/δ)∫₀^{D*}(1 − A(κ(D))) dD = (s/δ)∫₀^{κ*}(1 − A(κ)) κA'(κ) dκ (dD/dκ = κA'), by quadrature;
the round sum Σ_{n<N}(1 − A(κ(nδ))) with κ from brentq.
"""

import jax.numpy as jnp
import numpy as np
from scipy import integrate, optimize

from sumjax.experiments import harm_vs_dim, harm_vs_power
from sumjax.experiments._base import CAVEAT, FAILS, HOLDS, Context


def A3(k):
    return 1 / np.tanh(k) - 1 / k if k > 1e-4 else k / 3 - k**3 / 45


def dA3(k):
    return 1 / k**2 - 1 / np.sinh(k) ** 2 if k > 1e-4 else 1 / 3 - k**2 / 15


def D3(k):
    log_sinh = k + np.log1p(-np.exp(-2 * k)) - np.log(2)  # no overflow for large κ
    return k * A3(k) - (log_sinh - np.log(k)) if k > 1e-4 else k**2 / 6


def harm_integral_d3(c_star, delta, s):
    k_star = optimize.brentq(lambda k: A3(k) - c_star, 1e-8, 1e5, xtol=1e-14)
    val = integrate.quad(lambda k: (1 - A3(k)) * k * dA3(k), 0, k_star, limit=200)[0]
    return s * val / delta


def harm_sum_d3(c_star, delta, s):
    k_star = optimize.brentq(lambda k: A3(k) - c_star, 1e-8, 1e5, xtol=1e-14)
    N = int(np.ceil(D3(k_star) / delta))
    tot = 1.0  # round 0: D = 0, c has mean 0
    for n in range(1, N):
        k = optimize.brentq(lambda k: D3(k) - n * delta, 1e-8, 1e5, xtol=1e-14)
        tot += 1 - A3(k)
    return s * tot


def _ctx(cfg, tmp_path):
    return Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False)


def test_harm_vs_dim_against_independent_loop(tmp_path):
    cfg = harm_vs_dim.Config(c_stars=(0.9,), d_min=3.0, d_max=3e3, n_dims=6, mc_dims=(3.0, 12.0), mc_trials=400,
                             chunk=8)
    data = harm_vs_dim.compute(_ctx(cfg, tmp_path))
    assert data["d"][0, 0] == 3.0
    np.testing.assert_allclose(data["H_D"][0, 0], harm_integral_d3(0.9, cfg.beta_a, np.sqrt(cfg.beta_a)), rtol=1e-8)
    np.testing.assert_allclose(data["H_sum"][0], harm_sum_d3(0.9, cfg.beta_a, np.sqrt(cfg.beta_a)), rtol=1e-8)
    # Monte Carlo mean vs exact round sum: within 4.5 standard errors (400 runs).
    assert np.all(np.abs(data["mc_mean"] - data["H_sum"]) <= 4.5 * data["mc_stderr"])
    assert np.all(data["rounds_needed"] <= data["mc_rounds_cap"])
    verdicts = [c.verdict for c in harm_vs_dim.claims(data, cfg)]
    assert verdicts == [HOLDS, HOLDS]
    # Violating data: H ∝ √d, and a Monte Carlo mean 100 standard errors off.
    bad = dict(data, H_D=data["H_D"][:, :1] * np.sqrt(data["d"] / data["d"][:, :1]),
               mc_mean=data["mc_mean"] + 100 * data["mc_stderr"])
    assert [c.verdict for c in harm_vs_dim.claims(bad, cfg)] == [FAILS, FAILS]
    import matplotlib.pyplot as plt

    plt.close(harm_vs_dim.plot(data, cfg))


def test_harm_vs_power_threshold_and_independent_values(tmp_path):
    cfg = harm_vs_power.Config(dims=(3.0, 30.0), n_ratios=9, ratio_max=4.0, chunk=18)
    data = harm_vs_power.compute(_ctx(cfg, tmp_path))
    r = data["ratio"][0]
    assert np.all(data["H_D"][:, r <= 1] == 0)
    # d = 3, β_A = 4β_H, default reading: rectified scale T = β_A − β_H = 3, step δ = min(β_A, β_H) = 1.
    np.testing.assert_allclose(data["H_D"][0, -1], harm_integral_d3(0.9, 1.0, 3.0), rtol=1e-8)
    # √KL reading over √D: T = √β_A − √β_H = 1 per round, √δ = 1 per round: H = ∫(1 − A) d√D.
    k_star = optimize.brentq(lambda k: A3(k) - 0.9, 1e-8, 1e5, xtol=1e-14)
    ref_sq = integrate.quad(lambda k: (1 - A3(k)) * k * dA3(k) / (2 * np.sqrt(D3(k))), 0, k_star, limit=200)[0]
    np.testing.assert_allclose(data["H_sqrtD"][0, -1], ref_sq, rtol=1e-8)
    # Unrectified at β_A = 4: T = β_A = 4, δ = 4.
    np.testing.assert_allclose(data["H_unrectified"][0, -1], harm_integral_d3(0.9, 4.0, 4.0), rtol=1e-8)
    verdicts = [c.verdict for c in harm_vs_power.claims(data, cfg)]
    assert verdicts[:2] == [HOLDS, HOLDS] and verdicts[2] in (HOLDS, CAVEAT)
    # Violating data: harm below the threshold (both measures), and slower growth for the larger d.
    below = data["ratio"] <= 1
    bad = dict(data, H_D=np.where(below, 0.1, data["H_D"][::-1]), H_sqrtD=np.where(below, 0.1, data["H_sqrtD"]))
    assert [c.verdict for c in harm_vs_power.claims(bad, cfg)] == [FAILS, FAILS, FAILS]
    import matplotlib.pyplot as plt

    plt.close(harm_vs_power.plot(data, cfg))
