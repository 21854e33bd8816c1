"""The alignment training loop (SPEC §2): per-round harm and total harm.

One round: the AI (power β_A) pushes the world N(0, I_d) along its utility a; humans
observe the result, gaining β_A nats about a; they spend δ of them aligning a, so the
alignment divergence D (KL of the law of a from uniform, a ~ vMF(h, κ(D))) grows by δ.

**Reconstructed** (the SUM text lost its formulas; these are our reading, and every open
choice is an option here):

* step: δ = β_A without the cap; δ = min(β_A, β_H) with ``cap_delta`` (humans cannot
  optimise the AI harder than they can optimise against its effects). The default
  ``cap_delta=None`` follows ``rectify``.
* harm per round, in √KL units: h(D) = s·F(D) with F(D) = 1 − E[c](D) by default
  (``functional``) and scale s = √β_A unrectified, s = ReLU(√β_A − √β_H) with ``rectify``.
* ``measure="kl"``: h_KL(D) = (s·F(D))², the KL cost of a mean shift whose √KL size is
  s·F(D) (a shift m in N(0, I) costs |m|²/2, and s·F is |m|/√2).
* ``integrate_over="D"``: rounds D_n = nδ, n = 0 … N−1 with N = ⌈D*/δ⌉, and
  H = Σ_n h(D_n) ≈ (1/δ)∫₀^{D*} h(D) dD.
  ``integrate_over="sqrt_D"``: progress is counted in √KL units (Appendix 2), √δ per round:
  √D_n = n√δ, N = ⌈√(D*/δ)⌉, H = Σ_n h(n²δ) ≈ (1/√δ)∫₀^{√D*} h(r²) dr.
  Consequence (pinned in the tests): H ∝ d under "D" but H ∝ √d under "sqrt_D" — the
  threshold at β_A = β_H and the growth with d are shared, the power of d is not.

Total harm is counted until E[c] reaches c*, i.e. over the rounds with D_n < D*(c*, d).
β_A = 0 or s = 0 gives H = 0 (no harmful optimisation), although without rectification
H = ∫F/√β_A → ∞ as β_A → 0⁺; δ = 0 with s > 0 (e.g. β_H = 0 with the cap) means alignment
never progresses and is rejected as an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._validate import check_range, ensure
from .._numerics import gauss_legendre as _gauss_legendre
from .._numerics import safe_sqrt as _safe_sqrt
from . import _vmf

__all__ = [
    "HarmFunctional",
    "one_minus_cosine",
    "negative_part",
    "alignment_step",
    "harm_scale",
    "per_round_harm",
    "total_harm",
    "HarmSeries",
    "harm_series",
]


# --------------------------------------------------------------------------- functionals





class HarmFunctional(eqx.Module):
    """A harm functional of the vMF law: F(κ, d) = E_{c ~ law(κ, d)}[g(c)].

    ``pointwise`` is g(c) (used by Monte Carlo on realised cosines); ``law`` is F(κ, d) in closed
    form, or ``None`` to compute it by quadrature (`sumjax.alignment.quadrature.vmf_expectation`).
    """

    pointwise: Callable = eqx.field(static=True)
    law: Callable | None = eqx.field(static=True, default=None)
    name: str = eqx.field(static=True, default="custom")

    def expectation(self, kappa, d):
        if self.law is not None:
            return self.law(kappa, d)
        from .quadrature import vmf_expectation  # lazy: quadrature is optional for the default

        return vmf_expectation(self.pointwise, kappa, d)


def _one_minus(c):
    return 1.0 - c


def _neg_part(c):
    return jnp.maximum(0.0, -c)


_NEG_NODES = 64


def _negative_part_law(kappa, d):
    """E[max(0, −c)] = N/Z with Z = B(½, (d−1)/2)·M_d(κ) and, putting c = −sin θ,
    N = ∫₀^{π/2} sin θ · e^{−κ sin θ} cos^{d−2}θ dθ — smooth (no kink: the integral stops at c = 0).
    Gauss–Legendre on [0, θ_max], θ_max where −κθ − (d−2)θ²/2 = −40 (the rest is < e^{−40}
    relative), in log space. Relative error < 1e-12 in float64 measured for d ∈ [2, 1e6],
    κ ∈ [0, 1e4]; the value underflows to 0 only below ~1e-300."""
    from .cosine import cosine_log_normaliser

    x, w = _gauss_legendre(_NEG_NODES)
    kappa, d = jnp.broadcast_arrays(kappa, d)
    dt = kappa.dtype
    den = kappa + jnp.sqrt(kappa * kappa + 80.0 * (d - 2.0))
    big = den > 80.0 / (0.5 * jnp.pi)
    tmax = jnp.where(big, 80.0 / jnp.where(big, den, 1.0), 0.5 * jnp.pi)
    th = 0.5 * tmax[..., None] * (1.0 + jnp.asarray(x, dt))
    logf = jnp.log(jnp.sin(th)) - kappa[..., None] * jnp.sin(th) + (d[..., None] - 2.0) * jnp.log(jnp.cos(th))
    logN = jax.nn.logsumexp(logf + jnp.log(jnp.asarray(w, dt)), axis=-1) + jnp.log(0.5 * tmax)
    logZ = cosine_log_normaliser(d) + _vmf.log_mgf(kappa, d)
    return jnp.exp(logN - logZ)


#: Default: g(c) = 1 − c, F = 1 − E[c] (relatively accurate as E[c] → 1).
one_minus_cosine = HarmFunctional(_one_minus, lambda kappa, d: _vmf.mean_complement(kappa, d), "one_minus_cosine")
#: g(c) = max(0, −c): only optimisation that actively opposes the human direction counts.
negative_part = HarmFunctional(_neg_part, lambda kappa, d: _negative_part_law(kappa, d), "negative_part")

_FUNCTIONALS = {"one_minus_cosine": one_minus_cosine, "negative_part": negative_part}


def _functional(f) -> HarmFunctional:
    if isinstance(f, HarmFunctional):
        return f
    if isinstance(f, str) and f in _FUNCTIONALS:
        return _FUNCTIONALS[f]
    raise ValueError(f"argument `functional` must be a HarmFunctional or one of {sorted(_FUNCTIONALS)}; got {f!r}")


def _choice(x, name, allowed):
    if x not in allowed:
        raise ValueError(f"argument `{name}` must be one of {allowed}; got {x!r}")
    return x


# --------------------------------------------------------------------------- loop pieces


def _dtype(*xs):
    return jnp.result_type(*xs, 1.0)


def _check_beta(beta_a, beta_h, rectify, cap_delta, dtype):
    beta_a = check_range(jnp.asarray(beta_a, dtype), "beta_a", 0.0)
    if beta_h is None:
        if rectify or cap_delta:
            raise ValueError("argument `beta_h` is required when `rectify` or `cap_delta` is true")
        beta_h = jnp.zeros((), dtype)
    beta_h = check_range(jnp.asarray(beta_h, dtype), "beta_h", 0.0)
    return beta_a, beta_h


def _step(beta_a, beta_h, cap_delta):
    return jnp.minimum(beta_a, beta_h) if cap_delta else beta_a


def _scale(beta_a, beta_h, rectify):
    if rectify:
        return jax.nn.relu(_safe_sqrt(beta_a) - _safe_sqrt(beta_h))
    return _safe_sqrt(beta_a)


def alignment_step(beta_a, beta_h=None, *, rectify: bool = True, cap_delta: bool | None = None) -> Float[Array, "..."]:
    """δ, the alignment divergence gained per round: β_A, or min(β_A, β_H) with the cap
    (``cap_delta=None`` follows ``rectify``). Reconstructed; exact."""
    cap = rectify if cap_delta is None else cap_delta
    beta_a, beta_h = _check_beta(beta_a, beta_h, rectify, cap, _dtype(beta_a, beta_h if beta_h is not None else 0.0))
    return _step(beta_a, beta_h, cap)


def harm_scale(beta_a, beta_h=None, *, rectify: bool = True) -> Float[Array, "..."]:
    """s, the √KL size of the AI's un-rectified push per round: √β_A, or ReLU(√β_A − √β_H).
    Reconstructed; exact. Gradient at β = 0 is reported as 0 (the true one is infinite)."""
    beta_a, beta_h = _check_beta(beta_a, beta_h, rectify, False, _dtype(beta_a, beta_h if beta_h is not None else 0.0))
    return _scale(beta_a, beta_h, rectify)


def _pow(x, measure):
    return x if measure == "sqrt_kl" else x * x


def per_round_harm(
    D, d, beta_a, beta_h=None, *, rectify: bool = True, measure: str = "sqrt_kl", functional="one_minus_cosine"
) -> Float[Array, "..."]:
    """h(D) = s·F(κ(D), d) (``measure="sqrt_kl"``) or (s·F)² (``"kl"``): the harm of one round at
    alignment divergence D ≥ 0, in dimension d ≥ 2. Accurate to the vMF functions' precision."""
    _choice(measure, "measure", ("sqrt_kl", "kl"))
    fn = _functional(functional)
    dtype = _dtype(D, d, beta_a, beta_h if beta_h is not None else 0.0)
    D = check_range(jnp.asarray(D, dtype), "D", 0.0)
    d = check_range(jnp.asarray(d, dtype), "d", 2.0)
    beta_a, beta_h = _check_beta(beta_a, beta_h, rectify, False, dtype)
    return _per_round_core(D, d, _scale(beta_a, beta_h, rectify), fn, measure)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _per_round_core(D, d, s, fn, measure):
    return _pow(s * fn.expectation(_vmf.kappa_from_kl(D, d), d), measure)


# --------------------------------------------------------------------------- total harm

@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _integral_in_c(c_star, d, fn, p, over, num_nodes):
    """∫₀^{D*} F^p dD = ∫₀^{c*} F(κ(c))^p κ(c) dc   (dD/dc = κ), or for ``over="sqrt_D"``
    ∫₀^{√D*} F^p dr = ∫₀^{c*} F^p κ/(2√D) dc. Both integrands are smooth and bounded on [0, c*]
    (κ(1 − c) → (d − 1)/2 as c → 1; κ/(2√D) → √(d/2) as c → 0), so fixed Gauss–Legendre nodes
    are accurate for tiny and huge D* alike (over √D in u = log(1 − c), see below).

    c* and d are NOT pre-broadcast: the nodes are built on c*'s own shape and meet d in
    `kappa_from_mean`. (Built on the (c*, d) broadcast, a constant c* became a large constant node
    array whose range check XLA spent seconds constant-folding.)"""
    x, w = _gauss_legendre(num_nodes)
    x = jnp.asarray(x, c_star.dtype)
    w = jnp.asarray(w, c_star.dtype)
    if over == "sqrt_D":
        # √D grows like √log(1/(1 − c)) as c → 1, a weak endpoint singularity: integrate in
        # u = log(1 − c) ∈ [log(1 − c*), 0] instead (dc = (1 − c) du), smooth at both ends.
        lo = jnp.log1p(-c_star)[..., None]
        u = 0.5 * lo * (1.0 - x)
        c = -jnp.expm1(u)
        jac = -0.5 * lo * jnp.exp(u)
    else:
        c = 0.5 * c_star[..., None] * (1.0 + x)
        jac = 0.5 * c_star[..., None]
    dd = d[..., None]
    kappa = _vmf.kappa_from_mean(c, dd)
    F = fn.expectation(kappa, dd)
    integrand = _pow(F, "sqrt_kl" if p == 1 else "kl") * kappa
    if over == "sqrt_D":
        D = _vmf.kl(kappa, dd)
        integrand = integrand / (2.0 * _safe_sqrt(D))
    return jnp.sum(w * jac * integrand, axis=-1)


def _round_D(n, delta, over):
    return (n if over == "D" else n * n) * delta


_BLOCK = 256


def _block_sum(delta, d, N, i, fn, p, over):
    n = i * _BLOCK + jnp.arange(_BLOCK, dtype=delta.dtype)
    live = n < N[..., None]
    D = _round_D(jnp.where(live, n, 0.0), delta[..., None], over)  # rounds past N: evaluate at D = 0
    kappa = _vmf.kappa_from_kl(D, d[..., None])
    h = _pow(fn.expectation(kappa, d[..., None]), "sqrt_kl" if p == 1 else "kl")
    return jnp.sum(jnp.where(live, h, 0.0), axis=-1)


def _sum_loop(delta, d, N, fn, p, over, with_grad):
    """Σ_{n<N} F(κ(D_n))^p by blocks of rounds in a while loop (cost O(max N)); optionally with the
    gradient in (δ, d) accumulated alongside (elements are independent, so one VJP per block)."""
    nblocks = jnp.ceil(jnp.max(N, initial=0.0) / _BLOCK)

    def body(state):
        i, tot, gdel, gd = state
        if with_grad:
            val, vjp = jax.vjp(lambda a, b: _block_sum(a, b, N, i, fn, p, over), delta, d)
            ga, gb = vjp(jnp.ones_like(val))
            return i + 1, tot + val, gdel + ga, gd + gb
        return i + 1, tot + _block_sum(delta, d, N, i, fn, p, over), gdel, gd

    z = jnp.zeros_like(delta)
    _, tot, gdel, gd = jax.lax.while_loop(lambda s: s[0] < nblocks, body, (jnp.zeros((), delta.dtype), z, z, z))
    return tot, gdel, gd


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _round_sum_cv(delta, d, N, fn, p, over):
    return _sum_loop(delta, d, N, fn, p, over, False)[0]


def _round_sum_fwd(delta, d, N, fn, p, over):
    tot, gdel, gd = _sum_loop(delta, d, N, fn, p, over, True)
    return tot, (gdel, gd, N)


def _round_sum_bwd(fn, p, over, res, ct):
    gdel, gd, N = res
    return ct * gdel, ct * gd, jnp.zeros_like(N)  # N = ⌈·⌉ is piecewise constant


_round_sum_cv.defvjp(_round_sum_fwd, _round_sum_bwd)
_round_sum = jax.jit(_round_sum_cv, static_argnums=(3, 4, 5))


@functools.partial(jax.jit, static_argnums=(3,))
def _num_rounds(c_star, d, delta, over):
    Dstar = _vmf.required_divergence(c_star, d)
    ok = delta > 0
    ratio = jnp.where(ok, Dstar / jnp.where(ok, delta, 1.0), 0.0)
    N = jnp.ceil(ratio if over == "D" else jnp.sqrt(ratio))
    return jax.lax.stop_gradient(N), Dstar


def _prepare_loop(c_star, d, beta_a, beta_h, rectify, cap_delta, measure, integrate_over, method, functional,
                  broadcast_all=True):
    """Validate and cast to one dtype. ``broadcast_all=False`` leaves (c*, d) and (β_A, β_H) as two
    separately broadcast pairs: the integral depends on (c*, d) only and is broadcast against the
    β-dependent scale afterwards (doing it per (β_A, β_H) would repeat the same integrals)."""
    _choice(measure, "measure", ("sqrt_kl", "kl"))
    _choice(integrate_over, "integrate_over", ("D", "sqrt_D"))
    if method is not None:
        _choice(method, "method", ("integral", "sum"))
    fn = _functional(functional)
    cap = rectify if cap_delta is None else cap_delta
    dtype = _dtype(c_star, d, beta_a, beta_h if beta_h is not None else 0.0)
    c_star = check_range(jnp.asarray(c_star, dtype), "c_star", 0.0, 1.0, lower_inclusive=False, upper_inclusive=False)
    d = check_range(jnp.asarray(d, dtype), "d", 2.0)
    beta_a, beta_h = _check_beta(beta_a, beta_h, rectify, cap, dtype)
    if broadcast_all:
        c_star, d, beta_a, beta_h = jnp.broadcast_arrays(c_star, d, beta_a, beta_h)
    else:
        jnp.broadcast_shapes(c_star.shape, d.shape, beta_a.shape, beta_h.shape)  # incompatible shapes: fail here
        beta_a, beta_h = jnp.broadcast_arrays(beta_a, beta_h)
    delta = _step(beta_a, beta_h, cap)
    s = _scale(beta_a, beta_h, rectify)
    s = ensure(s, (s > 0) & (delta <= 0),
               "alignment never progresses: δ = 0 with positive harm per round (need `beta_h` > 0 when "
               "`cap_delta` is on, and `beta_a` > 0); total harm would be infinite")
    p = 1 if measure == "sqrt_kl" else 2
    return fn, p, c_star, d, delta, s


def total_harm(
    c_star: ArrayLike,
    d: ArrayLike,
    beta_a: ArrayLike,
    beta_h: ArrayLike | None = None,
    *,
    rectify: bool = True,
    cap_delta: bool | None = None,
    measure: str = "sqrt_kl",
    integrate_over: str = "D",
    functional="one_minus_cosine",
    method: str = "integral",
    num_nodes: int = 48,
) -> Float[Array, "..."]:
    """Total harm H of the training loop until E[c] reaches c* (see the module docstring for the
    reconstructed model and its options).

    ``method="sum"``: H = Σ_{n<N} h(D_n), the exact count of rounds (N = ⌈D*/δ⌉, or ⌈√(D*/δ)⌉
    over √D); cost O(N); piecewise smooth in β (gradients in δ, d exact; zero in c* since N is an
    integer). ``method="integral"`` (default): H = (1/δ)∫₀^{D*} h dD (or (1/√δ)∫₀^{√D*} h(r²) dr),
    the smooth continuum limit, by ``num_nodes``-point Gauss–Legendre in c = E[c] (in log(1 − c)
    over √D). Accuracy (float64, 48 nodes): ≤ 4e-15 relative over D, ≤ 4e-12 over √D against 160
    nodes for d ∈ [2, 1e6], c* ∈ [1e-4, 0.99999]; ≤ 1e-10 against SciPy quadrature; float32 inputs
    give float32 results within 4e-7 relative. Cost O(num_nodes);
    gradients in every argument. Sum − integral = O(max harm per round) (Euler–Maclaurin).

    c* ∈ (0, 1), real d ≥ 2, β_A, β_H ≥ 0 (β_H required when rectifying or capping); all broadcast.
    """
    fn, p, c_star, d, delta, s = _prepare_loop(
        c_star, d, beta_a, beta_h, rectify, cap_delta, measure, integrate_over, method, functional,
        broadcast_all=method != "integral",
    )
    if method == "integral":
        # Two compiled pieces: the integral, keyed only on the shapes of (c*, d) and the options it
        # depends on (so eager calls that differ in the β's shapes, `rectify` or `cap_delta` reuse its
        # compilation), then the cheap β-dependent scale, broadcast against it.
        I = _integral_in_c(c_star, d, fn, p, integrate_over, num_nodes)
        return _scale_integral(I, delta, s, p, integrate_over)
    return _total_sum(c_star, d, delta, s, fn, p, integrate_over)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _scale_integral(I, delta, s, p, integrate_over):
    sp = s if p == 1 else s * s
    safe_delta = jnp.where(delta > 0, delta, 1.0)
    norm = safe_delta if integrate_over == "D" else _safe_sqrt(safe_delta)
    return jnp.where(sp > 0, sp * I / norm, 0.0)


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _total_sum(c_star, d, delta, s, fn, p, integrate_over):
    sp = s if p == 1 else s * s
    N, _ = _num_rounds(c_star, d, delta, integrate_over)
    N = jnp.where(sp > 0, N, 0.0)  # no harm per round → nothing to count
    return sp * _round_sum(delta, d, N, fn, p, integrate_over)


class HarmSeries(eqx.Module):
    """Per-round series of the training loop, last axis = round n = 0 … num_rounds − 1.

    ``D``: alignment divergence D_n; ``mean_cos``: E[c] at D_n; ``harm``: h(D_n) while D_n < D*,
    0 after; ``cumulative``: running sum of ``harm``; ``active``: D_n < D*; ``rounds_needed``: N.
    """

    D: Float[Array, "... n"]
    mean_cos: Float[Array, "... n"]
    harm: Float[Array, "... n"]
    cumulative: Float[Array, "... n"]
    active: Bool[Array, "... n"]
    rounds_needed: Float[Array, "..."]


def harm_series(
    c_star: ArrayLike,
    d: ArrayLike,
    beta_a: ArrayLike,
    beta_h: ArrayLike | None = None,
    *,
    num_rounds: int,
    rectify: bool = True,
    cap_delta: bool | None = None,
    measure: str = "sqrt_kl",
    integrate_over: str = "D",
    functional="one_minus_cosine",
) -> HarmSeries:
    """The first ``num_rounds`` rounds of the loop (static length). ``cumulative[..., -1]`` equals
    ``total_harm(..., method="sum")`` when ``num_rounds >= rounds_needed``."""
    if not isinstance(num_rounds, int) or num_rounds < 1:
        raise ValueError(f"argument `num_rounds` must be a positive int; got {num_rounds!r}")
    fn, p, c_star, d, delta, s = _prepare_loop(
        c_star, d, beta_a, beta_h, rectify, cap_delta, measure, integrate_over, None, functional
    )
    return _series_core(c_star, d, delta, s, fn, p, integrate_over, num_rounds)


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _series_core(c_star, d, delta, s, fn, p, integrate_over, num_rounds):
    N, _ = _num_rounds(c_star, d, delta, integrate_over)
    n = jnp.arange(num_rounds, dtype=delta.dtype)
    D = _round_D(n, delta[..., None], integrate_over)
    dd = d[..., None]
    kappa = _vmf.kappa_from_kl(D, dd)
    mean = _vmf.mean(kappa, dd)
    sp = s if p == 1 else s * s
    h = sp[..., None] * _pow(fn.expectation(kappa, dd), "sqrt_kl" if p == 1 else "kl")
    active = n < N[..., None]
    h = jnp.where(active, h, 0.0)
    return HarmSeries(D, mean, h, jnp.cumsum(h, axis=-1), active, N)
