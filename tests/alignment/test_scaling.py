"""Scaling with AI scale ξ: the three phases found from the computed log-slope, checked against
the analytic threshold time and the large-β_A asymptote; gradients against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.alignment import (
    asymptotic_log_slope,
    harm_log_slope,
    harm_vs_scale,
    harm_vs_time,
    scale_dimension,
    scale_power,
    scaling_phases,
    total_harm,
)
from sumjax.alignment.scaling import CATCH_UP, EXPONENTIAL, LAG

KW = dict(d0=100.0, d1=20.0, beta0=1e-2, alpha=1.0, beta_h=1.0)
T = jnp.linspace(0.0, 30.0, 61)


@pytest.fixture(scope="module")
def curve():
    H = jax.jit(lambda t: harm_vs_time(t, 0.5, growth=1.0, **KW))(T)
    slope = jax.jit(lambda t: harm_log_slope(t, 0.5, growth=1.0, **KW))(T)
    return np.asarray(H), np.asarray(slope)


def test_scale_maps():
    xi = np.array([0.5, 1.0, 10.0])
    np.testing.assert_allclose(scale_dimension(xi, 10.0, 3.0), 10 + 3 * np.log(xi), rtol=1e-15)
    np.testing.assert_allclose(scale_power(xi, 0.1, 1.5), 0.1 * xi**1.5, rtol=1e-14)
    np.testing.assert_allclose(
        harm_vs_scale(xi[2], 0.5, **KW), total_harm(0.5, 100 + 20 * np.log(10.0), 0.1, 1.0), rtol=1e-14
    )


def test_three_phases_from_computed_slope(curve):
    H, slope = curve
    ph = scaling_phases(T, jnp.asarray(H))
    labels = np.asarray(ph.labels)
    # Lag ⇔ β_A(t) ≤ β_H ⇔ t ≤ log(β_H/β₀)/(α g) = log 100 (analytic, not used by the labeller).
    t_star = np.log(100.0)
    np.testing.assert_array_equal(labels == LAG, np.asarray(T) <= t_star)
    assert float(ph.lag_end) == float(T[np.argmax(np.asarray(T) > t_star)])
    # Then catch-up (non-empty), then exponential to the end (non-empty), in this order.
    assert np.all(np.diff(labels) >= 0) and np.sum(labels == CATCH_UP) >= 1 and np.sum(labels == EXPONENTIAL) >= 10
    assert np.all(slope[labels == CATCH_UP] > 1.5 * float(ph.late_slope))
    # Exponential phase: the slope settles near α g + d₁g/d(t) (default reading: H ∝ β_A·d at large β_A).
    asym = np.asarray(asymptotic_log_slope(T, d0=100.0, d1=20.0, alpha=1.0))
    late = labels == EXPONENTIAL
    np.testing.assert_allclose(slope[-5:], asym[-5:], rtol=0.02)
    assert np.all(np.abs(slope[late] / asym[late] - 1) < 0.5)
    # Finite differences (the labeller's) agree with autodiff (second order in the step, 0.5).
    fd = np.asarray(ph.log_slope)
    np.testing.assert_allclose(fd[late][2:], slope[late][2:], rtol=5e-3)
    # Catch-up is "double scaling": its slope exceeds the late value by far at the threshold.
    # Default reading: H ∝ (r − 1)·d(t), r = β_A/β_H = β₀e^{αgt}/β_H, so σ = αg·r/(r − 1) + d₁g/d(t) (to O(1/d)).
    first = np.argmax(labels > LAG)
    r = 1e-2 * np.exp(float(T[first]))
    np.testing.assert_allclose(slope[first], r / (r - 1) + 20.0 / (100.0 + 20.0 * float(T[first])), rtol=0.02)
    assert slope[first] > 2.5 * asym[first]


def test_sqrt_D_phases_have_the_same_shape_with_half_the_d_term():
    # The scale-free √KL reading (√KL harm, progress over √D): σ → α g/2 + ½·d₁g/d.
    f = jax.jit(lambda t: harm_log_slope(t, 0.5, growth=1.0, reading="scale_free_sqrt_kl", **KW))
    t = jnp.array([5.0, 28.0, 30.0])
    s = np.asarray(f(t))
    asym = np.asarray(asymptotic_log_slope(t, d0=100.0, d1=20.0, alpha=1.0, reading="scale_free_sqrt_kl"))
    np.testing.assert_allclose(asym, 0.5 + 0.5 * 20.0 / (100.0 + 20.0 * np.asarray(t)), rtol=1e-14)
    np.testing.assert_allclose(s[1:], asym[1:], rtol=0.02)
    assert s[0] > 3 * asym[0]
    Hlag = harm_vs_time(jnp.array([0.0, 4.5]), 0.5, reading="scale_free_sqrt_kl", **KW)
    assert np.all(np.asarray(Hlag) == 0)


def test_phases_jit_vmap_and_custom_late_slope(curve):
    H, _ = curve
    f = jax.jit(scaling_phases)
    ph = f(T, jnp.asarray(H))
    both = jax.vmap(scaling_phases, (None, 0))(T, jnp.stack([jnp.asarray(H), 2 * jnp.asarray(H)]))
    np.testing.assert_array_equal(both.labels[0], ph.labels)
    np.testing.assert_array_equal(both.labels[1], ph.labels)  # log-slope is scale-free
    # A synthetic curve: H = 0, then e^{2t} (slope 2 everywhere): no catch-up at all.
    t = jnp.linspace(0, 5, 11)
    Hs = jnp.where(t < 1.2, 0.0, jnp.exp(2 * t))
    p2 = scaling_phases(t, Hs)
    assert set(np.asarray(p2.labels).tolist()) == {LAG, EXPONENTIAL}
    np.testing.assert_allclose(np.asarray(p2.log_slope)[np.asarray(Hs) > 0], 2.0, rtol=1e-12)
    p3 = scaling_phases(t, Hs, late_slope=1.0)
    assert set(np.asarray(p3.labels).tolist()) == {LAG, CATCH_UP}


def test_sensitivity_gradients_against_finite_differences():
    base = dict(xi=300.0, c_star=0.6, d0=50.0, d1=10.0, beta0=0.01, alpha=1.3, beta_h=0.7)

    def H(p):
        return harm_vs_scale(p["xi"], p["c_star"], d0=p["d0"], d1=p["d1"], beta0=p["beta0"], alpha=p["alpha"], beta_h=p["beta_h"])

    g = jax.jit(jax.grad(H))(base)
    for name, h in (("alpha", 1e-6), ("beta_h", 1e-6), ("c_star", 1e-6), ("d0", 1e-4), ("d1", 1e-5), ("xi", 1e-3)):
        up, dn = dict(base), dict(base)
        up[name] += h
        dn[name] -= h
        fd = (H(up) - H(dn)) / (2 * h)
        np.testing.assert_allclose(g[name], fd, rtol=1e-6, err_msg=name)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="`xi`"):
        harm_vs_scale(0.0, 0.5, **KW)
    with pytest.raises(ValueError, match="`alpha`"):
        harm_vs_scale(2.0, 0.5, **{**KW, "alpha": -1.0})
    with pytest.raises(ValueError, match="d0 \\+ d1"):
        harm_vs_scale(1e-3, 0.5, **{**KW, "d0": 5.0})
    with pytest.raises(ValueError, match="`beta0`"):
        harm_vs_scale(2.0, 0.5, **{**KW, "beta0": np.nan})
    with pytest.raises(ValueError, match="`c_star`"):
        harm_vs_scale(2.0, 1.0, **KW)
    with pytest.raises(ValueError, match="`growth`"):
        harm_vs_time(1.0, 0.5, growth=0.0, **KW)
    with pytest.raises(ValueError, match="catchup_ratio"):
        scaling_phases(T, jnp.ones_like(T), catchup_ratio=1.0)
    with pytest.raises(ValueError, match="equal length"):
        scaling_phases(T, jnp.ones(3))
    with pytest.raises(ValueError, match="`H`"):
        scaling_phases(T, -jnp.ones_like(T))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_kernels_equal_public_functions_bit_for_bit(dtype):
    # The experiments call the unchecked kernels inside one jitted sweep; the public functions in the
    # same composition must give the same bits (the checks only pass values through).
    from sumjax.alignment import SCALE_FREE_SQRT_KL, DEFAULT_READING
    from sumjax.alignment import scaling as S

    from _jaxpr import count_callbacks

    kw = {k: jnp.asarray(v, dtype) for k, v in dict(growth=1.0, d0=100.0, d1=10.0, beta0=0.01, alpha=1.0, beta_h=1.0).items()}
    c = jnp.asarray(0.9, dtype)
    t = jnp.linspace(0.0, 14.0, 57, dtype=dtype)

    def public(tt, kw):
        return (harm_vs_time(tt, c, **kw), harm_vs_time(tt, c, reading=SCALE_FREE_SQRT_KL, **kw),
                harm_log_slope(tt, c, **kw))

    def kernel(tt, kw):
        return (S._harm_vs_time_kernel(tt, c, xi0=1.0, reading=DEFAULT_READING, **kw),
                S._harm_vs_time_kernel(tt, c, xi0=1.0, reading=SCALE_FREE_SQRT_KL, **kw),
                S._harm_log_slope_kernel(tt, c, xi0=1.0, reading=DEFAULT_READING, **kw))

    sweep = lambda f: jax.jit(jax.vmap(f, in_axes=(0, None)))  # noqa: E731
    for a, b in zip(sweep(public)(t, kw), sweep(kernel)(t, kw)):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert count_callbacks(jax.make_jaxpr(jax.vmap(kernel, in_axes=(0, None)))(t, kw)) == 0
    H = np.asarray(sweep(public)(t, kw)[0])
    pub, ker = scaling_phases(t, H), S._scaling_phases_kernel(t, jnp.asarray(H), 1.5)
    for a, b in zip(jax.tree_util.tree_leaves(pub), jax.tree_util.tree_leaves(ker)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
