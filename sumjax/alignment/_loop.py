"""Pure cores of the training loop (no input checks; `harm.py` validates and calls these).

Per round n the loop sits at alignment divergence D_n (a ~ vMF(h, κ(D_n))), does harm T·F(κ_n)
and gains δ_n of divergence (`Reading`: constant δ for ``information="beta"``, δ(κ_n) for
``"mutual"``). Total harm until E[c] reaches c*, i.e. over the rounds with D_n < D*(c*, d):

* integral (continuum limit): H = T·∫ F / p(δ) d(progress), p(δ) = δ over D, √δ over √D;
* round sum: H = T·Σ_{n<N} F(κ(D_n)), exact count of rounds;
* series: the first ``num_rounds`` rounds, per round.

Every core is jitted with the reading and sizes static; the callers pass validated arrays of one
floating dtype.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._numerics import gauss_legendre, safe_sqrt
from .._program_cache import stored_jit
from . import _vmf

BLOCK = 256


# --------------------------------------------------------------------------- the integral


def _nodes_in_c(c_star, progress, num_nodes):
    """Gauss–Legendre nodes c ∈ (0, c*) and weights·Jacobian, in c over D and in u = log(1 − c)
    over √D (√D ~ √log(1/(1 − c)) has a weak endpoint singularity in c; smooth in u)."""
    x, w = gauss_legendre(num_nodes)
    x = jnp.asarray(x, c_star.dtype)
    w = jnp.asarray(w, c_star.dtype)
    if progress == "sqrt_D":
        lo = jnp.log1p(-c_star)[..., None]
        u = 0.5 * lo * (1.0 - x)
        return -jnp.expm1(u), w * (-0.5 * lo * jnp.exp(u))
    return 0.5 * c_star[..., None] * (1.0 + x), w * 0.5 * c_star[..., None]


def _progress_density(kappa, d, progress):
    """d(progress)/dc: κ over D (dD/dc = κ), κ/(2√D) over √D. Both bounded on [0, c*]
    (κ(1 − c) → (d − 1)/2 as c → 1; κ/(2√D) → √(d/2) as c → 0)."""
    if progress == "D":
        return kappa
    return kappa / (2.0 * safe_sqrt(_vmf.kl(kappa, d)))


@functools.partial(stored_jit, static_argnums=(2, 3, 4))
def progress_integral(c_star, d, fn, progress, num_nodes):
    """J = ∫₀^{D*} F dD (over D) or ∫₀^{√D*} F d√D (over √D), in c: J = ∫₀^{c*} F·d(progress)/dc dc.
    c* and d are not pre-broadcast: nodes are built on c*'s shape and meet d in κ(c, d)."""
    c, wj = _nodes_in_c(c_star, progress, num_nodes)
    dd = d[..., None]
    kappa = _vmf.kappa_from_mean(c, dd)
    integrand = fn.expectation_at(c, kappa, dd) * _progress_density(kappa, dd, progress)
    return jnp.sum(wj * integrand, axis=-1)


@functools.partial(stored_jit, static_argnums=(3,))
def scale_integral(J, T, delta, reading):
    """H = T·J/p(δ), 0 where T = 0 (δ > 0 wherever T > 0 is checked by the caller)."""
    safe = jnp.where(delta > 0, delta, 1.0)
    return jnp.where(T > 0, T * J / reading.progress_norm(safe), 0.0)


@functools.partial(stored_jit, static_argnums=(5, 6, 7))
def mutual_integral(c_star, d, beta_a, beta_h, T, reading, cap, num_nodes):
    """H = T·∫ F / p(δ(κ)) d(progress) with δ(κ) = I(a; x) (capped by β_H): the continuum limit of
    the loop whose step depends on the current law of a."""
    c, wj = _nodes_in_c(c_star, reading.progress, num_nodes)
    dd, ba, bh = d[..., None], beta_a[..., None], beta_h[..., None]
    kappa = _vmf.kappa_from_mean(c, dd)
    delta = reading.round_information(kappa, dd, ba, bh, cap)
    pos = delta > 0
    integrand = reading.harm_functional.expectation_at(c, kappa, dd) * _progress_density(kappa, dd, reading.progress)
    integrand = jnp.where(pos, integrand / reading.progress_norm(jnp.where(pos, delta, 1.0)), 0.0)
    J = jnp.sum(wj * integrand, axis=-1)
    return jnp.where(T > 0, T * J, 0.0)


@functools.partial(stored_jit, static_argnums=(2, 3, 4))
def scale_and_step(beta_a, beta_h, reading, rectify: bool, cap: bool):
    """(T, δ) = (`reading.harm_scale`, `reading.step`) as one stored program: as eager scalar operations
    they would each trace and lower a program of their own on a new process's first call (~10 ms apiece)."""
    return reading.harm_scale(beta_a, beta_h, rectify), reading.step(beta_a, beta_h, cap)


@functools.partial(stored_jit, static_argnums=(3, 4, 5))
def _scaled_integral(J, beta_a, beta_h, reading, rectify: bool, cap: bool):
    T, delta = scale_and_step(beta_a, beta_h, reading, rectify, cap)
    return scale_integral(J, T, delta, reading)


def integral_harm(c_star, d, beta_a, beta_h, reading, rectify: bool, cap: bool, num_nodes: int = 48):
    """Total harm by the integral, constant δ (``information="beta"``): H = T·J/p(δ) with
    T = `reading.harm_scale`, δ = `reading.step`. What `total_harm(method="integral")` computes
    after its checks; internal callers (experiments, scaling) call this directly. ``beta_h=None``
    only without rectification and cap."""
    if beta_h is None:
        beta_h = jnp.zeros((), jnp.result_type(beta_a))
    J = progress_integral(c_star, d, reading.harm_functional, reading.progress, num_nodes)
    return _scaled_integral(J, beta_a, beta_h, reading, rectify, cap)  # the cheap β-dependent scale


# --------------------------------------------------------------------------- the round sum (constant δ)


def num_rounds(c_star, d, delta, reading):
    """(N, D*): N = ⌈D*/δ⌉ over D, ⌈√(D*/δ)⌉ over √D (0 where δ = 0); piecewise constant (no gradient).

    D* is `_vmf.required_divergence`'s (eagerly, its programs, loaded at once and shared with
    `required_divergence` and `vmf_kl`), N a small program of its own."""
    Dstar = _vmf.required_divergence(c_star, d)
    return _rounds_for(Dstar, delta, reading), Dstar


@functools.partial(stored_jit, static_argnums=(2,))
def _rounds_for(Dstar, delta, reading):
    ok = delta > 0
    ratio = jnp.where(ok, Dstar / jnp.where(ok, delta, 1.0), 0.0)
    N = jnp.ceil(ratio if reading.progress == "D" else jnp.sqrt(ratio))
    return jax.lax.stop_gradient(N)


def _block_sum(delta, d, N, i, fn, reading):
    n = i * BLOCK + jnp.arange(BLOCK, dtype=delta.dtype)
    live = n < N[..., None]
    D = reading.round_divergence(jnp.where(live, n, 0.0), delta[..., None])  # past N: evaluate at D = 0
    F = fn.expectation(_vmf.kappa_from_kl(D, d[..., None]), d[..., None])
    return jnp.sum(jnp.where(live, F, 0.0), axis=-1)


def _sum_loop(delta, d, N, fn, reading, with_grad):
    """Σ_{n<N} F(κ(D_n)) by blocks of rounds in a while loop (cost O(max N)); optionally with the
    gradient in (δ, d) accumulated alongside (elements are independent: one VJP per block)."""
    nblocks = jnp.ceil(jnp.max(N, initial=0.0) / BLOCK)

    def body(state):
        i, tot, gdel, gd = state
        if with_grad:
            val, vjp = jax.vjp(lambda a, b: _block_sum(a, b, N, i, fn, reading), delta, d)
            ga, gb = vjp(jnp.ones_like(val))
            return i + 1, tot + val, gdel + ga, gd + gb
        return i + 1, tot + _block_sum(delta, d, N, i, fn, reading), gdel, gd

    z = jnp.zeros_like(delta)
    _, tot, gdel, gd = jax.lax.while_loop(lambda s: s[0] < nblocks, body, (jnp.zeros((), delta.dtype), z, z, z))
    return tot, gdel, gd


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _round_sum(delta, d, N, fn, reading):
    return _sum_loop(delta, d, N, fn, reading, False)[0]


def _round_sum_fwd(delta, d, N, fn, reading):
    tot, gdel, gd = _sum_loop(delta, d, N, fn, reading, True)
    return tot, (gdel, gd, N)


def _round_sum_bwd(fn, reading, res, ct):
    gdel, gd, N = res
    return ct * gdel, ct * gd, jnp.zeros_like(N)  # N = ⌈·⌉ is piecewise constant


_round_sum.defvjp(_round_sum_fwd, _round_sum_bwd)


@functools.partial(stored_jit, static_argnums=(4,))
def round_sum(d, delta, T, N, reading):
    """H = T·Σ_{n<N} F(κ(D_n)), D_n = `reading.round_divergence(n, δ)`; N = 0 where T = 0."""
    N = jnp.where(T > 0, N, 0.0)  # no harm per round → nothing to count
    return T * _round_sum(delta, d, N, reading.harm_functional, reading)


# --------------------------------------------------------------------------- the round sum (δ from I)


@functools.partial(stored_jit, static_argnums=(5, 6, 7))
def mutual_round_sum(c_star, d, beta_a, beta_h, T, reading, cap, max_rounds):
    """H = T·Σ_n F(κ(D_n)) with D_{n+1} = `reading.next_divergence(D_n, δ(κ_n))`, δ = I(a; x)
    (capped), rounds while D_n < D*. Sequential (one I per round); returns (H, rounds, finished)
    — ``finished`` false where ``max_rounds`` stopped the loop. Forward-mode differentiable only."""
    Dstar = _vmf.required_divergence(c_star, d)
    fn = reading.harm_functional
    zero = jnp.zeros_like(Dstar)
    live0 = (T > 0) & (Dstar > 0)

    def cond(state):
        n, D, tot, rounds = state
        return (n < max_rounds) & jnp.any(live0 & (D < Dstar))

    def body(state):
        n, D, tot, rounds = state
        live = live0 & (D < Dstar)
        kappa = _vmf.kappa_from_kl(D, d)
        F = fn.expectation(kappa, d)
        delta = reading.round_information(kappa, d, beta_a, beta_h, cap)
        D_new = reading.next_divergence(D, delta)
        return (n + 1, jnp.where(live, D_new, D), tot + jnp.where(live, F, 0.0), rounds + live)

    n, D, tot, rounds = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), zero, zero, zero))
    finished = ~(live0 & (D < Dstar))
    return T * tot, rounds, finished


# --------------------------------------------------------------------------- the series


@functools.partial(stored_jit, static_argnums=(6, 7, 8))
def series(c_star, d, beta_a, beta_h, T, Dstar, reading, cap, num_rounds_static):
    """(D_n, E[c]_n, harm_n, active_n, κ_n, F_n) for n < ``num_rounds_static``; F_n = E[harm(c)] at κ_n
    and harm_n = T·F_n while D_n < D* (`Dstar`, from `num_rounds` or `_vmf.required_divergence`: its root
    solve is not compiled into this program again), else 0. Constant δ: closed-form schedule; ``"mutual"``:
    the schedule by a scan of δ(κ_n). κ_n and F_n are returned so that the Monte Carlo's program need not
    compile the Bessel functions a second time."""
    dd = d[..., None]
    if reading.information == "beta":
        delta = reading.step(beta_a, beta_h, cap)
        n = jnp.arange(num_rounds_static, dtype=c_star.dtype)
        D = reading.round_divergence(n, delta[..., None])
    else:
        def one(Dn, _):
            kappa = _vmf.kappa_from_kl(Dn, d)
            delta = reading.round_information(kappa, d, beta_a, beta_h, cap)
            return reading.next_divergence(Dn, delta), Dn

        _, D = jax.lax.scan(one, jnp.zeros_like(Dstar), None, length=num_rounds_static)
        D = jnp.moveaxis(D, 0, -1)
    kappa = _vmf.kappa_from_kl(D, dd)
    mean, complement = _vmf.mean_and_complement(kappa, dd)  # one Bessel evaluation for both (and for F)
    active = D < Dstar[..., None]
    F = reading.harm_functional.expectation_given(complement, kappa, dd)
    h = jnp.where(active, T[..., None] * F, 0.0)
    return D, mean, h, active, kappa, F
