"""The incentive to bias a value update, searched (docs/model.md, guarded learning: "the text's aim").

An action is a lottery over next utilities: U^i ∈ Δⁿ with probability p_i, mean EU = Σ p_i U^i.
With the text's penalty its value is

    A = Σ p_i f(U^i) + (Σ p_i V(π_{U^i}))·(U_t − EU) = Σ p_i g_{U^i}(U^i + U_t − EU),

each outcome's policy judged at the *recentred* utility U^i + U_t − EU. Every unbiased lottery is worth
at most the full-information value C(U_t) = Σ_j U_t,j f(v_j) (f convex lies below its chords), reached
by learning the true utility. The incentive to bias of a lottery is A − C(U_t): positive means that
biased lottery beats every unbiased one, whatever its support. For the lottery's own support the best
unbiased value is B(O) = max{Σ p'_i f(U^i) : p' ∈ Δ, Σ p'_i U^i = U_t} ≤ C(U_t) (a linear programme),
so A − B(O) ≥ A − C(U_t).

Penalty variants (`penalty_kind`), each A = Σ p_i f(U^i) + λ·(U_t − EU) unless said otherwise:

- "text": λ = Σ p_i V(π_{U^i}) (the text's penalty).
- "bregman": λ = V(π_{U_t}), the current policy: A = f(U_t) + Σ p_i D_f(U^i ‖ U_t) (Bregman form).
- "chord": λ_j = f(v_j), the chord's slope: A ≤ C(U_t) for every lottery (no bias beats learning),
  but forcing U_{t+1} = v_j is then worth C(U_t) > f(U_t).
- "recentred": A = Σ p_i f(U_t + λ*(U^i − EU)), λ* ∈ [0, 1] the largest step keeping every outcome
  in Δⁿ — the text's value with g_{U^i} replaced by f and the recentred outcomes kept on the simplex.
  The recentred lottery is unbiased, so A ≤ C(U_t) for every lottery and forcing is worth f(U_t).

Kernels (`_lottery_value`, `_search`) never validate; the exported functions validate once at entry.
"""

from __future__ import annotations

from typing import Literal, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .learning import _weights
from .policies import PolicyFamily, as_policy_family
from .simplex import _simplex

__all__ = [
    "PenaltyKind",
    "PENALTY_KINDS",
    "lottery_value",
    "full_information_value",
    "same_support_value",
    "bias_slope",
    "BiasSearch",
    "search_bias",
]

PenaltyKind = Literal["text", "bregman", "chord", "recentred"]
PENALTY_KINDS: tuple[str, ...] = get_args(PenaltyKind)


# --- kernels (no validation) --------------------------------------------------------------------


@jax.custom_jvp
def _directional_min(x: Float[Array, " k"]) -> Float[Array, ""]:
    """min x whose JVP is the one-sided directional derivative min_{i active} dx_i (forward mode only)."""
    return jnp.min(x)


@_directional_min.defjvp
def _directional_min_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    m = jnp.min(x)
    return m, jnp.min(jnp.where(x == m, dx, jnp.inf))


def _recentre_step(u, o, p, directional: bool):
    """λ* = max{λ ∈ [0, 1] : U_t + λ(U^i − EU) ≥ 0 for every outcome with p_i > 0}."""
    dev = o - p @ o
    neg = (dev < 0) & (p[:, None] > 0)
    ratio = jnp.where(neg, u / jnp.where(neg, -dev, 1.0), jnp.inf)
    cand = jnp.concatenate([jnp.ones((1,), u.dtype), ratio.reshape(-1)])
    lam = _directional_min(cand) if directional else jnp.min(cand)
    return lam, dev


def _lottery_value(fam: PolicyFamily, u, o, p, kind, directional: bool = False):
    """Value of the lottery (o, p) from U_t = u under penalty `kind` (one lottery; see module doc).

    `kind` is a name (static) or an integer array indexing `PENALTY_KINDS` (traced: one compiled
    program serves every variant, through `lax.switch`).
    """
    if not isinstance(kind, str):
        branches = [lambda o, p, k=k: _lottery_value(fam, u, o, p, k, directional) for k in PENALTY_KINDS]
        return jax.lax.switch(kind, branches, o, p)
    if kind == "recentred":
        lam, dev = _recentre_step(u, o, p, directional)
        # No clipping: the step keeps w ≥ 0 up to rounding, and a clip's kink at 0 would halve the
        # directional derivative at the vertices.
        return p @ jax.vmap(fam.f)(u + lam * dev)
    eu = p @ o
    fs = jax.vmap(fam.f)(o)
    if kind == "text":
        lam = p @ jax.vmap(fam.value)(o)
    elif kind == "bregman":
        lam = fam.value(u)
    elif kind == "chord":
        lam = jax.vmap(fam.f)(jnp.eye(u.shape[-1], dtype=u.dtype))
    else:  # pragma: no cover - checked at entry
        raise ValueError(kind)
    return p @ fs + lam @ (u - eu)


def _full_information(fam: PolicyFamily, u):
    """C(U_t) = Σ_j U_t,j f(v_j): the value of learning the true utility (best unbiased lottery)."""
    return u @ jax.vmap(fam.f)(jnp.eye(u.shape[-1], dtype=u.dtype))


def _slope(fam: PolicyFamily, u, q, kind: str):
    """Right derivative at ε = 0 of ε ↦ A(vertices, U_t + ε q): the full-information lottery biased along q."""
    eye = jnp.eye(u.shape[-1], dtype=u.dtype)
    fun = lambda eps: _lottery_value(fam, u, eye, u + eps * q, kind, directional=True)  # noqa: E731
    return jax.jvp(fun, (jnp.zeros((), u.dtype),), (jnp.ones((), u.dtype),))[1]


def _edge_directions(u, active):
    """(e_j − e_k)/√2 for active j ≠ k with U_t,k > 0 (p_k can decrease), and a validity mask."""
    n1 = u.shape[-1]
    eye = jnp.eye(n1, dtype=u.dtype)
    dirs = (eye[:, None, :] - eye[None, :, :]).reshape(n1 * n1, n1) / jnp.sqrt(2.0).astype(u.dtype)
    ok = (active[:, None] & (u[None, :] > 0) & ~jnp.eye(n1, dtype=bool)).reshape(-1)
    return dirs, ok


class BiasSearch(eqx.Module):
    """Result of `search_bias` (all arrays; vmap/jit-able pytree).

    incentive: max over starts of A − C(U_t) (> 0: a biased lottery beats every unbiased one);
    outcomes, probs: that lottery; bias = EU − U_t; action_value: its A; full_information: C(U_t);
    same-support comparisons are in `same_support_value`. slope: right derivative of A at the
    full-information lottery along the found bias (probabilities moved by ε·bias/|bias|);
    max_slope: the largest such slope over that direction and every (e_j − e_k)/√2 (> 0: first-order
    incentive to bias). incentives: A − C(U_t) per start. recentred_min: min coordinate of the found
    outcomes recentred, U^i + U_t − EU (< 0: they leave Δⁿ, the only way the text's penalty can pay);
    recentred_mins: the same per start.

    Attributes:
        incentive: max over starts of A − C(U_t), shape ().
        outcomes: the best lottery's outcomes, shape (k, n+1).
        probs: its probabilities, shape (k,).
        bias: EU − U_t, shape (n+1,).
        action_value: its value A, shape ().
        full_information: C(U_t), shape ().
        slope: right derivative of A along the found bias, shape ().
        max_slope: the largest such slope over the tested directions, shape ().
        incentives: A − C(U_t) per start, shape (s,).
        recentred_min: min coordinate of the recentred outcomes U^i + U_t − EU, shape ().
        recentred_mins: the same per start, shape (s,).
    """

    incentive: Float[Array, ""]
    outcomes: Float[Array, "k n1"]
    probs: Float[Array, " k"]
    bias: Float[Array, " n1"]
    action_value: Float[Array, ""]
    full_information: Float[Array, ""]
    slope: Float[Array, ""]
    max_slope: Float[Array, ""]
    incentives: Float[Array, " s"]
    recentred_min: Float[Array, ""]
    recentred_mins: Float[Array, " s"]


def _lottery_from(params, active):
    lo, lp = params
    o = jax.nn.softmax(jnp.where(active, lo, -jnp.inf), axis=-1)
    return o, jax.nn.softmax(lp)


@eqx.filter_jit
def _search(fam, u, active, lo, lp, steps: int, learning_rate: float, kind: str) -> BiasSearch:
    """Adam ascent of A over lotteries (outcomes = softmax of logits on the active utilities, probabilities =
    softmax), vmapped over the starts: initial logits `lo` (s, k, n+1) and `lp` (s, k). `active` (n+1,)
    bool: the utilities outcomes may weight (the others get probability exactly 0)."""
    opt = optax.adam(learning_rate)
    value = lambda params: _lottery_value(fam, u, *_lottery_from(params, active), kind)  # noqa: E731

    def ascend(params):
        state = opt.init(params)

        def step(carry, _):
            params, state = carry
            grads = jax.grad(lambda q: -value(q))(params)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, state), None, length=steps)
        return params

    params = jax.vmap(ascend)((lo, lp))
    outs, probs = jax.vmap(lambda a, b: _lottery_from((a, b), active))(*params)
    values = jax.vmap(lambda o, p: _lottery_value(fam, u, o, p, kind))(outs, probs)
    full = _full_information(fam, u)
    incentives = values - full
    best = jnp.argmax(jnp.where(jnp.isnan(incentives), -jnp.inf, incentives))
    o, p = outs[best], probs[best]
    bias = p @ o - u
    tangent = bias - jnp.mean(jnp.where(active, bias, 0.0)) * active  # on the active face
    norm = jnp.linalg.norm(tangent)
    q = jnp.where(norm > 0, tangent / jnp.where(norm > 0, norm, 1.0), 0.0)
    # Moving p along q must keep the vertex probabilities ≥ 0: only where U_t,j > 0 may q_j < 0.
    q_ok = jnp.all((q >= 0) | (u > 0)) & (norm > 0)
    slope_b = jnp.where(q_ok, _slope(fam, u, q, kind), -jnp.inf)
    dirs, ok = _edge_directions(u, active)
    edge = jax.vmap(lambda d: _slope(fam, u, d, kind))(dirs)
    max_slope = jnp.maximum(slope_b, jnp.max(jnp.where(ok, edge, -jnp.inf)))
    def rmin(o, p):
        return jnp.min(jnp.where((p[:, None] > 0) & active, o + (u - p @ o), jnp.inf))

    rmins = jax.vmap(rmin)(outs, probs)
    return BiasSearch(
        incentive=incentives[best],
        outcomes=o,
        probs=p,
        bias=bias,
        action_value=values[best],
        full_information=full,
        slope=jnp.where(q_ok, slope_b, jnp.nan),
        max_slope=max_slope,
        incentives=incentives,
        recentred_min=rmins[best],
        recentred_mins=rmins,
    )


# One compiled program per (family structure, shapes, variant), reused by every public call.
_lottery_value_jit = eqx.filter_jit(_lottery_value)
_full_information_jit = eqx.filter_jit(_full_information)
_slope_jit = eqx.filter_jit(_slope)


# --- public, validated --------------------------------------------------------------------------


def _check_kind(penalty_kind) -> str:
    if penalty_kind not in PENALTY_KINDS:
        raise ValueError(f"argument `penalty_kind` must be one of {', '.join(map(repr, PENALTY_KINDS))}; got {penalty_kind!r}")
    return penalty_kind


def _check_int(x, name: str, low: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) < low:
        raise ValueError(f"argument `{name}` must be an integer >= {low}; got {x!r}")
    return int(x)


def _check_lottery(u_t, outcomes, probs, family):
    u_t = _weights(u_t, family, "u_t")
    outcomes = _weights(outcomes, family, "outcomes")
    if u_t.ndim != 1 or outcomes.ndim != 2:
        raise ValueError(f"arguments `u_t` (n + 1,) and `outcomes` (k, n + 1) expected; got {u_t.shape} and {outcomes.shape}")
    probs = jnp.asarray(probs)
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.result_type(float))
    if probs.shape != outcomes.shape[:1]:
        raise ValueError(f"argument `probs` must have shape ({outcomes.shape[0]},) (one per row of `outcomes`); got {probs.shape}")
    dt = jnp.result_type(u_t, outcomes, probs)
    return u_t.astype(dt), outcomes.astype(dt), _simplex(probs, "probs").astype(dt)


def lottery_value(u_t: Float[Array, " n1"], outcomes: Float[Array, "k n1"], probs: Float[Array, " k"], values,
                  *, penalty_kind: PenaltyKind = "text") -> Float[Array, ""]:
    """Value of the action "U_{t+1} = U^i with probability p_i" under `penalty_kind` (module doc).

    "text" equals `action_value`. Exact to rounding for every family whose f is exact.

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        outcomes: the lottery's outcomes U^i ∈ Δⁿ, float array of shape (k, n+1).
        probs: the probabilities p_i ≥ 0 (summing to 1), float array of shape (k,).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        penalty_kind: ``"text"`` (default), ``"bregman"``, ``"chord"`` or ``"recentred"`` (module docstring).

    Returns:
        Float scalar array (dtype float64 when `jax_enable_x64` is on (else float32)): the lottery's value A.

    Raises:
        ValueError: naming the argument, when a weight is off the simplex or a shape is wrong.
    """
    family = as_policy_family(values)
    kind = _check_kind(penalty_kind)
    u, o, p = _check_lottery(u_t, outcomes, probs, family)
    return _lottery_value_jit(family, u, o, p, kind)


def full_information_value(u_t: Float[Array, " n1"], values) -> Float[Array, ""]:
    """C(U_t) = Σ_j U_t,j f(v_j): the best value of any unbiased lottery when f is convex (chord at U_t).

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).

    Returns:
        Float scalar array (dtype float64 when `jax_enable_x64` is on (else float32)): C(U_t).
    """
    family = as_policy_family(values)
    return _full_information_jit(family, _weights(u_t, family, "u_t"))


def same_support_value(u_t, outcomes, values) -> float:
    """B(O) = max{Σ p'_i f(U^i) : p' ∈ Δ, Σ p'_i U^i = U_t}, the best unbiased lottery on the support O.

    Solved exactly (HiGHS linear programme, tolerance ~1e-9) on concrete input; −inf when U_t is not in
    the convex hull of the outcomes (no unbiased lottery has this support).

    Args:
        u_t: the current weight U_t ∈ Δⁿ, concrete array of shape (n+1,).
        outcomes: the support U^i ∈ Δⁿ, concrete array of shape (k, n+1).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).

    Returns:
        A Python float: B(O), or −inf when no unbiased lottery has this support.

    References:
        Huangfu, Q., Hall, J. A. J. (2018) "Parallelizing the dual revised simplex method",
        Mathematical Programming Computation 10:119–142 (HiGHS, via `scipy.optimize.linprog`).
    """
    from scipy.optimize import linprog

    from .learning import f as _f

    family = as_policy_family(values)
    u = np.asarray(_weights(u_t, family, "u_t"), dtype=np.float64)
    o = np.asarray(_weights(outcomes, family, "outcomes"), dtype=np.float64)
    if o.ndim != 2 or u.ndim != 1:
        raise ValueError(f"arguments `u_t` (n + 1,) and `outcomes` (k, n + 1) expected; got {u.shape} and {o.shape}")
    fs = np.asarray(_f(outcomes, family), dtype=np.float64)
    a_eq = np.vstack([o.T, np.ones((1, o.shape[0]))])
    b_eq = np.concatenate([u, [1.0]])
    res = linprog(-fs, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    return float(-res.fun) if res.status == 0 else float("-inf")


def bias_slope(u_t: Float[Array, " n1"], direction: Float[Array, " n1"], values,
               *, penalty_kind: PenaltyKind = "text") -> Float[Array, ""]:
    """d/dε A(vertices, U_t + ε q) at ε = 0⁺: the first-order gain from biasing the full-information lottery.

    q = `direction` (Σ q = 0; q_j ≥ 0 where U_t,j = 0). Autodiff (forward mode; one-sided at the kink
    of "recentred"). "text": Σ_j q_j [f(v_j) − λ_j] with λ = Σ_j U_t,j V(π_{v_j}).

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        direction: the bias direction q, float array of shape (n+1,) with Σ q = 0 and q_j ≥ 0
            where U_t,j = 0.
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        penalty_kind: ``"text"`` (default), ``"bregman"``, ``"chord"`` or ``"recentred"`` (module docstring).

    Returns:
        Float scalar array (dtype float64 when `jax_enable_x64` is on (else float32)): dA/dε at ε =
        0⁺ (> 0: a first-order incentive to bias).
    """
    family = as_policy_family(values)
    kind = _check_kind(penalty_kind)
    u = _weights(u_t, family, "u_t")
    q = jnp.asarray(direction, dtype=u.dtype)
    if q.shape != u.shape:
        raise ValueError(f"argument `direction` must have shape {u.shape} (like `u_t`); got {q.shape}")
    qn, un = np.asarray(q), np.asarray(u)
    if not np.all(np.isfinite(qn)) or abs(qn.sum()) > 1e-6 * max(1.0, np.abs(qn).sum()):
        raise ValueError(f"argument `direction` must be finite and sum to 0 (a move along the simplex); got sum {qn.sum()!r}")
    if np.any((qn < 0) & (un <= 0)):
        raise ValueError("argument `direction` must be >= 0 where `u_t` is 0 (probabilities cannot go below 0)")
    return _slope_jit(family, u, q, kind)


def search_bias(u_t: Float[Array, " n1"], values, *, key: PRNGKeyArray, n_outcomes: int | None = None,
                n_starts: int = 64, steps: int = 300, learning_rate: float = 0.05,
                penalty_kind: PenaltyKind = "text") -> BiasSearch:
    """Search lotteries of up to `n_outcomes` outcomes (default n + 1) for the largest A − C(U_t).

    Adam (optax) from `n_starts` random starts, vmapped; outcomes and probabilities are softmaxes of
    logits, so the search approaches, never reaches, the simplex's boundary. A lower bound on the
    supremum (local ascent); see `BiasSearch` for what is returned.

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key (keyword-only).
        n_outcomes: outcomes per lottery k ≥ 1; None (default) is n + 1.
        n_starts: random starts s ≥ 1 (default 64).
        steps: Adam steps per start ≥ 1 (default 300).
        learning_rate: Adam's step size > 0 (default 0.05).
        penalty_kind: ``"text"`` (default), ``"bregman"``, ``"chord"`` or ``"recentred"`` (module docstring).

    Returns:
        A `BiasSearch` (fields described there).

    References:
        Kingma, D. P., Ba, J. (2015) "Adam: a method for stochastic optimization", ICLR.
    """
    family = as_policy_family(values)
    kind = _check_kind(penalty_kind)
    u = _weights(u_t, family, "u_t")
    if u.ndim != 1:
        raise ValueError(f"argument `u_t` must have shape (n + 1,); got {u.shape}")
    n_outcomes = u.shape[-1] if n_outcomes is None else _check_int(n_outcomes, "n_outcomes", 1)
    n_starts = _check_int(n_starts, "n_starts", 1)
    steps = _check_int(steps, "steps", 0)
    if not (isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"argument `learning_rate` must be a finite number > 0; got {learning_rate!r}")
    lo, lp = _initial_logits(key, n_starts, n_outcomes, u.shape[-1], u.dtype)
    # The variant as a traced index: one compiled search serves every variant of a family and shape.
    return _search(family, u, jnp.ones(u.shape, bool), lo, lp, steps, float(learning_rate),
                   jnp.asarray(PENALTY_KINDS.index(kind)))


def _initial_logits(key, n_starts: int, n_outcomes: int, n_utilities: int, dtype, scale: float = 3.0):
    """Random starts of the search: outcome logits N(0, scale²) (many near a vertex), probability logits N(0, 1)."""
    ko, kp = jax.random.split(key)
    return (scale * jax.random.normal(ko, (n_starts, n_outcomes, n_utilities), dtype),
            jax.random.normal(kp, (n_starts, n_outcomes), dtype))
