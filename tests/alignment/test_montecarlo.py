"""Monte Carlo training loop against the analytic round sum (total_harm(method="sum")) within
stated Monte Carlo error: |mean − exact| < 4·stderr (per check, two-sided p ≈ 6e-5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp

from sumjax.alignment import harm_series, kappa_from_kl, simulate_training, total_harm

K = 4.0


def _var_c(kappa, d):
    """Var c under vMF from SciPy Bessel ratios: 1 − (d − 1)A/κ − A² (κ > 0), 1/d at κ = 0."""
    if kappa == 0:
        return 1.0 / d
    A = sp.ive(d / 2, kappa) / sp.ive(d / 2 - 1, kappa)
    return 1 - (d - 1) * A / kappa - A * A


@pytest.mark.parametrize("path", ["cosine", "vector"])
def test_mean_matches_analytic_sum(path):
    cs, d, ba, bh = 0.6, 40, 3.0, 1.0
    r = simulate_training(jax.random.key(0), cs, d, ba, bh, num_trials=1500, path=path, batch_size=500)
    exact = float(total_harm(cs, float(d), ba, bh, method="sum"))
    assert abs(float(r.mean) - exact) < K * float(r.stderr)
    # Per-round means agree with the analytic per-round harm: the z-scores of the (independent)
    # rounds are ≈ N(0, 1), so their mean is within 4/√n of 0 and their mean square within 4√(2/n) of 1.
    z = (np.asarray(r.round_mean) - np.asarray(r.round_expected)) / np.asarray(r.round_stderr)
    assert abs(np.mean(z)) < K / np.sqrt(z.size)
    assert abs(np.mean(z * z) - 1) < K * np.sqrt(2 / z.size)
    ser = harm_series(cs, float(d), ba, bh, num_rounds=r.D.shape[0])
    np.testing.assert_allclose(r.round_expected, ser.harm, rtol=1e-12)
    # The spread: Var(total) = T²·Σ Var(c_n) (rounds independent; default reading T = β_A − β_H);
    # check the sample std within 10%.
    s = ba - bh
    kap = np.asarray(kappa_from_kl(r.D, float(d)))
    sd = s * np.sqrt(sum(_var_c(k, d) for k in kap))
    np.testing.assert_allclose(float(r.std), sd, rtol=0.1)
    q = np.asarray(r.quantiles)
    assert q[0] < float(r.mean) < q[-1]


def test_sqrt_D_and_negative_part_paths():
    cs, d, ba, bh = 0.5, 12, 2.0, 0.5
    r = simulate_training(jax.random.key(1), cs, d, ba, bh, num_trials=2000, integrate_over="sqrt_D",
                          functional="negative_part")
    exact = float(total_harm(cs, float(d), ba, bh, method="sum", integrate_over="sqrt_D", functional="negative_part"))
    assert abs(float(r.mean) - exact) < K * float(r.stderr)


def test_large_d_vector_path_bounded_memory_and_unrectified():
    # d = 20000 full vectors, trials chunked 8 at a time; unrectified loop (δ = β_A).
    cs, d, ba = 0.05, 20000, 4.0
    r = simulate_training(jax.random.key(2), cs, d, ba, num_trials=64, path="vector", batch_size=8, rectify=False)
    exact = float(total_harm(cs, float(d), ba, rectify=False, method="sum"))
    assert abs(float(r.mean) - exact) < K * float(r.stderr)
    r1 = simulate_training(jax.random.key(2), cs, 10**6, ba, num_trials=256, rectify=False)
    exact1 = float(total_harm(cs, 1e6, ba, rectify=False, method="sum"))
    assert abs(float(r1.mean) - exact1) < K * float(r1.stderr)


def test_zero_harm_below_threshold():
    r = simulate_training(jax.random.key(3), 0.5, 10, 0.5, 1.0, num_trials=16)
    assert float(r.mean) == 0.0 and float(r.std) == 0.0


def test_bad_input_raises():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`path`"):
        simulate_training(key, 0.5, 10, 2.0, 1.0, num_trials=10, path="gpu")
    with pytest.raises(ValueError, match="`d`"):
        simulate_training(key, 0.5, 10.5, 2.0, 1.0, num_trials=10, path="vector")
    with pytest.raises(ValueError, match="`d`"):
        simulate_training(key, 0.5, 1.0, 2.0, 1.0, num_trials=10)
    with pytest.raises(ValueError, match="`num_trials`"):
        simulate_training(key, 0.5, 10, 2.0, 1.0, num_trials=1)
    with pytest.raises(ValueError, match="`c_star`"):
        simulate_training(key, 1.5, 10, 2.0, 1.0, num_trials=10)
    with pytest.raises(ValueError, match="`beta_a`"):
        simulate_training(key, 0.5, 10, np.nan, 1.0, num_trials=10)
    with pytest.raises(ValueError, match="max_rounds"):
        simulate_training(key, 0.999, 10000, 4.0, 1.0, num_trials=10, max_rounds=100)
    with pytest.raises(ValueError, match="concrete scalar"):
        simulate_training(key, jnp.array([0.5, 0.6]), 10, 2.0, 1.0, num_trials=10)
