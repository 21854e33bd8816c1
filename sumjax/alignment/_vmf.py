"""Pure vMF kernels: E[c], 1 − E[c], log M, KL and their inverses, with no input checks.

Internal callers (harm, Monte Carlo, scenarios, experiments) call these; the checked public
functions of the same names live in `sumjax.alignment.vmf` and validate once at entry.
Arguments are arrays of one floating dtype that broadcast; d ≥ 2, κ ≥ 0, c ∈ [0, 1), D ≥ 0
are the caller's responsibility. See `vmf.py` for the math and the accuracy ranges.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._program_cache import stored_jit
from .._root import Root, implicit_root, newton_bisection
from .._validate import is_traced, to_device
from ._bessel import core_finish, core_top, vmf_core

__all__ = [
    "mean",
    "mean_complement",
    "mean_and_complement",
    "log_mgf",
    "kl",
    "kappa_from_mean",
    "kappa_from_kl",
    "kappa_from_mean_root",
    "kappa_from_kl_root",
    "mean_from_kl",
    "mean_complement_from_kl",
    "required_divergence",
]


def _kl_from_core(kappa, nu, R, C, L, Lc):
    # Small κ: κR - log M (both ~κ²/d, they differ by a factor 2, no cancellation).
    # Large κ: (κ - log M) - κ(1 - R), avoiding κR ≈ log M ≈ κ when κ ≫ d.
    return jnp.where(kappa <= nu + 1.0, kappa * R - L, Lc - kappa * C)


# The kernels are jitted (validation stays eager, outside): an eager call then costs one
# cached compilation per shape/dtype instead of op-by-op dispatch of the recurrence loop.
@stored_jit
def _kl_raw(kappa, d):
    nu = 0.5 * d - 1.0
    return _kl_from_core(kappa, nu, *vmf_core(kappa, nu))


# Eagerly, `kl` runs as two programs, `core_top`'s and `core_finish`'s (about 230 kB each stored, on the bench's
# 10⁵ points), so a new process loads them on two threads at once (`_staged_kl`).
@stored_jit
def _kl_top(kappa, d):
    return core_top(kappa, 0.5 * d - 1.0)


@stored_jit
def _kl_finish(kappa, d, top):
    nu = 0.5 * d - 1.0
    return _kl_from_core(kappa, nu, *core_finish(kappa, nu, *top))


def _staged(kappa, d) -> bool:
    """Concrete arrays of one shape and dtype: `kl` may run as its two stages (on the device)."""
    arrays = (jax.Array, np.ndarray)
    return (isinstance(kappa, arrays) and isinstance(d, arrays) and not is_traced(kappa, d)
            and kappa.shape == d.shape and kappa.dtype == d.dtype)


_PREFETCHED: set = set()  # (shape, dtype) of staged `kl` calls this process has prefetched for


def _prefetch_kl(kappa, d) -> None:
    """Start loading both stages of `kl` for arguments like (κ, d) (each stage's outputs have κ's shape), once
    per shape and dtype: later calls skip the two lookups (~10 µs each), which only a first call can use."""
    seen = (kappa.shape, kappa.dtype)
    if seen in _PREFETCHED:
        return
    _PREFETCHED.add(seen)
    _kl_top.prefetch(kappa, d)
    _kl_finish.prefetch(kappa, d, (kappa,) * 6)


def _staged_kl(kappa, d):
    """D(κ) = κA_d(κ) − log M_d(κ), the same operations as `_kl_raw`. Called eagerly on arrays of one shape
    and dtype it runs as two programs, whose stored copies load on two threads at once (a load is mostly
    single-threaded deserialisation, and its time grows with the program's size); the values may differ from
    the one program's by rounding (~2e-15 relative). Traced (including under `grad`, where `vmf_core`'s JVP
    rule applies), or on arguments that broadcast, it is `_kl_raw`."""
    if not _staged(kappa, d):
        return _kl_raw(kappa, d)
    kappa, d = to_device(kappa), to_device(d)  # NumPy ones too: the prefetched signature is the stages' outputs'
    _prefetch_kl(kappa, d)
    return _kl_finish(kappa, d, _kl_top(kappa, d))


@stored_jit
def _mean_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[0]


@stored_jit
def _complement_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[1]


@stored_jit
def _mean_and_complement_raw(kappa, d):
    """(A_d(κ), 1 − A_d(κ)) from one Bessel evaluation."""
    R, C, _, _ = vmf_core(kappa, 0.5 * d - 1.0)
    return R, C


@stored_jit
def _log_mgf_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[2]


# --------------------------------------------------------------------------- forward maps


# --------------------------------------------------------------------------- inverses
# Both inverses solve in u = log κ (slopes ~1 at both ends, so Newton converges from the
# bracket's start in a few steps) with the package's one solver, and are differentiated in κ
# (including at κ = 0) by its one implicit rule, in both arguments.

_U_TOL = 2.0  # stop when a step moves log κ by ≤ 2 eps (κ to ~2 ulp)


def _kappa_r_prime(kappa, nu, R, C):
    """(κ·A'(κ), reliable): κA' = κ(1 − R²) − (2ν+1)R, written RC·(κ(1+R)/R − (2ν+1)/C) — two
    positive terms that cancel to a relative error ~eps·(ν + 1 + κ/(ν+1)). Used only as a Newton
    slope; ``reliable`` is False where that error exceeds 1e-3 (huge ν, or κ ≫ ν), where the
    caller uses the slope's asymptote instead (a slope off by a factor < 2 only slows Newton)."""
    eps = jnp.finfo(kappa.dtype).eps
    Rs = jnp.where(R > 0, R, 1.0)
    krp = R * C * (kappa * (1.0 + R) / Rs - (2.0 * nu + 1.0) / C)
    reliable = (eps * (nu + 1.0 + kappa / (nu + 1.0)) < 1e-3) & (R > 0) & jnp.isfinite(krp) & (krp > 0)
    return krp, reliable


# The residuals the solver iterates carry the analytic slope (custom JVP), so each Newton step costs
# one Bessel pass, not a forward-mode pass through the recurrence; the implicit rule differentiates
# the exact equations (`_mean_equation`, `_kl_equation`), not these.
def _logit_mean_value_and_slope(u, params):
    """log A_d(e^u) − log(1 − A_d(e^u)) − logit c (C = 1 − R passed for its relative accuracy as
    R → 1) and its u-slope κA'(κ)/(RC), which → 1 as κ → 0 and as κ → ∞."""
    c, d = params
    kappa, nu = jnp.exp(u), 0.5 * d - 1.0
    R, C, _, _ = vmf_core(kappa, nu)
    value = jnp.log(R) - jnp.log(C) - (jnp.log(c) - jnp.log1p(-c))
    krp, reliable = _kappa_r_prime(kappa, nu, R, C)
    return value, jnp.where(reliable, krp / jnp.where(reliable, R * C, 1.0), 1.0)


@jax.custom_jvp
def _logit_mean_residual(u, params):
    """log A_d(e^u) − log(1 − A_d(e^u)) − logit c: increasing in u, slope ~1 at both ends."""
    return _logit_mean_value_and_slope(u, params)[0]


@_logit_mean_residual.defjvp
def _logit_mean_residual_jvp(primals, tangents):
    value, slope = _logit_mean_value_and_slope(*primals)
    return value, slope * tangents[0]


def _mean_equation(kappa, d):
    """A_d(κ) (= c: the equation the implicit rule differentiates; ∂_κA_d(0) = 1/d > 0)."""
    return vmf_core(kappa, 0.5 * d - 1.0)[0]


def _log_kl_value_and_slope(u, params):
    """log D(e^u) − log D* and its u-slope κ·κA'(κ)/D: → 2 as κ → 0 (D ≈ κ²/(2d)), → (ν + ½)/D
    as κ → ∞."""
    target, d = params
    kappa, nu = jnp.exp(u), 0.5 * d - 1.0
    R, C, L, Lc = vmf_core(kappa, nu)
    D = _kl_from_core(kappa, nu, R, C, L, Lc)
    krp, reliable = _kappa_r_prime(kappa, nu, R, C)
    Ds = jnp.where(D > 0, D, 1.0)
    asymptote = jnp.where(kappa < nu + 1.0, 2.0, (nu + 0.5) / Ds)
    return jnp.log(D) - jnp.log(target), jnp.where(reliable & (D > 0), kappa * krp / Ds, asymptote)


@jax.custom_jvp
def _log_kl_residual(u, params):
    """log D(e^u) − log D*: increasing in u."""
    return _log_kl_value_and_slope(u, params)[0]


@_log_kl_residual.defjvp
def _log_kl_residual_jvp(primals, tangents):
    value, slope = _log_kl_value_and_slope(*primals)
    return value, slope * tangents[0]


def _kl_equation(kappa, d):
    """D(κ, d) (= D*; ∂_κD = κA_d'(κ) is 0 at κ = 0, where dκ/dD* = +∞)."""
    return _kl_raw(kappa, d)


@stored_jit
def kappa_from_mean_root(c, d) -> Root:
    """κ with A_d(κ) = c by the package solver (no derivative): `Root(value, converged)`."""
    c, d = jnp.broadcast_arrays(c, d)
    eps = jnp.finfo(c.dtype).eps
    pos = c > 0
    cs = jnp.where(pos, c, 0.5)
    one_m_c2 = (1.0 - cs) * (1.0 + cs)
    # Amos (1974) bounds on I_{ν+1}/I_ν give κ ∈ [c(d-1)/(1-c²), c·d/(1-c²)]; widen a little.
    lo = jnp.log(cs * (d - 1.0) / one_m_c2) - 0.05
    hi = jnp.log(cs * d / one_m_c2) + 0.05
    u0 = jnp.log(cs * (d - cs * cs) / one_m_c2)  # Banerjee et al. (2005)
    r = newton_bisection(
        _logit_mean_residual, (cs, d), lo, hi, u0, rtol=eps, atol=_U_TOL * eps, max_iter=100, geometric=False
    )
    return Root(jnp.where(pos, jnp.exp(r.value), 0.0), r.converged | ~pos)


@stored_jit
def kappa_from_kl_root(D, d) -> Root:
    """κ with D(κ, d) = D by the package solver (no derivative): `Root(value, converged)`."""
    D, d = jnp.broadcast_arrays(D, d)
    eps = jnp.finfo(D.dtype).eps
    pos = D > 0
    Ds = jnp.where(pos, D, 1.0)
    # D(κ) ≤ κ²/(2d) (log D is concave in log κ with slope 2 at 0), so κ ≥ √(2dD); for large κ,
    # D ≈ ((d-1)/2)(log(2κ/(d-1)) - 1), which gives the upper end of the bracket.
    u0 = 0.5 * jnp.log(2.0 * d * Ds)
    u_big = jnp.log(0.5 * (d - 1.0)) + 2.0 * Ds / (d - 1.0) + 1.0
    lo = u0 - 0.05
    hi = jnp.maximum(u0, u_big) + 3.0
    r = newton_bisection(
        _log_kl_residual, (Ds, d), lo, hi, u0, rtol=eps, atol=_U_TOL * eps, max_iter=200, geometric=False
    )
    return Root(jnp.where(pos, jnp.exp(r.value), 0.0), r.converged | ~pos)


def _solved(root: Root):
    # A root the solver did not find is NaN, never a plausible number (public functions raise).
    return jnp.where(root.converged, root.value, jnp.nan)


@stored_jit
def kappa_from_mean(c, d):
    """κ ≥ 0 with A_d(κ) = c (broadcasts; implicit-function gradients in c and d; NaN where the
    solver did not converge)."""
    c, d = jnp.broadcast_arrays(c, d)
    k = _solved(kappa_from_mean_root(lax.stop_gradient(c), lax.stop_gradient(d)))
    return implicit_root(_mean_equation, d, c, k, "zero")


@stored_jit
def kappa_from_kl(D, d):
    """κ ≥ 0 with D(κ) = D (broadcasts; implicit-function gradients in D and d; at D = 0 the
    D-derivative, truly +∞, is the largest finite float so a zero tangent gives 0)."""
    D, d = jnp.broadcast_arrays(D, d)
    k = _solved(kappa_from_kl_root(lax.stop_gradient(D), lax.stop_gradient(d)))
    return implicit_root(_kl_equation, d, D, k, "huge")


# --------------------------------------------------------------------------- public kernel names

mean = _mean_raw
mean_complement = _complement_raw
mean_and_complement = _mean_and_complement_raw
log_mgf = _log_mgf_raw
kl = _staged_kl


@stored_jit
def mean_from_kl(D, d):
    """A_d(κ(D)): E[c] after spending divergence D."""
    return _mean_raw(kappa_from_kl(D, d), d)


@stored_jit
def mean_complement_from_kl(D, d):
    """1 − A_d(κ(D)), relatively accurate as E[c] → 1."""
    return _complement_raw(kappa_from_kl(D, d), d)


def required_divergence(c_star, d):
    """D*(c*, d) = D(κ) with A_d(κ) = c*.

    Eagerly, `kappa_from_mean`'s program and then `kl`'s two (the ones `vmf_kl` runs, so a process that
    calls both loads them once); on arguments of one shape and dtype, `kl`'s start loading on other threads
    while the solver's loads and runs. Under a trace all are inlined into the caller's program."""
    if _staged(c_star, d):
        c_star, d = to_device(c_star), to_device(d)
        _prefetch_kl(d, d)  # κ has c*'s shape, dtype and placement: d stands in for it
    return kl(kappa_from_mean(c_star, d), d)
