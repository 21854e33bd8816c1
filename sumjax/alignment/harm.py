"""The alignment training loop (docs/model.md §2.4–§2.8): per-round and total harm.

One round: the AI (power β_A) pushes the world N(0, I_d) along its utility a; humans observe the
result and spend what they learn about a on aligning it, so the alignment divergence D (KL of the
law of a from uniform, a ~ vMF(h, κ(D))) grows by δ. **Reconstructed** (the SUM text lost its
formulas): every open choice is a field of a `Reading` (``reading=``, a Reading or its name;
`readings.py` documents the semantics and why the default is ``SCALE_FREE_KL``):

* harm per round h = T·F(κ(D_n)) with T = `Reading.harm_scale` (units and threshold) and F the
  functional (default 1 − E[c]);
* step δ = β_A, or min(β_A, β_H) with the cap (``cap_delta=None`` follows ``rectify``: humans
  cannot optimise the AI harder than they can optimise against its effects), or the mutual
  information I(a; x) of the round (``information="mutual"``, capped the same way);
* progress over D (D_n = nδ) or over √D (√D_n = n√δ).

Total harm counts the rounds with D_n < D*(c*, d), i.e. until E[c] reaches c*:
H = T·Σ_{n<N} F(κ(D_n)) (``method="sum"``) ≈ T/p(δ)·∫F d(progress) (``"integral"``, default).

Public functions validate every argument once at entry (eagerly on concrete input, one
`equinox.error_if` per argument under a trace) and call the pure cores in `_loop.py`. Loops whose
length depends on the input refuse to start beyond ``max_rounds`` rounds.
"""

from __future__ import annotations

import operator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._numerics import float_dtype
from .._validate import as_dtype, check_range, is_traced, to_device
from . import _loop, _vmf
from .functionals import HarmFunctional, as_functional, negative_part, one_minus_cosine
from .readings import DEFAULT_READING, Reading, as_reading

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
    "DEFAULT_MAX_ROUNDS",
]

#: Default cap on the number of rounds of loops whose length depends on the input.
DEFAULT_MAX_ROUNDS = 1_000_000

_METHODS = ("integral", "sum")


# --------------------------------------------------------------------------- boundary checks


def _count(x, name: str, minimum: int) -> int:
    """A Python/NumPy integer ≥ minimum (static size arguments)."""
    try:
        if isinstance(x, bool):
            raise TypeError
        v = operator.index(x)
    except TypeError:
        raise ValueError(f"argument `{name}` must be an integer >= {minimum}; got {x!r}") from None
    if v < minimum:
        raise ValueError(f"argument `{name}` must be an integer >= {minimum}; got {v}")
    return v


def _broadcast_shape(**arrays):
    shapes = {k: jnp.shape(v) for k, v in arrays.items()}
    try:
        return jnp.broadcast_shapes(*shapes.values())
    except ValueError:
        desc = ", ".join(f"`{k}` {s}" for k, s in shapes.items())
        raise ValueError(f"arguments do not broadcast together: {desc}") from None


def _check_beta_h(beta_h, beta_a, cap: bool):
    """β_H ∈ [0, ∞), and β_H > 0 wherever β_A > 0 when δ is capped (else δ = 0 with harm > 0: the
    loop never ends). One check (one callback under a trace)."""
    msgs = ["argument `beta_h` must lie in [0, inf)",
            "alignment never progresses: δ = min(β_A, β_H) = 0 with positive harm per round; argument "
            "`beta_h` must be > 0 wherever `beta_a` > 0 when δ is capped (`rectify`/`cap_delta`); total harm "
            "would be infinite"]
    if is_traced(beta_h, beta_a):
        bad_range = jnp.isnan(beta_h) | jnp.isinf(beta_h) | (beta_h < 0)
        bad_prog = (beta_h == 0) & (beta_a > 0) if cap else jnp.zeros((), bool)
        bad_range, bad_prog = jnp.any(bad_range), jnp.any(bad_prog)
        return eqx.branched_error_if(beta_h, bad_range | bad_prog, jnp.where(bad_range, 0, 1), msgs)
    h, a = np.asarray(beta_h), np.asarray(beta_a)
    if np.any(np.isnan(h) | np.isinf(h) | (h < 0)):
        raise ValueError(f"{msgs[0]}; got {h[np.isnan(h) | np.isinf(h) | (h < 0)].reshape(-1)[0]!r}")
    if cap and np.any((h == 0) & (a > 0)):
        raise ValueError(msgs[1])
    return to_device(beta_h)


def _validate_powers(beta_a, beta_h, rectify, cap, dtype):
    beta_a = check_range(as_dtype(beta_a, dtype), "beta_a", 0.0)
    if beta_h is None:
        if rectify or cap:
            raise ValueError("argument `beta_h` is required when `rectify` or `cap_delta` is true")
        return beta_a, jnp.zeros((), dtype)
    return beta_a, _check_beta_h(as_dtype(beta_h, dtype), beta_a, cap)


def _validate_loop(c_star, d, beta_a, beta_h, rectify, cap):
    """Validate (c*, d, β_A, β_H) once each; cast to one floating dtype; shapes must broadcast."""
    dtype = float_dtype(c_star, d, beta_a, beta_h if beta_h is not None else 0.0)
    args = dict(c_star=c_star, d=d, beta_a=beta_a)
    if beta_h is not None:
        args["beta_h"] = beta_h
    _broadcast_shape(**args)
    c_star = check_range(as_dtype(c_star, dtype), "c_star", 0.0, 1.0, lower_inclusive=False, upper_inclusive=False)
    d = check_range(as_dtype(d, dtype), "d", 2.0)
    beta_a, beta_h = _validate_powers(beta_a, beta_h, rectify, cap, dtype)
    return c_star, d, beta_a, beta_h


def _resolve(reading, cap_delta, rectify, **overrides) -> tuple[Reading, bool]:
    r = as_reading(reading, **overrides)
    return r, (rectify if cap_delta is None else bool(cap_delta))


def _too_many(N, max_rounds: int, what: str):
    return (f"the loop needs {what} rounds, more than `max_rounds`={max_rounds}; raise `max_rounds` "
            f"or use method='integral'")


# --------------------------------------------------------------------------- loop pieces


def alignment_step(beta_a, beta_h=None, *, rectify: bool = True, cap_delta: bool | None = None) -> Float[Array, "..."]:
    """δ, the alignment divergence gained per round under ``information="beta"``: β_A, or
    min(β_A, β_H) with the cap (``cap_delta=None`` follows ``rectify``). Reconstructed; exact.

    Args:
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
        rectify: apply the reading's threshold to the powers (default True).
        cap_delta: cap δ at β_H; None (default) follows `rectify`.

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): δ ≥ 0 in nats.

    Raises:
        ValueError: naming the argument, for any argument outside its range (eagerly on concrete
            input; `equinox.error_if` under a trace).
    """
    cap = rectify if cap_delta is None else cap_delta
    dtype = float_dtype(beta_a, beta_h if beta_h is not None else 0.0)
    beta_a, beta_h = _validate_powers(beta_a, beta_h, rectify, cap, dtype)
    return DEFAULT_READING.step(beta_a, beta_h, cap)


def harm_scale(beta_a, beta_h=None, *, rectify: bool = True, reading=None, measure=None, threshold=None) -> Float[Array, "..."]:
    """T, the per-round harm's factor (h = T·F): β_A^m times the uncancelled fraction (see
    `sumjax.alignment.readings`). Default reading: ReLU(β_A − β_H), β_A unrectified. Exact;
    gradient at β = 0 reported as 0 where the true one is infinite.

    Args:
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
            All array arguments broadcast together.
        rectify: apply the reading's threshold to the powers (default True).
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        threshold: override of the reading's ``threshold`` (``"relu"``, ``"relu_sqrt"``,
            ``"sqrt_relu"``); None keeps it.

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): T ≥ 0.

    Raises:
        ValueError: naming the argument, for any argument outside its range (eagerly on concrete
            input; `equinox.error_if` under a trace).
    """
    r = as_reading(reading, measure=measure, threshold=threshold)
    dtype = float_dtype(beta_a, beta_h if beta_h is not None else 0.0)
    beta_a, beta_h = _validate_powers(beta_a, beta_h, rectify, False, dtype)
    return r.harm_scale(beta_a, beta_h, rectify)


def per_round_harm(D, d, beta_a, beta_h=None, *, rectify: bool = True, reading=None, measure=None, threshold=None,
                   functional=None) -> Float[Array, "..."]:
    """h(D) = T·F(κ(D), d): the harm of one round at alignment divergence D ≥ 0 in dimension d ≥ 2.
    Accurate to the vMF functions' precision.

    Args:
        D: alignment divergence D ≥ 0 at the round, in nats (float array or scalar).
        d: dimension of the sphere of utilities, real d ≥ 2 (float array or scalar).
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
            All array arguments broadcast together.
        rectify: apply the reading's threshold to the powers (default True).
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        threshold: override of the reading's ``threshold`` (``"relu"``, ``"relu_sqrt"``,
            ``"sqrt_relu"``); None keeps it.
        functional: override of the reading's harm functional (a `HarmFunctional` or
            ``"one_minus_cosine"`` / ``"negative_part"``); None keeps it.

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): h(D) ≥ 0.

    Raises:
        ValueError: naming the argument, for any argument outside its range (eagerly on concrete
            input; `equinox.error_if` under a trace).
    """
    r = as_reading(reading, measure=measure, threshold=threshold, functional=functional)
    dtype = float_dtype(D, d, beta_a, beta_h if beta_h is not None else 0.0)
    _broadcast_shape(D=D, d=d, beta_a=beta_a, **({} if beta_h is None else {"beta_h": beta_h}))
    D = check_range(jnp.asarray(D, dtype), "D", 0.0)
    d = check_range(jnp.asarray(d, dtype), "d", 2.0)
    beta_a, beta_h = _validate_powers(beta_a, beta_h, rectify, False, dtype)
    return _per_round_core(D, d, r.harm_scale(beta_a, beta_h, rectify), r)


@eqx.filter_jit
def _per_round_core(D, d, T, reading):
    return T * reading.harm_functional.expectation(_vmf.kappa_from_kl(D, d), d)


# --------------------------------------------------------------------------- total harm


def total_harm(
    c_star: ArrayLike,
    d: ArrayLike,
    beta_a: ArrayLike,
    beta_h: ArrayLike | None = None,
    *,
    reading: Reading | str | None = None,
    rectify: bool = True,
    cap_delta: bool | None = None,
    method: str = "integral",
    num_nodes: int = 48,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    measure: str | None = None,
    progress: str | None = None,
    integrate_over: str | None = None,
    threshold: str | None = None,
    functional: str | HarmFunctional | None = None,
    information: str | None = None,
) -> Float[Array, "..."]:
    """Total harm H of the training loop until E[c] reaches c* (module docstring; the reading's
    fields may be overridden by keyword, ``integrate_over`` = ``progress``).

    ``method="integral"`` (default): H = T/p(δ)·∫F d(progress), the smooth continuum limit, by
    ``num_nodes``-point Gauss–Legendre in c (in log(1 − c) over √D). Accuracy (float64, 48 nodes,
    constant δ): ≤ 4e-15 relative over D, ≤ 4e-12 over √D against 160 nodes for d ∈ [2, 1e6],
    c* ∈ [1e-4, 0.99999]; ≤ 1e-10 against SciPy quadrature; float32 within 4e-7 relative. With
    ``information="mutual"`` add the error of I (`information.py`). Gradients in every argument.
    ``method="sum"``: H = T·Σ_{n<N} F(κ(D_n)), the exact count of rounds; cost O(N), refused
    (before any work) when N > ``max_rounds``; gradients in δ, d (N is an integer: none in c*);
    with ``information="mutual"`` a sequential loop, forward-mode differentiable only.
    Sum − integral = O(max harm per round) (Euler–Maclaurin).

    c* ∈ (0, 1), real d ≥ 2, β_A, β_H ≥ 0 (β_H required when rectifying or capping); broadcast.

    Args:
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        d: dimension of the sphere of utilities, real d ≥ 2 (float array or scalar).
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
            All array arguments broadcast together.
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        rectify: apply the reading's threshold to the powers (default True).
        cap_delta: cap δ at β_H; None (default) follows `rectify`.
        method: ``"integral"`` (default; continuum limit) or ``"sum"`` (exact round count).
        num_nodes: Gauss–Legendre nodes of ``"integral"``, an integer ≥ 2 (default 48).
        max_rounds: the most rounds ``"sum"`` may run, an integer ≥ 1 (default 1e6).
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        progress: override of the reading's ``progress`` (``"D"`` / ``"sqrt_D"``); None keeps it.
        integrate_over: alias of `progress`.
        threshold: override of the reading's ``threshold`` (``"relu"``, ``"relu_sqrt"``,
            ``"sqrt_relu"``); None keeps it.
        functional: override of the reading's harm functional (a `HarmFunctional` or
            ``"one_minus_cosine"`` / ``"negative_part"``); None keeps it.
        information: override of the reading's ``information`` (``"beta"`` / ``"mutual"``); None keeps it.

    Returns:
        Float array of the broadcast shape of the array arguments, dtype float64 when
        `jax_enable_x64` is on (else float32): the total harm H ≥ 0 (0 where T = 0).

    Raises:
        ValueError: naming the argument, for any argument outside its range (eagerly on concrete
            input; `equinox.error_if` under a trace).
        ValueError: if ``method="sum"`` needs more than `max_rounds` rounds.
    """
    r, cap = _resolve(reading, cap_delta, rectify, measure=measure, progress=progress, integrate_over=integrate_over,
                      threshold=threshold, functional=functional, information=information)
    if method not in _METHODS:
        raise ValueError(f"argument `method` must be one of {_METHODS}; got {method!r}")
    num_nodes = _count(num_nodes, "num_nodes", 2)
    max_rounds = _count(max_rounds, "max_rounds", 1)
    c_star, d, beta_a, beta_h = _validate_loop(c_star, d, beta_a, beta_h, rectify, cap)
    if r.information == "beta" and method == "integral":
        # Two compiled pieces: the integral keyed only on the shapes of (c*, d) and the reading,
        # then the cheap β-dependent scale, broadcast against it.
        return _loop.integral_harm(c_star, d, beta_a, beta_h, r, rectify, cap, num_nodes)
    T, delta = _loop.scale_and_step(beta_a, beta_h, r, rectify, cap)
    if r.information == "mutual":
        c_star, d, beta_a, beta_h, T = jnp.broadcast_arrays(c_star, d, beta_a, beta_h, T)
        if method == "integral":
            return _loop.mutual_integral(c_star, d, beta_a, beta_h, T, r, cap, num_nodes)
        return _mutual_sum(c_star, d, beta_a, beta_h, T, r, cap, max_rounds)
    c_star, d, delta, T = jnp.broadcast_arrays(c_star, d, delta, T)
    N, _ = _loop.num_rounds(c_star, d, delta, r)
    N = _check_rounds(jnp.where(T > 0, N, 0.0), max_rounds)
    return _loop.round_sum(d, delta, T, N, r)


def _check_rounds(N, max_rounds):
    """Refuse a loop of more than ``max_rounds`` rounds before it starts (the check for `max_rounds`)."""
    if is_traced(N):
        return eqx.error_if(N, jnp.max(N, initial=0.0) > max_rounds,
                            f"the loop needs more than `max_rounds`={max_rounds} rounds; raise `max_rounds` "
                            f"or use method='integral'")
    n = float(np.max(np.asarray(N), initial=0.0))
    if n > max_rounds:
        raise ValueError(_too_many(N, max_rounds, f"{n:.4g}"))
    return N


def _mutual_sum(c_star, d, beta_a, beta_h, T, r, cap, max_rounds):
    # I ≤ β_A: at least ⌈D*/β_A⌉ rounds (√-progress: ⌈√(D*/β_A)⌉), checked before the loop starts.
    Nmin, _ = _loop.num_rounds(c_star, d, beta_a, r)
    _check_rounds(jnp.where(T > 0, Nmin, 0.0), max_rounds)
    H, rounds, finished = _loop.mutual_round_sum(c_star, d, beta_a, beta_h, T, r, cap, max_rounds)
    msg = f"the loop needs more than `max_rounds`={max_rounds} rounds (δ = I(a; x) < β_A); raise `max_rounds`"
    if is_traced(H):
        return eqx.error_if(H, ~jnp.all(finished), msg)
    if not bool(np.all(np.asarray(finished))):
        raise ValueError(msg)
    return H


class HarmSeries(eqx.Module):
    """Per-round series of the training loop, last axis = round n = 0 … num_rounds − 1.

    ``D``: alignment divergence D_n; ``mean_cos``: E[c] at D_n; ``harm``: h(D_n) while D_n < D*,
    0 after; ``cumulative``: running sum of ``harm``; ``active``: D_n < D*; ``rounds_needed``: N
    (constant δ: ⌈D*/δ⌉ or ⌈√(D*/δ)⌉; ``information="mutual"``: the active rounds in the series,
    exact once the series is long enough to reach D*).

    Attributes:
        D: alignment divergence D_n, shape (..., n).
        mean_cos: E[c] at D_n, shape (..., n).
        harm: per-round harm h(D_n) while active, else 0, shape (..., n).
        cumulative: running sum of `harm`, shape (..., n).
        active: D_n < D*(c*, d), bool, shape (..., n).
        rounds_needed: N, the number of rounds to reach c*, shape (...).
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
    reading: Reading | str | None = None,
    rectify: bool = True,
    cap_delta: bool | None = None,
    measure: str | None = None,
    progress: str | None = None,
    integrate_over: str | None = None,
    threshold: str | None = None,
    functional: str | HarmFunctional | None = None,
    information: str | None = None,
) -> HarmSeries:
    """The first ``num_rounds`` rounds of the loop (static length, any integer ≥ 1).
    ``cumulative[..., -1]`` equals ``total_harm(..., method="sum")`` once ``num_rounds`` ≥ N.

    Args:
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        d: dimension of the sphere of utilities, real d ≥ 2 (float array or scalar).
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
            All array arguments broadcast together.
        num_rounds: length n of the series, an integer ≥ 1 (static).
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        rectify: apply the reading's threshold to the powers (default True).
        cap_delta: cap δ at β_H; None (default) follows `rectify`.
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        progress: override of the reading's ``progress`` (``"D"`` / ``"sqrt_D"``); None keeps it.
        integrate_over: alias of `progress`.
        threshold: override of the reading's ``threshold`` (``"relu"``, ``"relu_sqrt"``,
            ``"sqrt_relu"``); None keeps it.
        functional: override of the reading's harm functional (a `HarmFunctional` or
            ``"one_minus_cosine"`` / ``"negative_part"``); None keeps it.
        information: override of the reading's ``information`` (``"beta"`` / ``"mutual"``); None keeps it.

    Returns:
        A `HarmSeries` with fields ``D``, ``mean_cos``, ``harm``, ``cumulative``, ``active`` (shape
        (..., num_rounds), ... the broadcast shape of the arguments) and ``rounds_needed`` (shape (...)).

    Raises:
        ValueError: naming the argument, for any argument outside its range (eagerly on concrete
            input; `equinox.error_if` under a trace).
    """
    num_rounds = _count(num_rounds, "num_rounds", 1)
    r, cap = _resolve(reading, cap_delta, rectify, measure=measure, progress=progress, integrate_over=integrate_over,
                      threshold=threshold, functional=functional, information=information)
    c_star, d, beta_a, beta_h = _validate_loop(c_star, d, beta_a, beta_h, rectify, cap)
    T, delta = _loop.scale_and_step(beta_a, beta_h, r, rectify, cap)
    c_star, d, beta_a, beta_h, T = jnp.broadcast_arrays(c_star, d, beta_a, beta_h, T)
    if r.information == "beta":
        N, Dstar = _loop.num_rounds(c_star, d, delta, r)
    else:
        Dstar = _vmf.required_divergence(c_star, d)
    D, mean, h, active, _, _ = _loop.series(c_star, d, beta_a, beta_h, T, Dstar, r, cap, num_rounds)
    if r.information != "beta":
        N = jnp.sum(active, axis=-1).astype(D.dtype)
    return HarmSeries(D, mean, h, jnp.cumsum(h, axis=-1), active, N)
