"""Harm against AI scale ξ and its three phases (docs/model.md §3). **Reconstructed.**

AI scale ξ > 0 sets d(ξ) = d₀ + d₁·log ξ (the text's "very conservative" choice) and
β_A(ξ) = β₀·ξ^α (α > 0); β_H is fixed. With ξ = ξ₀·e^{g t}, β_A is exponential in t and d
linear in t. Total harm H(t) = `total_harm`(c*, d(t), β_A(t), β_H, reading=..., ...), by default
rectified, under any `Reading` (``reading=`` and the other options pass through).

Phases, read off the computed local log-slope σ(t) = d log H/dt (autodiff in
`harm_log_slope`, finite differences in `scaling_phases`), never from hand-set times:
lag (H = 0, β_A ≤ β_H), catch-up (σ well above its late value: σ → ∞ as β_A ↓ β_H, because
H ∝ (β_A/β_H − 1)^p there with p = 1 or ½ by threshold shape) and exponential (σ settles near
m·α·g + q·d₁g/d(t): the ξ^{mα} of the push β_A^m (m = 1 in KL, ½ in √KL units) plus the slow d(t)
term, q = 1 for progress over D where H ∝ d and q = ½ over √D where H ∝ √d;
`asymptotic_log_slope`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._numerics import float_dtype
from .._validate import check_range
from . import _loop
from .harm import total_harm
from .readings import Reading, as_reading

__all__ = [
    "scale_dimension",
    "scale_power",
    "harm_vs_scale",
    "harm_vs_time",
    "harm_log_slope",
    "asymptotic_log_slope",
    "ScalingPhases",
    "scaling_phases",
]


def _float(x):
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)


def _dimension(xi, d0, d1):
    """d(ξ) = d₀ + d₁·log ξ (kernel: no checks)."""
    return d0 + d1 * jnp.log(xi)


def _power(xi, beta0, alpha):
    """β_A(ξ) = β₀·ξ^α (kernel: no checks)."""
    return beta0 * jnp.exp(alpha * jnp.log(xi))


def scale_dimension(xi, d0, d1) -> Float[Array, "..."]:
    """d(ξ) = d₀ + d₁·log ξ (must stay ≥ 2 on the ξ used; checked where d is consumed).

    Args:
        xi: AI scale ξ > 0 (float array or scalar).
        d0: d₀ (float array or scalar).
        d1: d₁ (float array or scalar).

    Returns:
        Float array of the broadcast shape: d(ξ) (not checked to be ≥ 2 here).
    """
    xi = check_range(xi, "xi", 0.0, lower_inclusive=False)
    return _dimension(xi, d0, d1)


def scale_power(xi, beta0, alpha) -> Float[Array, "..."]:
    """β_A(ξ) = β₀·ξ^α, β₀ ≥ 0, α > 0, ξ > 0.

    Args:
        xi: AI scale ξ > 0 (float array or scalar).
        beta0: β₀ ≥ 0 (float array or scalar).
        alpha: α > 0 (float array or scalar).

    Returns:
        Float array of the broadcast shape: β_A(ξ) ≥ 0.
    """
    xi = check_range(xi, "xi", 0.0, lower_inclusive=False)
    beta0 = check_range(beta0, "beta0", 0.0)
    alpha = check_range(alpha, "alpha", 0.0, lower_inclusive=False)
    return _power(xi, beta0, alpha)


def harm_vs_scale(xi: ArrayLike, c_star, *, d0, d1, beta0, alpha, beta_h, **options) -> Float[Array, "..."]:
    """H(ξ) = total_harm(c*, d₀ + d₁ log ξ, β₀ξ^α, β_H, **options); broadcasts; jit/vmap/grad-able
    in ξ and every parameter. Raises if d(ξ) < 2.

    Args:
        xi: AI scale ξ > 0 (float array or scalar).
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        d0: dimension at ξ = 1, d₀ (float array or scalar); d(ξ) must stay ≥ 2.
        d1: dimension growth per e-fold of ξ, d₁ (float array or scalar).
        beta0: push power at ξ = 1, β₀ ≥ 0 (float array or scalar).
        alpha: power exponent α > 0 (float array or scalar).
        beta_h: the humans' fixed power β_H ≥ 0 (> 0 when rectifying or capping).
        **options: further keyword arguments of `total_harm` (``reading``, ``rectify``, ``method``, ...).

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): H(ξ) ≥ 0.

    Raises:
        ValueError: if d(ξ) < 2 or any argument is outside its range.
    """
    d = check_range(scale_dimension(xi, d0, d1), "d (= d0 + d1·log xi)", 2.0)
    return total_harm(c_star, d, scale_power(xi, beta0, alpha), beta_h, **options)


def harm_vs_time(t: ArrayLike, c_star, *, growth=1.0, xi0=1.0, d0, d1, beta0, alpha, beta_h, **options):
    """H(t) with ξ(t) = ξ₀·exp(g·t): `harm_vs_scale` at that ξ.

    Args:
        t: time (float array or scalar, any real).
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        growth: growth rate g > 0 of log ξ per unit time (default 1).
        xi0: scale ξ₀ > 0 at t = 0 (default 1).
        d0: dimension at ξ = 1, d₀ (float array or scalar); d(ξ) must stay ≥ 2.
        d1: dimension growth per e-fold of ξ, d₁ (float array or scalar).
        beta0: push power at ξ = 1, β₀ ≥ 0 (float array or scalar).
        alpha: power exponent α > 0 (float array or scalar).
        beta_h: the humans' fixed power β_H ≥ 0 (> 0 when rectifying or capping).
        **options: further keyword arguments of `total_harm` (``reading``, ``rectify``, ``method``, ...).

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): H(t) ≥ 0.
    """
    growth = check_range(growth, "growth", 0.0, lower_inclusive=False)
    xi = check_range(xi0, "xi0", 0.0, lower_inclusive=False) * jnp.exp(growth * _float(t))
    return harm_vs_scale(xi, c_star, d0=d0, d1=d1, beta0=beta0, alpha=alpha, beta_h=beta_h, **options)


def harm_log_slope(t: ArrayLike, c_star, **kwargs) -> Float[Array, "..."]:
    """σ(t) = d log H/dt by forward-mode autodiff of `harm_vs_time` (elementwise in t); 0 where H = 0
    (lag phase, where log H is −∞).

    Args:
        t: times (float array or scalar).
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        **kwargs: the keyword arguments of `harm_vs_time` (``d0``, ``d1``, ``beta0``,
            ``alpha``, ``beta_h``, ``growth``, ``xi0`` and `total_harm` options).

    Returns:
        Float array of the shape of `t`: σ(t) = d log H/dt (0 where H = 0).
    """
    return _log_slope(lambda s: harm_vs_time(s, c_star, **kwargs), t)


def _log_slope(harm_of, t):
    """σ = d log H/dt of a scalar function `harm_of` of t, by forward mode, elementwise in t; 0 where H = 0."""
    t = _float(t)

    def one(tt):
        H, dH = jax.jvp(harm_of, (tt,), (jnp.ones_like(tt),))
        pos = H > 0
        return jnp.where(pos, dH / jnp.where(pos, H, 1.0), 0.0)

    return jnp.vectorize(one)(t)


# --------------------------------------------------------------------------- kernels (no checks)
# For internal callers (the experiments) that pass valid arrays of one floating dtype, e.g. inside
# a jitted sweep: no `equinox.error_if`, hence no host callback, so JAX's persistent compilation
# cache can store the program. The same operations as the public path, and the same results bit for
# bit (tests/alignment/test_scaling.py): a check passes its value through unchanged but is a wall XLA
# does not optimise across, so the kernels put `lax.optimization_barrier` where it matters — on ξ
# (else XLA rewrites log(exp(g·t)) to g·t, an ulp apart) and on the slope's t (else XLA merges the
# slope's primal with a separately computed H of the same t, and the reductions round differently).


def _harm_vs_time_kernel(t, c_star, *, growth, xi0, d0, d1, beta0, alpha, beta_h, reading: Reading,
                         rectify: bool = True, cap_delta: bool | None = None, num_nodes: int = 48):
    """`harm_vs_time` with ``method="integral"`` under a ``information="beta"`` `Reading`, unchecked:
    ξ = ξ₀e^{gt}, d = d₀ + d₁ log ξ, β_A = β₀ξ^α, then `total_harm`'s integral (J over the progress,
    scaled by T/p(δ))."""
    if reading.information != "beta":
        raise ValueError(f"_harm_vs_time_kernel: information='beta' readings only; got {reading.information!r}")
    cap = rectify if cap_delta is None else bool(cap_delta)
    xi = lax.optimization_barrier(xi0 * jnp.exp(growth * _float(t)))
    d, beta_a = _dimension(xi, d0, d1), _power(xi, beta0, alpha)
    dtype = float_dtype(c_star, d, beta_a, beta_h)
    c_star, d, beta_a, beta_h = (jnp.asarray(x, dtype) for x in (c_star, d, beta_a, beta_h))
    return _loop.integral_harm(c_star, d, beta_a, beta_h, reading, rectify, cap, num_nodes)


def _harm_log_slope_kernel(t, c_star, **kwargs):
    """`harm_log_slope` on `_harm_vs_time_kernel` (same keyword arguments), unchecked."""
    return _log_slope(lambda s: _harm_vs_time_kernel(s, c_star, **kwargs), lax.optimization_barrier(_float(t)))


def asymptotic_log_slope(t: ArrayLike, *, growth=1.0, xi0=1.0, d0, d1, alpha, reading=None, measure=None,
                         progress=None, integrate_over=None):
    """The exponential phase's slope m·α·g + q·d₁g/d(t) (m = 1 for KL harm, ½ for √KL; q = 1 over D,
    ½ over √D): the large-β_A limit of σ(t) when H ∝ β_A^m·d^q (functional 1 − E[c]). Exact only as
    β_A/β_H → ∞ and D* ∝ d (large d).

    Args:
        t: times (float array or scalar).
        growth: growth rate g > 0 of log ξ per unit time (default 1).
        xi0: scale ξ₀ > 0 at t = 0 (default 1).
        d0: d₀ (float).
        d1: d₁ (float).
        alpha: α > 0 (float).
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        progress: override of the reading's ``progress`` (``"D"`` / ``"sqrt_D"``); None keeps it.
        integrate_over: alias of `progress`.

    Returns:
        Float array of the broadcast shape of `t`: m·α·g + q·d₁g/d(t).
    """
    r = as_reading(reading, measure=measure, progress=progress, integrate_over=integrate_over)
    q = 1.0 if r.progress == "D" else 0.5
    d = d0 + d1 * (jnp.log(xi0) + growth * _float(t))
    return r.measure_degree * alpha * growth + q * d1 * growth / d


class ScalingPhases(eqx.Module):
    """Phase labels of H(t): ``labels`` 0 = lag, 1 = catch-up, 2 = exponential; ``log_slope`` the
    finite-difference d log H/dt (0 in the lag phase); ``late_slope`` the reference late value;
    ``lag_end`` / ``catchup_end`` the first t of the catch-up / exponential phase (+inf if none).

    Attributes:
        labels: phase per sample, int32 of shape (n,): 0 lag, 1 catch-up, 2 exponential.
        log_slope: finite-difference d log H/dt, shape (n,) (0 in the lag phase).
        late_slope: the reference late slope σ_late, shape ().
        lag_end: first t of the catch-up phase (+inf if none), shape ().
        catchup_end: first t of the exponential phase (+inf if none), shape ().
    """

    labels: Int[Array, " n"]
    log_slope: Float[Array, " n"]
    late_slope: Float[Array, ""]
    lag_end: Float[Array, ""]
    catchup_end: Float[Array, ""]


LAG, CATCH_UP, EXPONENTIAL = 0, 1, 2


def scaling_phases(t: ArrayLike, H: ArrayLike, *, catchup_ratio: float = 1.5, late_slope=None) -> ScalingPhases:
    """Label the phases of a sampled curve H(t) (t increasing, H ≥ 0) from its local log-slope.

    σ_i is the central difference of log H over the neighbours with H > 0 (one-sided at the ends
    of the positive stretch; second-order accurate on smooth H). Lag: H = 0. Catch-up: H > 0 up to
    the last point where σ > ``catchup_ratio``·σ_late; exponential after it. σ_late is the slope at
    the last point unless ``late_slope`` is given. jit/vmap-able.

    Args:
        t: sample times, a 1-D float array of length n ≥ 3, increasing.
        H: harm H(t) ≥ 0 at those times, same shape as `t`.
        catchup_ratio: σ > catchup_ratio·σ_late marks catch-up; a float > 1 (default 1.5).
        late_slope: reference σ_late (float scalar); None (default) uses the slope at the last sample.

    Returns:
        A `ScalingPhases` with fields ``labels``, ``log_slope`` (shape (n,)), ``late_slope``, ``lag_end``,
        ``catchup_end`` (scalars).

    Raises:
        ValueError: if the shapes are wrong, H < 0, or `catchup_ratio` ≤ 1.
    """
    t = check_range(t, "t")
    H = check_range(H, "H", 0.0)
    if t.ndim != 1 or H.shape != t.shape or t.shape[0] < 3:
        raise ValueError(f"arguments `t` and `H` must be 1-D of equal length >= 3; got {t.shape} and {H.shape}")
    if catchup_ratio <= 1.0:
        raise ValueError(f"argument `catchup_ratio` must be > 1; got {catchup_ratio!r}")
    return _scaling_phases_kernel(t, H, catchup_ratio, late_slope)


def _scaling_phases_kernel(t, H, catchup_ratio, late_slope=None) -> ScalingPhases:
    """`scaling_phases` unchecked: `t` increasing, `H` ≥ 0, both 1-D arrays of one length ≥ 3, `catchup_ratio` > 1."""
    pos = H > 0
    logH = jnp.log(jnp.where(pos, H, 1.0))
    prev_ok = jnp.concatenate([jnp.array([False]), pos[:-1]])
    next_ok = jnp.concatenate([pos[1:], jnp.array([False])])
    lp = jnp.concatenate([logH[:1], logH[:-1]])
    ln = jnp.concatenate([logH[1:], logH[-1:]])
    tp = jnp.concatenate([t[:1] - 1.0, t[:-1]])
    tn = jnp.concatenate([t[1:], t[-1:] + 1.0])
    central = (ln - lp) / (tn - tp)
    forward = (ln - logH) / (tn - t)
    backward = (logH - lp) / (t - tp)
    slope = jnp.where(prev_ok & next_ok, central, jnp.where(next_ok, forward, jnp.where(prev_ok, backward, 0.0)))
    slope = jnp.where(pos, slope, 0.0)
    late = slope[-1] if late_slope is None else jnp.asarray(late_slope, slope.dtype)
    steep = pos & (slope > catchup_ratio * late)
    idx = jnp.arange(t.shape[0])
    last_steep = jnp.max(jnp.where(steep, idx, -1))
    labels = jnp.where(~pos, LAG, jnp.where(idx <= last_steep, CATCH_UP, EXPONENTIAL))
    inf = jnp.asarray(jnp.inf, t.dtype)
    lag_end = jnp.min(jnp.where(pos, t, inf))
    catchup_end = jnp.min(jnp.where(labels == EXPONENTIAL, t, inf))
    return ScalingPhases(labels.astype(jnp.int32), slope, late, lag_end, catchup_end)
