"""Policy families: value vectors V(π) ∈ R^{n+1} and the best policy π_w for a weight w.

A policy π has a value vector V(π) with V_j(π) = E_t(v_j | π). A family fixes which policies
exist; for a weight w ∈ Δⁿ it picks π_w (the w-maximiser) and so defines

    g_v(w) = w·V(π_v)          (affine in w: the utility w judged under the policy chosen for v)
    f(w)   = g_w(w) = max_π w·V(π).

Methods act on ONE weight vector w of shape (n+1,); the functions in `sumjax.guarded.learning`
validate, broadcast and batch. Families are `eqx.Module` pytrees, so they pass through
`jax.jit`/`jax.vmap`/`jax.grad` (gradients flow to their arrays: values, temperature, coupling,
the parameters of a value map).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PyTree

from .._validate import check_range, check_shape, is_traced
from .simplex import _finite

__all__ = [
    "PolicyFamily",
    "FinitePolicies",
    "SoftPolicies",
    "WeightDependentPolicies",
    "ParametricPolicies",
    "as_policy_family",
]


class PolicyFamily(eqx.Module):
    """Interface of a policy family (single weight vector w of shape (n+1,))."""

    @property
    @abc.abstractmethod
    def n_utilities(self) -> int:
        """n + 1, the number of utilities v_0..v_n."""

    @abc.abstractmethod
    def best_policy(self, w: Float[Array, " n1"]) -> PyTree:
        """π_w in the family's own representation (index, distribution, parameters).

        Args:
            w: a weight w ∈ Δⁿ, float array of shape (n+1,).

        Returns:
            π_w in the family's own representation (a pytree).
        """

    @abc.abstractmethod
    def value(self, w: Float[Array, " n1"]) -> Float[Array, " n1"]:
        """V(π_w), the value vector of the policy chosen for w.

        Args:
            w: a weight w ∈ Δⁿ, float array of shape (n+1,).

        Returns:
            Float array of shape (n+1,): V(π_w).
        """

    @abc.abstractmethod
    def g(self, v: Float[Array, " n1"], w: Float[Array, " n1"]) -> Float[Array, ""]:
        """g_v(w): the utility w evaluated under π_v.

        Args:
            v: the weight v ∈ Δⁿ whose policy π_v is used, float array of shape (n+1,).
            w: the weight w being judged, float array of shape (n+1,).

        Returns:
            Float scalar array: g_v(w).
        """

    def f(self, w: Float[Array, " n1"]) -> Float[Array, ""]:
        """f(w) = g_w(w) = max_π w·V(π).

        Args:
            w: a weight w ∈ Δⁿ, float array of shape (n+1,).

        Returns:
            Float scalar array: f(w).
        """
        return self.g(w, w)

    def g_difference(self, v, w1, w2) -> Float[Array, ""]:
        """g_v(w1) − g_v(w2) = V(π_v)·(w1 − w2) for affine g_v (no cancellation between two g's).

        Args:
            v: the weight v ∈ Δⁿ whose policy π_v is used, float array of shape (n+1,).
            w1: a weight, float array of shape (n+1,).
            w2: a weight, float array of shape (n+1,).

        Returns:
            Float scalar array: g_v(w1) − g_v(w2).
        """
        return jnp.dot(self.value(v), w1 - w2)


def _smooth_max(s: Float[Array, " m"], tau: Float[Array, ""]):
    """(τ·logsumexp(s/τ), softmax(s/τ)) for τ > 0 and (max s, one-hot argmax) at τ = 0.

    Shifted by max s, so nothing overflows for any τ. When τ ≤ max(ε·(max s − min s), √tiny)
    the two differ by at most τ·log m (below rounding) and the exact max is used: together with
    the double `where` on τ this keeps values and gradients finite down to τ = 0.
    """
    fi = jnp.finfo(s.dtype)
    smax = jax.lax.stop_gradient(jnp.max(s))
    spread = smax - jax.lax.stop_gradient(jnp.min(s))
    pos = tau > jnp.maximum(fi.eps * spread, jnp.sqrt(fi.tiny))
    tau_safe = jnp.where(pos, tau, jnp.ones_like(tau))
    z = (s - smax) / tau_safe
    soft_val = smax + tau_safe * jax.nn.logsumexp(z)
    soft_p = jax.nn.softmax(z)
    hard_p = jax.nn.one_hot(jnp.argmax(s), s.shape[0], dtype=s.dtype)
    val = jnp.where(pos, soft_val, jnp.max(s))
    p = jnp.where(pos, soft_p, hard_p)
    return val, p


def _tie_mean_rows(s: Float[Array, " m"], rows: Float[Array, "m k"]) -> Float[Array, " k"]:
    """Mean of the rows at the maximisers of s (the row itself where the max is unique, exactly).

    A compare against the max, a product and a sum: XLA-CPU's argmax, and autodiff of `max`, are
    each an order of magnitude slower on batched (points × policies) scores.
    """
    mask = (s == jnp.max(s)).astype(rows.dtype)
    return (mask @ rows) / jnp.sum(mask)


def _first_max_index(s: Float[Array, " m"]) -> Int[Array, ""]:
    """`jnp.argmax(s)` (first index on ties, first NaN if any) as a min over the maximisers."""
    hit = (s == jnp.max(s)) | jnp.isnan(s)
    return jnp.min(jnp.where(hit, jnp.arange(s.shape[0]), s.shape[0]))


@jax.custom_jvp
def _tie_max(s: Float[Array, " m"]) -> Float[Array, ""]:
    """max s, differentiated as the tie-averaged one-hot: d max = mean of ds over the maximisers."""
    return jnp.max(s)


@_tie_max.defjvp
def _tie_max_jvp(primals, tangents):
    (s,), (ds,) = primals, tangents
    smax = jnp.max(s)
    mask = (s == smax).astype(s.dtype)
    return smax, jnp.dot(mask, ds) / jnp.sum(mask)


def _check_values(values, name: str = "values"):
    values = jnp.asarray(values)
    if not jnp.issubdtype(values.dtype, jnp.floating):
        values = values.astype(jnp.result_type(float))
    check_shape(values, name, (None, None), what="(m policies × n + 1 utilities)")
    if values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"argument `{name}` must have at least one policy and one utility; got shape {values.shape}")
    return _finite(values, name)


def _check_temperature(temperature):
    temperature = jnp.asarray(temperature)
    if not jnp.issubdtype(temperature.dtype, jnp.floating):
        temperature = temperature.astype(jnp.result_type(float))
    check_shape(temperature, "temperature", ())
    if not is_traced(temperature) and float(temperature) >= 0 and np.isfinite(float(temperature)):
        return temperature  # concrete and valid: skip the eager jnp check
    return check_range(temperature, "temperature", 0.0)


class _TablePolicies(PolicyFamily):
    """A family built on a table `values` (m, n+1) of policy value vectors, one row per policy."""

    values: Float[Array, "m n1"]

    @property
    def n_utilities(self) -> int:
        return self.values.shape[-1]

    @property
    def n_policies(self) -> int:
        return self.values.shape[0]


class FinitePolicies(_TablePolicies):
    """Finitely many policies given by their value vectors, the rows of `values` (m, n+1).

    f(w) = max_π w·V(π) (piecewise linear, convex); ∇f(w) = V(π_w) (Danskin) wherever the maximiser
    is unique. On a tie `value`, and the gradient of `f`, are the average of the tied rows (the
    uniform mixture of the maximisers, itself a maximiser among mixed policies, so g_v ≤ f still
    and f = g_w): a valid subgradient. `best_policy` is the first maximising index. Exact up to one
    matrix–vector product's rounding (the tie average adds one division's rounding).

    Args:
        values: the value vectors V(π), float array of shape (m, n+1), m ≥ 1.

    Raises:
        ValueError: if `values` is not a finite 2-D array.

    References:
        Danskin, J. M. (1967) The Theory of Max-Min and its Application to Weapons Allocation
        Problems, Springer (∇f(w) = V(π_w) for f(w) = max_π w·V(π)).
    """

    def __init__(self, values):
        self.values = _check_values(values)

    # Scores as w @ valuesᵀ, not values @ w: under vmap the former batches into a row-major
    # (points × policies) product, the latter into a transposed layout that is ~2x slower on CPU.
    def best_policy(self, w) -> Int[Array, ""]:
        return _first_max_index(w @ self.values.T)

    def value(self, w):
        return _tie_mean_rows(w @ self.values.T, self.values)

    def g(self, v, w):
        return jnp.dot(w, self.value(v))

    def f(self, w):
        return _tie_max(w @ self.values.T)


class SoftPolicies(_TablePolicies):
    """Entropy-regularised choice among the rows of `values` at temperature τ ≥ 0.

    π_w = softmax(values·w/τ) (a distribution over rows); it maximises w·V̄(π) + τ·H(π), so
    f_τ(w) = τ·log Σ_π exp(w·V(π)/τ) = g_w(w) with g_v(w) = w·V̄(π_v) + τ·H(π_v) (affine in w),
    V̄(π) = Σ_π π(π)·V(π), and ∇f_τ = V̄(π_w) (the softmax-weighted value). Smooth and convex;
    max ≤ f_τ ≤ max + τ·log m, so τ → 0 recovers the finite family (τ = 0 is exactly it).
    Accurate to rounding for every τ ≥ 0, values and gradients finite from τ = 0 to huge τ.

    Args:
        values: the value vectors V(π), float array of shape (m, n+1), m ≥ 1.
        temperature: τ ≥ 0, float scalar (array); τ = 0 is `FinitePolicies`.

    References:
        Danskin, J. M. (1967) The Theory of Max-Min and its Application to Weapons Allocation
        Problems, Springer (∇f(w) = V(π_w) for f(w) = max_π w·V(π)).
    """

    temperature: Float[Array, ""]

    def __init__(self, values, temperature):
        self.values = _check_values(values)
        self.temperature = _check_temperature(temperature)

    def _solve(self, w):
        return _smooth_max(self.values @ w, self.temperature.astype(jnp.result_type(self.values, w)))

    def best_policy(self, w) -> Float[Array, " m"]:
        return self._solve(w)[1]

    def value(self, w):
        return self.best_policy(w) @ self.values

    def entropy_bonus(self, v) -> Float[Array, ""]:
        """τ·H(π_v) = f_τ(v) − v·V̄(π_v) (0 at τ = 0).

        Args:
            v: the weight v ∈ Δⁿ whose policy π_v is used, float array of shape (n+1,).

        Returns:
            Float scalar array: τ·H(π_v) ≥ 0.
        """
        val, p = self._solve(v)
        return val - jnp.dot(p, self.values @ v)

    def g(self, v, w):
        val, p = self._solve(v)
        vbar = p @ self.values
        return jnp.dot(w, vbar) + (val - jnp.dot(vbar, v))

    def f(self, w):
        return self._solve(w)[0]


class WeightDependentPolicies(_TablePolicies):
    """Policies whose value vectors depend on the agent's own weight w (beyond the text).

    V(π; w) = values[π] + coupling[π]·w — the agent's utility affects more than its actions
    (e.g. the world reacts to what the agent values). π_w maximises w·V(π; w) (softly at
    temperature τ > 0, exactly at τ = 0), g_v(w) = w·V̄(π_v; w) (+ τ·H(π_v)), f(w) = g_w(w).
    g_v is no longer affine, so f need not be convex: each w·V(π; w) = w·values[π] + wᵀ·coupling[π]·w
    is concave along the simplex when the symmetric part of coupling[π] is negative definite on
    the tangent space, convex when it is positive semidefinite (coupling = 0 is `SoftPolicies`).

    Args:
        values: the value vectors V(π), float array of shape (m, n+1), m ≥ 1.
        coupling: the weight dependence, float array of shape (m, n+1, n+1).
        temperature: τ ≥ 0, float scalar (default 0: exact maximisation).
    """

    coupling: Float[Array, "m n1 n1"]
    temperature: Float[Array, ""]

    def __init__(self, values, coupling, temperature=0.0):
        self.values = _check_values(values)
        coupling = jnp.asarray(coupling, dtype=self.values.dtype)
        check_shape(coupling, "coupling", self.values.shape + (self.values.shape[-1],), what="(m, n + 1, n + 1)")
        self.coupling = _finite(coupling, "coupling")
        self.temperature = _check_temperature(temperature)

    def table(self, w) -> Float[Array, "m n1"]:
        """V(π; w) for every policy π, in the world shaped by weight w.

        Args:
            w: a weight w ∈ Δⁿ, float array of shape (n+1,).

        Returns:
            Float array of shape (m, n+1): V(π; w) for every policy.
        """
        return self.values + jnp.einsum("mjl,l->mj", self.coupling, w)

    def _solve(self, w):
        return _smooth_max(self.table(w) @ w, self.temperature.astype(jnp.result_type(self.values, w)))

    def best_policy(self, w) -> Float[Array, " m"]:
        return self._solve(w)[1]

    def value(self, w):
        return self.best_policy(w) @ self.table(w)

    def g(self, v, w):
        val, p = self._solve(v)
        bonus = val - jnp.dot(p, self.table(v) @ v)
        return jnp.dot(w, p @ self.table(w)) + bonus

    def f(self, w):
        return self._solve(w)[0]

    def g_difference(self, v, w1, w2):
        # g_v is not affine here: V(π_v; w) moves with w.
        p = self.best_policy(v)
        return jnp.dot(w1, p @ self.table(w1)) - jnp.dot(w2, p @ self.table(w2))


class ParametricPolicies(PolicyFamily):
    """Policies with parameters θ and a differentiable value map V(θ) ∈ R^{n+1}.

    π_w = θ_w is found by `steps` updates of `optimiser` (an optax transformation) ascending
    w·V(θ) from `theta0`; f(w) = w·V(θ_w), g_v(w) = w·V(θ_v). θ_w is held fixed under
    differentiation, so ∇f(w) = V(θ_w) — Danskin's identity, exact when the ascent has reached
    the maximiser. With too few steps θ_w is not the maximiser, f ≥ g_v can fail, and the
    convexity checks report it. `value_map` may be a function or an `eqx.Module` (e.g. an MLP;
    its arrays are leaves of this pytree). Use `eqx.filter_jit` (or close over the family) when
    `value_map` is a plain function. Vmap over w to solve for many weights at once.

    Args:
        value_map: θ ↦ V(θ) ∈ R^{n+1}, a differentiable function or `eqx.Module`.
        theta0: the starting parameters θ₀ (a pytree of arrays).
        optimiser: an optax transformation; None (default) is `optax.sgd(0.1)`.
        steps: optimiser updates per weight, an int ≥ 1 (default 200).

    References:
        Danskin, J. M. (1967) The Theory of Max-Min and its Application to Weapons Allocation
        Problems, Springer (∇f(w) = V(π_w) for f(w) = max_π w·V(π)).
    """

    value_map: Callable
    theta0: PyTree
    optimiser: optax.GradientTransformation = eqx.field(static=True)
    steps: int = eqx.field(static=True)

    def __init__(self, value_map, theta0, optimiser=None, steps: int = 200):
        if not callable(value_map):
            raise ValueError(f"argument `value_map` must be callable θ -> V(θ) of shape (n + 1,); got {type(value_map)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"argument `steps` must be an integer >= 0 (number of ascent steps); got {steps!r}")
        self.value_map = value_map
        self.theta0 = jax.tree_util.tree_map(jnp.asarray, theta0)
        self.optimiser = optax.sgd(0.1) if optimiser is None else optimiser
        self.steps = steps
        out = jax.eval_shape(value_map, self.theta0)
        if len(out.shape) != 1 or out.shape[0] < 1:
            raise ValueError(f"argument `value_map` must return a vector of n + 1 values; got shape {out.shape}")

    @property
    def n_utilities(self) -> int:
        return jax.eval_shape(self.value_map, self.theta0).shape[0]

    def best_policy(self, w) -> PyTree:
        """θ_w after `steps` optimiser updates on −w·V(θ) (held fixed under differentiation).

        Args:
            w: a weight w ∈ Δⁿ, float array of shape (n+1,).

        Returns:
            The parameters θ_w (a pytree shaped like `theta0`).
        """
        loss = lambda theta: -jnp.dot(w, self.value_map(theta))  # noqa: E731
        theta = self.theta0
        state = self.optimiser.init(theta)

        def step(_, carry):
            theta, state = carry
            grads = jax.grad(loss)(theta)
            updates, state = self.optimiser.update(grads, state, theta)
            return optax.apply_updates(theta, updates), state

        theta, _ = jax.lax.fori_loop(0, self.steps, step, (theta, state))
        return jax.lax.stop_gradient(theta)

    def value(self, w):
        return self.value_map(self.best_policy(w))

    def g(self, v, w):
        return jnp.dot(w, self.value(v))


def as_policy_family(values) -> PolicyFamily:
    """A `PolicyFamily` unchanged; an (m, n+1) array of value vectors as `FinitePolicies`.

    Args:
        values: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).

    Returns:
        A `PolicyFamily`.

    Raises:
        ValueError: if an array is not a finite (m, n+1) array.
    """
    if isinstance(values, PolicyFamily):
        return values
    return FinitePolicies(values)
