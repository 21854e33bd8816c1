"""Mutual information per round, I(a; x) for x = √(2β)·a + z, a ~ vMF(h, κ): against nested Monte
Carlo (independent of the vMF log-normaliser: p(x) estimated by averaging the Gaussian likelihood
over fresh prior draws from SciPy's sampler), the low-signal limit ½s²·tr Cov(a) = β(1 − A²), and
the bound I ≤ β; and its use as the step of the loop."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
from scipy.stats import vonmises_fisher

from sumjax.alignment import harm_series, information_ratio, kappa_from_kl, mutual_information, total_harm


def _prior(rng, kappa, d, n):
    if kappa == 0:
        g = rng.standard_normal((n, d))
        return g / np.linalg.norm(g, axis=1, keepdims=True)
    mu = np.zeros(d)
    mu[0] = 1.0
    return vonmises_fisher(mu, kappa).rvs(n, random_state=rng)


def nested_mc(kappa, d, beta, n_outer=2000, n_inner=8000, seed=0):
    """I ≈ mean_i [s x_i·a_i − log mean_j exp(s x_i·a'_j)] (the φ(x) and e^{−s²/2} factors cancel).
    Returns (estimate, standard error of the outer mean). The inner log-mean is biased low by
    ≈ Var(w)/(2M·E[w]²), which makes the estimate high by that much (reported as `bias_bound`)."""
    rng = np.random.default_rng(seed)
    s = np.sqrt(2 * beta)
    a = _prior(rng, kappa, d, n_outer)
    x = s * a + rng.standard_normal((n_outer, d))
    inner = _prior(rng, kappa, d, n_inner)
    logw = s * x @ inner.T  # (outer, inner)
    lme = sp.logsumexp(logw, axis=1) - np.log(n_inner)
    w = np.exp(logw - lme[:, None])
    bias = np.mean(np.var(w, axis=1) / (2 * n_inner))
    vals = s * np.sum(x * a, axis=1) - lme
    return vals.mean(), vals.std(ddof=1) / np.sqrt(n_outer), bias


CASES = [(0.0, 10, 1.0), (5.0, 10, 1.0), (0.0, 3, 2.0), (20.0, 6, 0.5)]


def _mi(kappa, d, beta):
    """Every check below calls the kernel with shape (4,): one compilation for the whole file."""
    return np.asarray(mutual_information(jnp.asarray(kappa, float), jnp.asarray(d, float), jnp.asarray(beta, float)))


def test_against_nested_monte_carlo():
    k, d, b = (np.array(v, float) for v in zip(*CASES))
    ours = _mi(k, d, b)
    for (kappa, dd, beta), o in zip(CASES, ours):
        est, se, bias = nested_mc(kappa, dd, beta)
        # |ours − MC| within 4 standard errors plus the inner-average bias (stated, estimated from the draws).
        assert abs(o - (est - bias)) < 4 * se + 2 * bias, (kappa, dd, beta, o, est, se, bias)
        assert 0 < o < beta


def test_low_signal_limit_and_bounds():
    # β → 0: I = ½s²·tr Cov(a) + O(s⁴) = β(1 − A(κ)²); A from SciPy's Bessel ratio.
    d, b = 7.0, 1e-5
    k = np.array([0.0, 1.0, 10.0, 30.0])
    A = np.array([sp.ive(d / 2, x) / sp.ive(d / 2 - 1, x) if x > 0 else 0.0 for x in k])
    np.testing.assert_allclose(_mi(k, np.full(4, d), np.full(4, b)) / b, 1 - A * A, rtol=1e-4)
    r = _mi([0.0, 0.0, 0.0, 100.0], [10.0, 10.0, 2.0, 10.0], [1.0, 10.0, 10.0, 10.0]) / np.array([1.0, 10.0, 10.0, 10.0])
    assert np.all((r > 0) & (r < 1))
    # Decreasing in κ (less to learn about an already concentrated a) and in β (saturation).
    assert r[0] > r[1] > r[2] and r[3] < r[1]
    # High dimension: nearly all of β is information (the push is spread over d noisy coordinates); β = 0: none.
    hi = _mi([0.0, 0.0, 3.0, 3.0], [1e5, 1e5, 10.0, 10.0], [1.0, 0.1, 0.0, 1.0])
    assert hi[0] > 0.9999 and hi[1] > 0.09999 and hi[2] == 0.0
    np.testing.assert_allclose(np.asarray(information_ratio(0.0, 10.0, 1.0)), 0.9114, atol=1e-3)


def test_mutual_step_in_the_loop():
    # δ = I ≤ β_A: more rounds, more harm (unrectified, default reading: H = ∫F dD·β_A/δ).
    H_beta = float(total_harm(0.8, 10.0, 3.0, rectify=False))
    H_mi = float(total_harm(0.8, 10.0, 3.0, rectify=False, information="mutual"))
    assert H_mi > H_beta
    # Round sum and series agree exactly; the integral is within one round of full harm (T·F(0) = β_A = 3).
    H_sum = float(total_harm(0.8, 10.0, 3.0, rectify=False, information="mutual", method="sum"))
    ser = harm_series(0.8, 10.0, 3.0, rectify=False, information="mutual", num_rounds=40)
    np.testing.assert_allclose(float(ser.cumulative[-1]), H_sum, rtol=1e-12)
    assert 0 <= H_sum - H_mi <= 3.0
    # The schedule: D_{n+1} − D_n = I(a; x) at the law of round n (checked on the first rounds).
    D = np.asarray(ser.D)
    kap = np.asarray(kappa_from_kl(D[:4], 10.0))
    np.testing.assert_allclose(np.diff(D[:5]), _mi(kap, np.full(4, 10.0), np.full(4, 3.0)), rtol=1e-10)
    assert int(ser.rounds_needed) > int(harm_series(0.8, 10.0, 3.0, rectify=False, num_rounds=40).rounds_needed)


def test_bad_input_and_round_cap():
    with pytest.raises(ValueError, match="`kappa`"):
        mutual_information(-1.0, 10.0, 1.0)
    with pytest.raises(ValueError, match="`beta_a`"):
        mutual_information(1.0, 10.0, np.nan)
    with pytest.raises(ValueError, match="`max_rounds`"):
        total_harm(0.99, 1e4, 1e-3, rectify=False, information="mutual", method="sum", max_rounds=1000)
