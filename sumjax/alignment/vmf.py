"""The von Mises–Fisher tilt of the cosine law: E[c], KL, and their inverses.

Tilting the uniform law of a on S^{d-1} by exp(κ a·h) gives vMF(h, κ). With ν = d/2 - 1,

    E[c] = A_d(κ) = I_{ν+1}(κ)/I_ν(κ),
    M_d(κ) = E_unif[e^{κc}] = Γ(d/2)(2/κ)^ν I_ν(κ) = ₀F₁(; d/2; κ²/4),
    D(κ) = KL(vMF ‖ uniform) = κA_d(κ) - log M_d(κ),   D'(κ) = κA_d'(κ).

d is real, d ≥ 2; κ ≥ 0. All functions broadcast κ and d, are jit/vmap/grad-compatible
(gradients in κ and in d, finite at κ = 0), and work in float32 and float64. The
numbers come from `_bessel.vmf_core` (uniform Debye expansion at an order ν + n with
(ν+n)² + κ² ≥ 40², then n ≤ 40 steps of the stable backward recurrence); measured against
mpmath they are accurate to ≲ 1e-13 relative in float64 for d ∈ [2, 10⁶], κ ∈ [0, 10⁷]
(and to ≲ 5e-6 in float32); these are the tested ranges (tests/alignment, docs/accuracy.md).
Inputs outside them are accepted up to d ≤ 1e15 and κ ≤ 1e300 (float64), measured accurate
beyond the tests but not covered by them.

References:
    Amos, D. E. (1974) "Computation of modified Bessel functions and their ratios",
    Mathematics of Computation 28(125):239–251 (bounds and recurrence for A_d).
    Olver, F. W. J. (1954) "The asymptotic expansion of Bessel functions of large order",
    Phil. Trans. R. Soc. A 247:328–368; NIST DLMF §10.41 (uniform Debye expansions).
    Banerjee, A., Dhillon, I. S., Ghosh, J., Sra, S. (2005) "Clustering on the unit
    hypersphere using von Mises–Fisher distributions", JMLR 6:1345–1382.
    Mardia, K. V., Jupp, P. E. (2000) Directional Statistics, Wiley. The independent
route is `sumjax.alignment.quadrature`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

import numpy as np

from .._numerics import float_dtype
from .._validate import as_dtype, check_range, ensure_all, is_traced
from . import _vmf

__all__ = [
    "vmf_mean",
    "vmf_mean_complement",
    "vmf_log_mgf",
    "vmf_kl",
    "kappa_from_mean",
    "kappa_from_kl",
    "vmf_mean_from_kl",
    "vmf_mean_complement_from_kl",
    "required_divergence",
]


# --------------------------------------------------------------------------- helpers


D_MAX = 1e15  # largest dimension d accepted (measured accurate against quadrature to 1e20)


def kappa_max(dtype) -> float:
    """Largest κ accepted: 1e300 in float64, 1e18 in float32 (accuracy measured to there)."""
    return 1e300 if np.dtype(dtype) == np.float64 else 1e18


def _broadcast_shape(x, d, name: str):
    try:
        return np.broadcast_shapes(jnp.shape(x), jnp.shape(d))
    except ValueError:
        raise ValueError(
            f"arguments `{name}` and `d` must broadcast together; got shapes {jnp.shape(x)} and {jnp.shape(d)}"
        ) from None


def _prepare(x, d, name: str, *, extra=None, **range_kw):
    """Common dtype (lists accepted), one check per argument (x in its range, 2 ≤ d ≤ 1e15),
    broadcasting with an error naming both arguments. `extra(x, d, xp)` may add conditions on
    x (computed from the checked d) to x's one check."""
    dtype = float_dtype(x, d)
    x = as_dtype(x, dtype)
    d = as_dtype(d, dtype)
    shape = _broadcast_shape(x, d, name)
    if name == "kappa":
        range_kw.setdefault("upper", kappa_max(dtype))
    traced = is_traced(x, d)
    d_checked = check_range(d, "d", 2.0, D_MAX)
    if extra is None:
        x_checked = check_range(x, name, **range_kw)
    else:
        x_checked = ensure_all(x, extra(x, d_checked if traced else d, traced))
    if traced:
        return jnp.broadcast_arrays(x_checked, d_checked)
    # Concrete: the checked arrays are already on the device; one that must broadcast is broadcast in NumPy and
    # sent instead (no staged program: a first call stages nothing but the kernel; copy: contiguous, 0-d kept).
    return tuple(c if a.shape == shape else jax.device_put(np.broadcast_to(a, shape).copy())
                 for a, c in ((x, x_checked), (d, d_checked)))


def _solved(value, name: str, *inputs):
    """A root the solver did not find is NaN in the kernel; on concrete input say so here."""
    if not is_traced(value) and not bool(np.all(np.isfinite(np.asarray(value)))):
        raise ValueError(f"{name}: the root solver did not converge for some inputs (result NaN); please report")
    return value


# --------------------------------------------------------------------------- checked public functions


def vmf_mean(kappa: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """E[c] = A_d(κ) = I_{d/2}(κ)/I_{d/2-1}(κ) for κ ≥ 0, real d ≥ 2.

    A_d(0) = 0, A_d ≈ κ/d for small κ, A_d → 1 as κ → ∞. Relative accuracy ≲ 1e-14
    (float64) for d ∈ [2, 1e6], κ ∈ [0, 1e7] (tested); use `vmf_mean_complement` for 1 - A_d.

    Args:
        kappa: concentration κ ≥ 0 (float array or scalar; lists accepted), broadcast with `d`;
            κ ≤ 1e300 in float64, ≤ 1e18 in float32.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): E[c] = A_d(κ) ∈ [0, 1).

    Raises:
        ValueError: if κ < 0, d < 2 or the shapes do not broadcast (concrete input).

    References:
        Amos, D. E. (1974) "Computation of modified Bessel functions and their ratios",
        Mathematics of Computation 28(125):239–251.
        NIST DLMF §10.41 (Olver's uniform asymptotic expansions, Debye form).
    """
    kappa, d = _prepare(kappa, d, "kappa", lower=0.0)
    return _vmf.mean(kappa, d)


def vmf_mean_complement(kappa: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """1 - E[c] = 1 - A_d(κ), accurate in RELATIVE terms even when A_d → 1 (huge κ).

    ≈ (d-1)/(2κ) for κ ≫ d. Relative accuracy ≲ 1e-13 (float64) for d ∈ [2, 1e6],
    κ ∈ [0, 1e7] (tested; measured to κ = 1e15: for κ ≥ 40 a single recurrence step is taken,
    so rounding is not amplified).

    Args:
        kappa: concentration κ ≥ 0 (float array or scalar; lists accepted), broadcast with `d`;
            κ ≤ 1e300 in float64, ≤ 1e18 in float32.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): 1 - A_d(κ) ∈ (0, 1].
    """
    kappa, d = _prepare(kappa, d, "kappa", lower=0.0)
    return _vmf.mean_complement(kappa, d)


def vmf_log_mgf(kappa: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """log M_d(κ) = log E_unif[e^{κc}] = log ₀F₁(; d/2; κ²/4) for κ ≥ 0, real d ≥ 2.

    Exactly 0 at κ = 0 and relatively accurate as κ → 0 (≈ κ²/(2d)); ≲ 1e-15 relative
    (float64) for d ∈ [2, 1e6], κ ∈ [0, 1e7] (tested). Its κ-derivative is `vmf_mean`.

    Args:
        kappa: concentration κ ≥ 0 (float array or scalar; lists accepted), broadcast with `d`;
            κ ≤ 1e300 in float64, ≤ 1e18 in float32.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): log M_d(κ) ≥ 0.
    """
    kappa, d = _prepare(kappa, d, "kappa", lower=0.0)
    return _vmf.log_mgf(kappa, d)


def vmf_kl(kappa: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """D(κ) = KL(vMF(h, κ) ‖ uniform on S^{d-1}) = κA_d(κ) - log M_d(κ).

    Relatively accurate everywhere, including κ → 0 (D ≈ κ²/(2d)) and κ ≫ d
    (D ≈ ((d-1)/2)·log(2κ/(d-1)) - ...): ≲ 1e-13 relative (float64) for d ∈ [2, 1e6],
    κ ∈ [0, 1e7] (tested). D'(κ) = κA_d'(κ) ≥ 0.

    Args:
        kappa: concentration κ ≥ 0 (float array or scalar; lists accepted), broadcast with `d`;
            κ ≤ 1e300 in float64, ≤ 1e18 in float32.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): D(κ) ≥ 0 in nats.
    """
    kappa, d = _prepare(kappa, d, "kappa", lower=0.0)
    return _vmf.kl(kappa, d)


def _kl_target_conditions(D, d, traced):
    """D ≥ 0 (finite) and D ≤ D(κ_max, d): κ(D) ≈ ((d−1)/2)·e^{2D/(d−1)+1} beyond is not representable."""
    xp = jnp if traced else np
    a = D if traced else np.asarray(D)
    if traced:
        top = _vmf.kl(jnp.asarray(kappa_max(D.dtype), D.dtype), d)
    else:
        with jax.ensure_compile_time_eval():  # concrete even inside a caller's trace
            top = np.asarray(_vmf.kl(jnp.asarray(kappa_max(D.dtype), D.dtype), d))
    hint = "" if traced or top.size != 1 else f" = {float(top):.6g}"
    return [
        (xp.isnan(a) | xp.isinf(a) | (a < 0), "argument `D` must lie in [0, inf)"),
        (
            a > top,
            f"argument `D` must lie in [0, D(kappa_max, d){hint}] with kappa_max = {kappa_max(D.dtype):g}: "
            "beyond it κ(D) ≈ ((d−1)/2)·e^{2D/(d−1)+1} is not representable",
        ),
    ]


def _prepare_kl_target(D, d):
    return _prepare(D, d, "D", extra=_kl_target_conditions)


def kappa_from_mean(c: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """The κ ≥ 0 with A_d(κ) = c, for c ∈ [0, 1) and real d ≥ 2 (c = 0 → κ = 0).

    Negative c is rejected with a clear error (by symmetry A_d(-κ) = -A_d(κ), use
    -kappa_from_mean(-c, d)); κ → ∞ as c → 1. Solved by safeguarded Newton in log κ on
    logit A_d(κ) = logit c, started from the Banerjee et al. estimate c(d - c²)/(1 - c²)
    inside the Amos bracket [c(d-1), c·d]/(1 - c²). Round trip A_d(κ(c)) = c to ~1e-14
    relative in float64. Gradients in c and d by the implicit function theorem
    (custom JVP): ∂κ/∂c = 1/A_d'(κ), ∂κ/∂d = -∂_dA_d/A_d'(κ).

    Args:
        c: target mean cosine c ∈ [0, 1) (float array or scalar), broadcast with `d`.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): the concentration κ ≥ 0 with A_d(κ) = c.

    References:
        Banerjee, A., Dhillon, I. S., Ghosh, J., Sra, S. (2005) "Clustering on the unit hypersphere
        using von Mises–Fisher distributions", JMLR 6:1345–1382 (initial estimate).
        Amos, D. E. (1974) "Computation of modified Bessel functions and their ratios",
        Mathematics of Computation 28(125):239–251 (the bracket).
    """
    c, d = _prepare(c, d, "c", lower=0.0, upper=1.0, upper_inclusive=False)
    return _solved(_vmf.kappa_from_mean(c, d), "kappa_from_mean")


def kappa_from_kl(D: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """The κ ≥ 0 with KL(vMF(κ) ‖ uniform) = D, for D ≥ 0 and real d ≥ 2 (D = 0 → κ = 0).

    Safeguarded Newton in log κ on log D(κ) = log D, from κ₀ = √(2dD) (the small-κ
    asymptote, a lower bound). Round trip D(κ(D)) = D to ~1e-14 relative in float64 for
    κ(D) ∈ [0, 1e12]. Gradients by the implicit function theorem: ∂κ/∂D = 1/(κA_d'(κ)),
    which is +∞ at D = 0 (κ ∝ √D): there the largest finite float is used, so a zero
    tangent propagates as 0, never NaN.

    Args:
        D: divergence KL(vMF ‖ uniform) in nats, D ∈ [0, D(κ_max, d)] (float array or scalar),
            broadcast with `d`.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): the concentration κ ≥ 0 with D(κ) = D.
    """
    D, d = _prepare_kl_target(D, d)
    return _solved(_vmf.kappa_from_kl(D, d), "kappa_from_kl")


def vmf_mean_from_kl(D: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """E[c] after spending divergence D on the law of a: A_d(κ(D)), D ≥ 0, real d ≥ 2.

    ≈ √(2D/d) for small D; dE[c]/dD = 1/κ (infinite at D = 0, see `kappa_from_kl`).

    Args:
        D: divergence KL(vMF ‖ uniform) in nats, D ∈ [0, D(κ_max, d)] (float array or scalar),
            broadcast with `d`.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): E[c] = A_d(κ(D)) ∈ [0, 1).
    """
    D, d = _prepare_kl_target(D, d)
    return _solved(_vmf.mean_from_kl(D, d), "vmf_mean_from_kl")  # one stored program


def vmf_mean_complement_from_kl(D: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """1 - E[c] after spending divergence D: 1 - A_d(κ(D)), relatively accurate as E[c] → 1.

    Args:
        D: divergence KL(vMF ‖ uniform) in nats, D ∈ [0, D(κ_max, d)] (float array or scalar),
            broadcast with `d`.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): 1 - A_d(κ(D)) ∈ (0, 1].
    """
    D, d = _prepare_kl_target(D, d)
    return _solved(_vmf.mean_complement_from_kl(D, d), "vmf_mean_complement_from_kl")


def required_divergence(c_star: ArrayLike, d: ArrayLike) -> Float[Array, "..."]:
    """D*(c*, d) = D(κ) with A_d(κ) = c*: the divergence needed to reach E[c] = c*.

    c* ∈ [0, 1), real d ≥ 2. dD*/dc* = κ (finite, 0 at c* = 0). ≈ d·c*²/2 for small c*.

    Args:
        c_star: target mean cosine c* ∈ [0, 1) (float array or scalar), broadcast with `d`.
        d: dimension of the sphere S^{d-1}, real d ∈ [2, 1e15] (float array or scalar),
            broadcast with the first argument.

    Returns:
        Float array of the broadcast shape of the arguments, dtype float64 when `jax_enable_x64`
        is on (else float32): D*(c*, d) ≥ 0 in nats.

    References:
        Banerjee, A., Dhillon, I. S., Ghosh, J., Sra, S. (2005) "Clustering on the unit hypersphere
        using von Mises–Fisher distributions", JMLR 6:1345–1382 (initial estimate).
        Amos, D. E. (1974) "Computation of modified Bessel functions and their ratios",
        Mathematics of Computation 28(125):239–251 (the bracket).
    """
    c_star, d = _prepare(c_star, d, "c_star", lower=0.0, upper=1.0, upper_inclusive=False)
    return _solved(_vmf.required_divergence(c_star, d), "required_divergence")
