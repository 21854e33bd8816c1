"""Continuous laws of the next utility ("the continuous case is almost identical").

An action makes U_{t+1} a random point of Δⁿ with law μ, mean EU = E_μ[U]. As for finitely many
outcomes, penalty = E_μ[V(π_U)]·(U_t − EU) and action value = E_μ[f(U)] + penalty.

Laws: `DirichletLaw(α)` (mean α/Σα exact; the expectations by Monte Carlo with reparametrised
samples — JAX's Dirichlet sampler has implicit gamma gradients, so results are differentiable in α)
and `SampleLaw(atoms, weights)` (exact: the finite formula). Gradients in α: reparametrised for E[f(U)]
(f continuous), score-function for E[V(π_U)] (V jumps where the best policy switches). Results carry a standard error
(0 for `SampleLaw`), the Monte Carlo error being √(Var/N) of the per-sample terms.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_range
from .learning import _weights
from .policies import PolicyFamily, as_policy_family
from .simplex import _simplex

__all__ = ["DirichletLaw", "SampleLaw", "LawValue", "law_mean", "law_penalty", "law_action_value"]


class DirichletLaw(eqx.Module):
    """Dirichlet(α) on Δⁿ, α > 0 of shape (n+1,). α = c·m with c → ∞ concentrates at m.

    Args:
        concentration: α > 0, float array of shape (n+1,).

    Raises:
        ValueError: if α is not positive and finite.
    """

    concentration: Float[Array, " n1"]

    def __init__(self, concentration):
        a = jnp.asarray(concentration)
        if not jnp.issubdtype(a.dtype, jnp.floating):
            a = a.astype(jnp.result_type(float))
        if a.ndim != 1 or a.shape[0] < 1:
            raise ValueError(f"argument `concentration` must have shape (n + 1,); got {a.shape}")
        self.concentration = check_range(a, "concentration", 0.0, lower_inclusive=False)


class SampleLaw(eqx.Module):
    """A law given by atoms (k, n+1) on Δⁿ with weights (k,) summing to 1 (e.g. weighted samples).

    Args:
        atoms: points of Δⁿ, float array of shape (k, n+1).
        weights: their probabilities, float array of shape (k,), ≥ 0 and summing to 1.

    Raises:
        ValueError: if an atom is off the simplex or the weights are not a distribution.
    """

    atoms: Float[Array, "k n1"]
    weights: Float[Array, " k"]

    def __init__(self, atoms, weights):
        atoms, weights = jnp.asarray(atoms), jnp.asarray(weights)
        dt = jnp.result_type(atoms, weights, float)
        atoms = _simplex(atoms.astype(dt), "atoms")
        weights = weights.astype(dt)
        if atoms.ndim != 2 or weights.shape != atoms.shape[:1]:
            raise ValueError(f"arguments `atoms` (k, n + 1) and `weights` (k,) expected; got {atoms.shape} and {weights.shape}")
        self.atoms, self.weights = atoms, _simplex(weights, "weights")


class LawValue(eqx.Module):
    """An expectation over a law and its standard error (0 when exact).

    Attributes:
        value: the expectation, shape ().
        std_error: its Monte Carlo standard error √(Var/N) (0 when exact), shape ().
    """

    value: Float[Array, ""]
    std_error: Float[Array, ""]


# --- kernels (no validation) --------------------------------------------------------------------


def _mean(law) -> Float[Array, " n1"]:
    if isinstance(law, DirichletLaw):
        a = law.concentration
        return a / jnp.sum(a)
    return law.weights @ law.atoms


def _dirichlet_score_weight(pts, alpha):
    """exp(log p − sg(log p)) for Dirichlet(α) at fixed points: 1 in value, ∇_α log p in gradient."""
    logx = jnp.log(jnp.maximum(pts, jnp.finfo(pts.dtype).tiny))  # exact zeros (tiny α underflow) stay finite
    logp = logx @ (alpha - 1) - jnp.sum(jax.scipy.special.gammaln(alpha)) + jax.scipy.special.gammaln(jnp.sum(alpha))
    return jnp.exp(logp - jax.lax.stop_gradient(logp))


def _terms(fam: PolicyFamily, u, law, key, n_samples: int, with_f: bool):
    """Per-sample (or per-atom) terms and their weights: [f(U)] + V(π_U)·(U_t − EU).

    Dirichlet gradients in α: f(U) by reparametrisation (f is continuous); V(π_U) by the score function
    (V jumps where π_U switches, e.g. for finite families, and a reparametrised gradient would miss the jumps).
    """
    eu = _mean(law)
    if isinstance(law, DirichletLaw):
        pts = jax.random.dirichlet(key, law.concentration, (n_samples,), dtype=law.concentration.dtype)
        w = jnp.full((n_samples,), 1.0 / n_samples, pts.dtype)
        score = _dirichlet_score_weight(jax.lax.stop_gradient(pts), law.concentration)
        vals = jax.vmap(fam.value)(jax.lax.stop_gradient(pts)) * score[:, None]
    else:
        pts, w = law.atoms, law.weights
        vals = jax.vmap(fam.value)(pts)
    t = vals @ (u - eu)
    if with_f:
        t = t + jax.vmap(fam.f)(pts)
    return t, w


def _expect(fam, u, law, key, n_samples: int, with_f: bool) -> LawValue:
    t, w = _terms(fam, u, law, key, n_samples, with_f)
    m = w @ t
    if isinstance(law, DirichletLaw):
        se = jnp.sqrt(jnp.maximum(w @ (t - m) ** 2, 0.0) / max(n_samples - 1, 1))
    else:
        se = jnp.zeros((), m.dtype)
    return LawValue(m, se)


_expect_jit = eqx.filter_jit(_expect)  # one compile per (family structure, law, shapes), reused


# --- public, validated --------------------------------------------------------------------------


def _check_law(law, family):
    if not isinstance(law, (DirichletLaw, SampleLaw)):
        raise ValueError(f"argument `law` must be a DirichletLaw or a SampleLaw; got {type(law).__name__}")
    n1 = law.concentration.shape[-1] if isinstance(law, DirichletLaw) else law.atoms.shape[-1]
    if n1 != family.n_utilities:
        raise ValueError(f"argument `law` must live on Δⁿ with n + 1 = {family.n_utilities} (like `values`); got n + 1 = {n1}")
    return law


def _prepare(u_t, law, values, key, n_samples):
    family = as_policy_family(values)
    law = _check_law(law, family)
    u = _weights(u_t, family, "u_t")
    if u.ndim != 1:
        raise ValueError(f"argument `u_t` must have shape (n + 1,); got {u.shape}")
    if isinstance(law, DirichletLaw):
        if key is None:
            raise ValueError("argument `key` is required for a DirichletLaw (Monte Carlo samples)")
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
            raise ValueError(f"argument `n_samples` must be an integer >= 2; got {n_samples!r}")
    return family, u, law, key, int(n_samples)


def law_mean(law) -> Float[Array, " n1"]:
    """EU = E_μ[U] (exact: α/Σα for Dirichlet, Σ w_k atom_k for samples).

    Args:
        law: a `DirichletLaw` or a `SampleLaw`.

    Returns:
        Float array of shape (n+1,): EU ∈ Δⁿ.
    """
    if not isinstance(law, (DirichletLaw, SampleLaw)):
        raise ValueError(f"argument `law` must be a DirichletLaw or a SampleLaw; got {type(law).__name__}")
    return _mean(law)


def law_penalty(u_t: Float[Array, " n1"], law, values, *, key: PRNGKeyArray | None = None,
                n_samples: int = 4096) -> LawValue:
    """Penalty E_μ[V(π_U)]·(U_t − EU) of a continuous law; 0 when EU = U_t (exactly: EU is exact).

    Dirichlet: Monte Carlo over `n_samples` reparametrised draws (differentiable in α), error `std_error`.

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        law: a `DirichletLaw` or a `SampleLaw` on Δⁿ (n+1 matching `u_t`).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key; required for `DirichletLaw`, ignored for `SampleLaw` (default None).
        n_samples: Monte Carlo draws for `DirichletLaw`, an int ≥ 2 (default 4096).

    Returns:
        A `LawValue` (``value``, ``std_error``, scalars): the penalty.
    """
    family, u, law, key, n = _prepare(u_t, law, values, key, n_samples)
    return _expect_jit(family, u, law, key, n, False)


def law_action_value(u_t: Float[Array, " n1"], law, values, *, key: PRNGKeyArray | None = None,
                     n_samples: int = 4096) -> LawValue:
    """Action value E_μ[f(U)] + E_μ[V(π_U)]·(U_t − EU) of a continuous law of U_{t+1}.

    `SampleLaw` equals `action_value(u_t, atoms, weights, values)` exactly; Dirichlet(c·m) → g_m(U_t)
    as c → ∞. Dirichlet: Monte Carlo, unbiased, error `std_error`; differentiable in α and `values`.

    Args:
        u_t: the current weight U_t ∈ Δⁿ, float array of shape (n+1,) (non-negative, summing to 1).
        law: a `DirichletLaw` or a `SampleLaw` on Δⁿ (n+1 matching `u_t`).
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key; required for `DirichletLaw`, ignored for `SampleLaw` (default None).
        n_samples: Monte Carlo draws for `DirichletLaw`, an int ≥ 2 (default 4096).

    Returns:
        A `LawValue` (``value``, ``std_error``, scalars): the action value.
    """
    family, u, law, key, n = _prepare(u_t, law, values, key, n_samples)
    return _expect_jit(family, u, law, key, n, True)
