"""Pure vMF kernels: E[c], 1 − E[c], log M, KL and their inverses, with no input checks.

Internal callers (harm, Monte Carlo, scenarios, experiments) call these; the checked public
functions of the same names live in `sumjax.alignment.vmf` and validate once at entry.
Arguments are arrays of one floating dtype that broadcast; d ≥ 2, κ ≥ 0, c ∈ [0, 1), D ≥ 0
are the caller's responsibility. See `vmf.py` for the math and the accuracy ranges.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._bessel import vmf_core

__all__ = [
    "mean",
    "mean_complement",
    "log_mgf",
    "kl",
    "kappa_from_mean",
    "kappa_from_kl",
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
@jax.jit
def _kl_raw(kappa, d):
    nu = 0.5 * d - 1.0
    return _kl_from_core(kappa, nu, *vmf_core(kappa, nu))


@jax.jit
def _mean_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[0]


@jax.jit
def _complement_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[1]


@jax.jit
def _log_mgf_raw(kappa, d):
    return vmf_core(kappa, 0.5 * d - 1.0)[2]


# --------------------------------------------------------------------------- forward maps


# --------------------------------------------------------------------------- inverses


def _safeguarded_newton(fun, u0, lo, hi, iters: int):
    """Root of the increasing function `fun(u) -> (value, slope)` in [lo, hi].

    Newton steps; a step that leaves the current bracket (or is not finite) is replaced
    by bisection, and the bracket shrinks with the sign of each value. Fixed iteration
    count, so it jits and vmaps.
    """

    def body(_, carry):
        u, lo, hi = carry
        f, fp = fun(u)
        lo = jnp.where(f < 0, u, lo)
        hi = jnp.where(f > 0, u, hi)
        step = u - f / fp
        ok = jnp.isfinite(step) & (step >= lo) & (step <= hi)
        u_new = jnp.where(ok, step, 0.5 * (lo + hi))
        u_new = jnp.where(f == 0, u, u_new)
        return u_new, lo, hi

    u, _, _ = jax.lax.fori_loop(0, iters, body, (u0, lo, hi))
    return u


def _partials(raw, kappa, d):
    """(∂_κ raw, ∂_d raw) at (κ, d), for the implicit-function rules of the inverses below."""
    one = jnp.ones_like(kappa)
    _, f_k = jax.jvp(raw, (kappa, d), (one, jnp.zeros_like(d)))
    _, f_d = jax.jvp(raw, (kappa, d), (jnp.zeros_like(kappa), one))
    return f_k, f_d


def _mean_residual(c):
    """u = log κ  ->  (log A - log(1-A) - logit c, slope), increasing, slope ~1 at both ends."""
    logit_c = jnp.log(c) - jnp.log1p(-c)

    def fun(u, d):
        kappa = jnp.exp(u)
        nu = 0.5 * d - 1.0
        (R, C, _, _), (dR, _, _, _) = jax.jvp(lambda k: vmf_core(k, nu), (kappa,), (jnp.ones_like(kappa),))
        f = jnp.log(R) - jnp.log(C) - logit_c
        return f, kappa * dR * (1.0 / R + 1.0 / C)

    return fun


@jax.jit
def _solve_kappa_from_mean(c, d):
    pos = c > 0
    cs = jnp.where(pos, c, 0.5)
    one_m_c2 = (1.0 - cs) * (1.0 + cs)
    # Amos (1974) bounds on I_{ν+1}/I_ν give κ ∈ [c(d-1)/(1-c²), c·d/(1-c²)]; widen a little.
    lo = jnp.log(cs * (d - 1.0) / one_m_c2) - 0.05
    hi = jnp.log(cs * d / one_m_c2) + 0.05
    u0 = jnp.log(cs * (d - cs * cs) / one_m_c2)  # Banerjee et al. (2005)
    fun = _mean_residual(cs)
    u = _safeguarded_newton(lambda u: fun(u, d), u0, lo, hi, iters=10)
    return jnp.where(pos, jnp.exp(u), 0.0)


@jax.custom_jvp
def _kappa_from_mean(c, d):
    return _solve_kappa_from_mean(c, d)


@_kappa_from_mean.defjvp
def _kappa_from_mean_jvp(primals, tangents):
    # Implicit function theorem on A(κ, d) = c:  κ̇ = (ċ - ∂_d A ḋ)/∂_κ A  (∂_κ A(0) = 1/d > 0).
    c, d = primals
    dc, dd = tangents
    kappa = _kappa_from_mean(c, d)
    a_k, a_d = _partials(_mean_raw, kappa, d)
    return kappa, (dc - a_d * dd) / a_k


def _kl_residual(target_log):
    def fun(u, d):
        kappa = jnp.exp(u)
        nu = 0.5 * d - 1.0
        D, dD = jax.jvp(lambda k: _kl_from_core(k, nu, *vmf_core(k, nu)), (kappa,), (jnp.ones_like(kappa),))
        return jnp.log(D) - target_log, kappa * dD / D

    return fun


@jax.jit
def _solve_kappa_from_kl(D, d):
    pos = D > 0
    Ds = jnp.where(pos, D, 1.0)
    # D(κ) ≤ κ²/(2d) (log D is concave in log κ with slope 2 at 0), so κ ≥ √(2dD); for large κ,
    # D ≈ ((d-1)/2)(log(2κ/(d-1)) - 1), which gives the upper end of the bracket.
    u0 = 0.5 * jnp.log(2.0 * d * Ds)
    u_big = jnp.log(0.5 * (d - 1.0)) + 2.0 * Ds / (d - 1.0) + 1.0
    lo = u0 - 0.05
    hi = jnp.maximum(u0, u_big) + 3.0
    fun = _kl_residual(jnp.log(Ds))
    u = _safeguarded_newton(lambda u: fun(u, d), u0, lo, hi, iters=40)
    return jnp.where(pos, jnp.exp(u), 0.0)


@jax.custom_jvp
def _kappa_from_kl(D, d):
    return _solve_kappa_from_kl(D, d)


@_kappa_from_kl.defjvp
def _kappa_from_kl_jvp(primals, tangents):
    # D(κ, d) = D*:  κ̇ = (Ḋ* - ∂_d D ḋ)/∂_κ D. At D* = 0 (κ = 0) ∂_κ D = 0 and the true
    # derivative is +∞ (κ ∝ √D*); we use the largest finite float there so that a zero
    # tangent gives 0 (not NaN) and a nonzero one overflows to ±inf, as it should.
    D, d = primals
    dD, dd = tangents
    kappa = _kappa_from_kl(D, d)
    g_k, g_d = _partials(_kl_raw, kappa, d)
    pos = g_k > 0
    inv = jnp.where(pos, 1.0 / jnp.where(pos, g_k, 1.0), jnp.finfo(kappa.dtype).max)
    g_d = jnp.where(pos, g_d, 0.0)
    return kappa, inv * (dD - g_d * dd)


# --------------------------------------------------------------------------- public kernel names

mean = _mean_raw
mean_complement = _complement_raw
log_mgf = _log_mgf_raw
kl = _kl_raw


def kappa_from_mean(c, d):
    """κ ≥ 0 with A_d(κ) = c (broadcasts; implicit-function gradients in c and d)."""
    return _kappa_from_mean(*jnp.broadcast_arrays(c, d))


def kappa_from_kl(D, d):
    """κ ≥ 0 with D(κ) = D (broadcasts; implicit-function gradients in D and d)."""
    return _kappa_from_kl(*jnp.broadcast_arrays(D, d))


@jax.jit
def mean_from_kl(D, d):
    """A_d(κ(D)): E[c] after spending divergence D."""
    return _mean_raw(kappa_from_kl(D, d), d)


@jax.jit
def mean_complement_from_kl(D, d):
    """1 − A_d(κ(D)), relatively accurate as E[c] → 1."""
    return _complement_raw(kappa_from_kl(D, d), d)


@jax.jit
def required_divergence(c_star, d):
    """D*(c*, d) = D(κ) with A_d(κ) = c*."""
    return _kl_raw(kappa_from_mean(c_star, d), d)
