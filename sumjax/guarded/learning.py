"""f_t, g_v, π_w, the bias penalty and the value of an action (docs/model.md, "Guarded learning").

`values` is everywhere either an (m, n+1) array of policy value vectors (read as
`FinitePolicies`) or any `PolicyFamily` pytree. Weights are points of Δⁿ on the last axis;
leading axes broadcast and are batched in one vmapped (and, for big batches, chunked) call.
An action leads to U_{t+1} = U^i (`outcomes[i]`, a point of Δⁿ) with probability `probs[i]`.

References:
    Danskin, J. M. (1967) The Theory of Max-Min and its Application to Weapons Allocation
    Problems, Springer (the gradient of f = max_π w·V(π) is V(π_w) where π_w is unique).
    Rockafellar, R. T. (1970) Convex Analysis, Princeton University Press (f as a support
    function: convex, with subdifferential the hull of the maximisers' values).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PyTree

from .._validate import check_shape
from .policies import FinitePolicies, PolicyFamily, SoftPolicies, WeightDependentPolicies, as_policy_family
from .simplex import _simplex, check_weights

__all__ = [
    "g",
    "best_policy",
    "policy_value",
    "f",
    "grad_f",
    "expected_update",
    "is_unbiased",
    "penalty",
    "action_value",
    "forced_update_value",
]

# Largest number of (weight, policy) products held at once when a batch is chunked.
_CHUNK_ELEMENTS = 1 << 22


def _weights(w, family: PolicyFamily, name: str):
    w = check_weights(w, name)
    if w.shape[-1] != family.n_utilities:
        raise ValueError(
            f"argument `{name}` must have a last axis of n + 1 = {family.n_utilities} weights "
            f"(one per column of `values`); got shape {w.shape}"
        )
    return w


def _chunk(family: PolicyFamily) -> int:
    """Weights per chunk so that one chunk holds about `_CHUNK_ELEMENTS` intermediate numbers."""
    n1 = family.n_utilities
    if isinstance(family, (FinitePolicies, SoftPolicies)):
        per_point = family.values.shape[0] * n1
    elif isinstance(family, WeightDependentPolicies):
        per_point = family.values.shape[0] * n1 * n1  # the (m, n+1) table V(π; w) per weight and its einsum
    else:
        per_point = 64 * n1
    return max(1, _CHUNK_ELEMENTS // max(1, per_point))


def _map(fn, *ws, family: PolicyFamily, factor: int = 1):
    """Apply `fn` (on single weight vectors) over the broadcast leading axes of `ws`, in chunks
    (`lax.map`) when the batch would hold too many numbers (`factor`: how many times more per
    point than evaluating f, e.g. n + 1 for a Hessian)."""
    batch = jnp.broadcast_shapes(*(w.shape[:-1] for w in ws))
    if batch == ():
        return fn(*ws)
    flat = [jnp.broadcast_to(w, batch + w.shape[-1:]).reshape(-1, w.shape[-1]) for w in ws]
    n, chunk = flat[0].shape[0], max(1, _chunk(family) // factor)
    if n <= chunk:
        out = jax.vmap(fn)(*flat)
    else:
        out = jax.lax.map(lambda args: fn(*args), tuple(flat), batch_size=chunk)
    return jax.tree_util.tree_map(lambda o: o.reshape(batch + o.shape[1:]), out)


# Validation runs eagerly in the public functions; the arithmetic runs in one compiled call per
# (operation, shapes), so eager use costs one compile instead of op-by-op dispatch. `op` is a
# module-level function (static: hashed by identity), the family a pytree argument.
@eqx.filter_jit
def _run(op, family, *ws):
    return _map(lambda *a: op(family, *a), *ws, family=family)


@eqx.filter_jit
def _run_action(core, family, u_t, outcomes, probs, batch):
    return _per_action(lambda u, o, p: core(family, u, o, p), u_t, outcomes, probs, batch)


def _op_g(fam, v, w):
    return fam.g(v, w)


def _op_best(fam, w):
    return fam.best_policy(w)


def _op_value(fam, w):
    return fam.value(w)


def _op_f(fam, w):
    return fam.f(w)


def _op_grad_f(fam, w):
    return jax.grad(fam.f)(w)


def _op_forced(fam, u, wp):
    return fam.g(wp, u)


def _core_penalty(fam, u, o, p):
    eu = p @ o
    return jnp.dot(p, jax.vmap(fam.g_difference, in_axes=(0, None, None))(o, u, eu))


def _core_action_value(fam, u, o, p):
    eu = p @ o
    fs = jax.vmap(fam.f)(o)
    return jnp.dot(p, fs + jax.vmap(fam.g_difference, in_axes=(0, None, None))(o, u, eu))


def g(v: Float[Array, "... n1"], w: Float[Array, "... n1"], values) -> Float[Array, "..."]:
    """g_v(w) = w·V(π_v): utility w judged under the policy that maximises v (affine in w).

    For `SoftPolicies` the entropy bonus τ·H(π_v) is included, so f(w) = g_w(w) for every family.
    Exact to one dot product's rounding.

    Args:
        v: the utility whose maximiser is used, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        w: the utility that judges it, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        g_v(w), float array of the broadcast leading shape.

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    v, w = _weights(v, family, "v"), _weights(w, family, "w")
    return _run(_op_g, family, v, w)


def best_policy(w: Float[Array, "... n1"], values) -> PyTree:
    """π_w in the family's representation: row index (finite; the first on ties), distribution
    over rows (soft, weight-dependent) or parameters θ_w (parametric).

    Args:
        w: the utility weights, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        π_w with `w`'s leading shape: int row indices, (..., m) float distributions, or a pytree
        of parameters, depending on the family.

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    return _run(_op_best, family, _weights(w, family, "w"))


def policy_value(w: Float[Array, "... n1"], values) -> Float[Array, "... n1"]:
    """V(π_w), the value vector of the w-maximising policy (= ∇f(w) for convex families).

    Args:
        w: the utility weights, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        V(π_w), float array of shape (..., n+1).

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    return _run(_op_value, family, _weights(w, family, "w"))


def f(w: Float[Array, "... n1"], values) -> Float[Array, "..."]:
    """f_t(w) = max_π w·V(π) = E_t(w | π_w); convex when utility depends only on actions.

    Exact to one dot product's rounding for arrays; batches of 10⁵ weights × 10⁴ policies are
    evaluated in chunks so memory stays bounded.

    Args:
        w: the utility weights, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        f_t(w), float array of `w`'s leading shape.

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    return _run(_op_f, family, _weights(w, family, "w"))


def grad_f(w: Float[Array, "... n1"], values) -> Float[Array, "... n1"]:
    """∇f(w) by autodiff. Danskin: equals V(π_w) where π_w is unique (softmax-weighted value
    for the soft family; the mean of the tied rows, a subgradient, at a tie of the finite family,
    like `policy_value`). Only its component along the simplex (Σ = 0) is intrinsic.
    Danskin (1967).

    Args:
        w: the utility weights, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        ∇f(w), float array of shape (..., n+1).

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    return _run(_op_grad_f, family, _weights(w, family, "w"))


def _action(u_t, outcomes, probs, family: PolicyFamily):
    u_t = _weights(u_t, family, "u_t")
    outcomes = _weights(outcomes, family, "outcomes")
    if outcomes.ndim < 2:
        raise ValueError(f"argument `outcomes` must have shape (k, n + 1) (k possible U_t+1); got {outcomes.shape}")
    probs = jnp.asarray(probs)
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.result_type(float))
    if probs.ndim < 1 or probs.shape[-1] != outcomes.shape[-2]:
        raise ValueError(
            f"argument `probs` must have shape (k,) with k = {outcomes.shape[-2]} (one per row of `outcomes`); got {probs.shape}"
        )
    probs = _simplex(probs, "probs")
    batch = jnp.broadcast_shapes(u_t.shape[:-1], outcomes.shape[:-2], probs.shape[:-1])
    return u_t, outcomes, probs, batch


def _per_action(core, u_t, outcomes, probs, batch):
    if batch == ():
        return core(u_t, outcomes, probs)
    u = jnp.broadcast_to(u_t, batch + u_t.shape[-1:]).reshape((-1,) + u_t.shape[-1:])
    o = jnp.broadcast_to(outcomes, batch + outcomes.shape[-2:]).reshape((-1,) + outcomes.shape[-2:])
    p = jnp.broadcast_to(probs, batch + probs.shape[-1:]).reshape((-1,) + probs.shape[-1:])
    return jax.vmap(core)(u, o, p).reshape(batch)


def expected_update(outcomes: Float[Array, "... k n1"], probs: Float[Array, "... k"]) -> Float[Array, "... n1"]:
    """EU_{t+1} = Σ_i p_i U^i, the expected next utility (a point of Δⁿ). Exact up to rounding.

    Args:
        outcomes: the possible U_{t+1}, float array of shape (..., k, n+1), each row on Δⁿ.
        probs: their probabilities, float array of shape (..., k) on the simplex.

    Returns:
        EU_{t+1}, float array of shape (..., n+1).

    Raises:
        ValueError: naming `outcomes` or `probs` (off the simplex or mismatched shapes).
    """
    outcomes = check_weights(outcomes, "outcomes")
    if outcomes.ndim < 2:
        raise ValueError(f"argument `outcomes` must have shape (k, n + 1); got {outcomes.shape}")
    probs = jnp.asarray(probs)
    check_shape(probs, "probs", probs.shape[:-1] + (outcomes.shape[-2],), what="(k,), one per row of `outcomes`")
    probs = _simplex(probs, "probs")
    return jnp.einsum("...k,...kj->...j", probs, outcomes)


def is_unbiased(u_t, outcomes, probs, *, atol: float | None = None) -> Bool[Array, "..."]:
    """True iff EU_{t+1} = U_t (each coordinate within `atol`: 1e-9 float64, 1e-6 float32).

    Args:
        u_t: the current utility U_t, float array of shape (..., n+1) on Δⁿ.
        outcomes: the possible U_{t+1}, float array of shape (..., k, n+1), rows on Δⁿ.
        probs: their probabilities, float array of shape (..., k) on the simplex.
        atol: the per-coordinate tolerance (default: 1e-9 in float64, 1e-6 in float32).

    Returns:
        bool array of the broadcast leading shape.

    Raises:
        ValueError: naming `u_t`, `outcomes` or `probs` (off the simplex or mismatched shapes).
    """
    u_t = check_weights(u_t, "u_t")
    eu = expected_update(outcomes, probs)
    if eu.shape[-1] != u_t.shape[-1]:
        raise ValueError(f"argument `outcomes` must have as many columns as `u_t` has weights ({u_t.shape[-1]}); got {eu.shape[-1]}")
    if atol is None:
        atol = 1e-6 if jnp.result_type(u_t, eu) == jnp.float32 else 1e-9
    return jnp.all(jnp.abs(eu - u_t) <= atol, axis=-1)


def penalty(u_t: Float[Array, " n1"], outcomes: Float[Array, "k n1"], probs: Float[Array, " k"], values) -> Float[Array, ""]:
    """Bias penalty Σ_i p_i [g_{U^i}(U_t) − g_{U^i}(EU)] = (Σ_i p_i V(π_{U^i}))·(U_t − EU).

    Zero for an unbiased action; may be positive (the text's forced ¼v₀ + ¾v₁). Computed in the
    product form (no cancellation between two g values) for families with affine g_v.

    Args:
        u_t: the current utility U_t, float array of shape (..., n+1) on Δⁿ.
        outcomes: the possible U_{t+1}, float array of shape (..., k, n+1), rows on Δⁿ.
        probs: their probabilities, float array of shape (..., k) on the simplex.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        The penalty, float array of the broadcast leading shape.

    Raises:
        ValueError: naming `u_t`, `outcomes` or `probs` (off the simplex, or shapes that do not
            fit: `outcomes` (k, n+1), `probs` (k,)).
    """
    family = as_policy_family(values)
    u_t, outcomes, probs, batch = _action(u_t, outcomes, probs, family)
    return _run_action(_core_penalty, family, u_t, outcomes, probs, batch)


def action_value(u_t: Float[Array, " n1"], outcomes: Float[Array, "k n1"], probs: Float[Array, " k"], values) -> Float[Array, ""]:
    """Value of an action under guarded learning: Σ_i p_i f(U^i) + penalty.

    Unbiased and informative: Σ p_i f(U^i) ≥ f(U_t). Forcing U_{t+1} = w': g_{w'}(U_t) ≤ f(U_t).

    Args:
        u_t: the current utility U_t, float array of shape (..., n+1) on Δⁿ.
        outcomes: the possible U_{t+1}, float array of shape (..., k, n+1), rows on Δⁿ.
        probs: their probabilities, float array of shape (..., k) on the simplex.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        The action's value, float array of the broadcast leading shape.

    Raises:
        ValueError: naming `u_t`, `outcomes` or `probs` (off the simplex, or shapes that do not
            fit: `outcomes` (k, n+1), `probs` (k,)).
    """
    family = as_policy_family(values)
    u_t, outcomes, probs, batch = _action(u_t, outcomes, probs, family)
    return _run_action(_core_action_value, family, u_t, outcomes, probs, batch)


def forced_update_value(u_t: Float[Array, "... n1"], w_prime: Float[Array, "... n1"], values) -> Float[Array, "..."]:
    """Value of forcing U_{t+1} = w' (probability 1): f(w') + penalty = g_{w'}(U_t) ≤ f(U_t).

    Args:
        u_t: the current utility U_t, a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        w_prime: the forced next utility w', a point of Δⁿ on the last axis (shape (..., n+1), entries ≥ 0 summing
            to 1); leading axes broadcast.
        values: an (m, n+1) float array of policy value vectors (read as `FinitePolicies`) or
            any `PolicyFamily`.

    Returns:
        g_{w'}(U_t), float array of the broadcast leading shape.

    Raises:
        ValueError: naming the argument whose weights are off the simplex or whose last axis
            is not n + 1.
    """
    family = as_policy_family(values)
    u_t, w_prime = _weights(u_t, family, "u_t"), _weights(w_prime, family, "w_prime")
    return _run(_op_forced, family, u_t, w_prime)
