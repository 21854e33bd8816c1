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


@pytest.mark.parametrize("num_trials,batch", [(1000, 300), (900, 300), (7, 16)])
def test_cosine_moments_combine_blocks_exactly(num_trials, batch):
    # The cosine path reduces each block in place and combines the blocks' moments (Chan et al.). Rebuild the
    # whole (trials × rounds) table from the same blocks and keys and take NumPy's statistics of it: the same
    # totals, and the same per-round mean and sum of squared deviations to rounding, with and without a
    # remainder block (and with one block smaller than the batch).
    from sumjax.alignment import montecarlo
    from sumjax.alignment.functionals import negative_part, one_minus_cosine

    kappa = jnp.asarray([0.0, 3.0, 40.0, 400.0])
    m, s, key = jnp.asarray(19.0), jnp.asarray(0.7), jax.random.key(5)
    for fn in (one_minus_cosine, negative_part):
        totals, mean, m2 = jax.jit(
            lambda k, fn=fn: montecarlo._cosine_moments(k, kappa, m, s, fn, 4, num_trials, batch, jnp.float64)
        )(key)
        rows = min(batch, num_trials)
        nb, rem = divmod(num_trials, rows)
        keys = jax.random.split(key, nb + (rem > 0))
        sizes = [rows] * nb + ([rem] if rem else [])
        table = np.concatenate([np.asarray(montecarlo._cosine_block(k, kappa, m, s, fn, r, 4, jnp.float64))
                                for k, r in zip(keys, sizes)])
        assert table.shape == (num_trials, 4)
        np.testing.assert_allclose(np.asarray(totals), table.sum(axis=1), rtol=1e-14, atol=0)  # same draws
        np.testing.assert_allclose(np.asarray(mean), table.mean(axis=0), rtol=1e-13, atol=1e-16)
        ref_m2 = ((table - table.mean(axis=0)) ** 2).sum(axis=0)
        np.testing.assert_allclose(np.asarray(m2), ref_m2, rtol=1e-11, atol=1e-15)
        assert ref_m2[0] > 0 and (fn is negative_part or np.all(ref_m2 > 0))  # a real spread to compare
