"""Optimisers compared against the tilt at equal KL: best-of-n and the quantilizer.

Both act on a `DiscreteWorld` or a `ParticleWorld` and depend on U only through
the order of its values (ties are treated as one atom, split in proportion to P).
For a given KL the tilt's gain is never smaller (it is the KL-constrained optimum).

References:
    Taylor, J. (2016) "Quantilizers: a safer alternative to maximizers for limited
    optimization", AAAI Workshop on AI, Ethics, and Society.
    Gao, L., Schulman, J., Hilton, J. (2023) "Scaling laws for reward model
    overoptimization", Proc. ICML, PMLR 202:10835–10866 (best-of-n; KL = log n − (n−1)/n).
    Stiennon, N. et al. (2020) "Learning to summarize from human feedback", NeurIPS 33
    (the best-of-n KL formula).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._validate import as_float_of, check_range
from .divergence import _kl, checked_utility_values
from .worlds import AbstractWeightedWorld

__all__ = ["BaselineResult", "best_of_n", "quantilizer"]


class BaselineResult(eqx.Module):
    """Outcome of `best_of_n` and `quantilizer`.

    Attributes:
        world: the optimised world P' (same kind and states as the input).
        kl: KL(P'‖P) in nats, float scalar.
        gain: E_P'[U] − E_P[U], float scalar.
    """

    world: eqx.Module
    kl: Float[Array, ""]
    gain: Float[Array, ""]


def _cdf_levels(lw, values):
    """For every state: F(U_i) = P(U ≤ U_i) and F(U_i⁻) = P(U < U_i) (ties share a level)."""
    p = jnp.where(lw > -jnp.inf, jnp.exp(lw), 0.0)
    order = jnp.argsort(values)
    u_sorted = values[order]
    csum = jnp.concatenate([jnp.zeros((1,), p.dtype), jnp.cumsum(p[order])])
    upper = csum[jnp.searchsorted(u_sorted, values, side="right")]
    lower = csum[jnp.searchsorted(u_sorted, values, side="left")]
    return jnp.clip(upper, 0.0, 1.0), jnp.clip(lower, 0.0, 1.0), p


def _finish(world, lw_new, values):
    new = world.with_log_mass(lw_new)
    lw = world.log_mass
    gain = jnp.sum(jnp.where(lw > -jnp.inf, (jnp.exp(new.log_mass) - jnp.exp(lw)) * values, 0.0))
    return BaselineResult(new, jnp.maximum(_kl(new, world), 0.0), gain)


def _check_world(world, fn):
    if not isinstance(world, AbstractWeightedWorld):
        raise TypeError(f"{fn}: expected a DiscreteWorld or ParticleWorld; got {type(world).__name__}")


def best_of_n(world, utility, n) -> BaselineResult:
    """The law of the best (highest-U) of n i.i.d. draws from P.

    P(best ∈ level u) = F(u)ⁿ − F(u⁻)ⁿ, shared within a tie level in proportion to P.
    `n` ≥ 1 may be real (the same formula). For a continuous U, KL = log n − (n−1)/n.
    Computed in log space (log1p/expm1), accurate to a few ulp for any n and level masses.
    Gao, Schulman & Hilton (2023) for the KL.

    Args:
        world: a `DiscreteWorld` or `ParticleWorld` P.
        utility: a `TabularUtility` or callable on the state index (discrete), or a callable
            on one state (particle); finite values. Only their order matters.
        n: the number of draws, a real n ≥ 1 (scalar).

    Returns:
        A `BaselineResult` (world, kl, gain).

    Raises:
        TypeError: if `world` is not a discrete or particle world.
        ValueError: naming `n` (< 1 or NaN) or `utility` (non-finite values).
    """
    _check_world(world, "best_of_n")
    values = checked_utility_values(world, utility)
    n = check_range(as_float_of(n, world.log_mass.dtype), "n", 1.0)
    return _best_of_n(world, values, n)


def _best_of_n(world, values, n) -> BaselineResult:
    """`best_of_n` unchecked (the kernel): `values` the utility at every state (finite), real `n` ≥ 1."""
    lw = world.log_mass
    upper, lower, p = _cdf_levels(lw, values)
    mass = upper - lower  # mass of the state's tie level
    pos = (p > 0) & (mass > 0)
    safe_upper = jnp.where(pos, upper, 1.0)
    ratio = jnp.where(pos, mass / safe_upper, 0.5)  # in (0, 1]
    # log(Fⁿ − F⁻ⁿ) − log(mass) = n log F + log(−expm1(n log1p(−mass/F))) − log mass
    whole = ratio >= 1  # lowest level: F⁻ = 0
    l1p = jnp.log1p(-jnp.where(whole, 0.5, ratio))
    log_level = jnp.where(whole, 0.0, jnp.log(-jnp.expm1(n * l1p)))
    log_factor = n * jnp.log(safe_upper) + log_level - jnp.log(jnp.where(pos, mass, 1.0))
    lw_new = jnp.where(pos, lw + log_factor, -jnp.inf)
    return _finish(world, lw_new, values)


def quantilizer(world, utility, q) -> BaselineResult:
    """P restricted to its top q-fraction by U and renormalised: P'(x) = P(x)·α(x)/q.

    α = 1 above the q-quantile, 0 below, and the partial fraction at the boundary level
    (shared in proportion to P among tied states). KL = −log q when no atom straddles
    the boundary (a continuous U), otherwise ≤ −log q. q in (0, 1]. Taylor (2016).
    Exact up to rounding.

    Args:
        world: a `DiscreteWorld` or `ParticleWorld` P.
        utility: a `TabularUtility` or callable on the state index (discrete), or a callable
            on one state (particle); finite values. Only their order matters.
        q: the kept fraction, a float in (0, 1].

    Returns:
        A `BaselineResult` (world, kl, gain).

    Raises:
        TypeError: if `world` is not a discrete or particle world.
        ValueError: naming `q` (outside (0, 1]) or `utility` (non-finite values).
    """
    _check_world(world, "quantilizer")
    values = checked_utility_values(world, utility)
    q = check_range(as_float_of(q, world.log_mass.dtype), "q", 0.0, 1.0, lower_inclusive=False)
    return _quantilizer(world, values, q)


def _quantilizer(world, values, q) -> BaselineResult:
    """`quantilizer` unchecked (the kernel): `values` the utility at every state (finite), `q` in (0, 1]."""
    lw = world.log_mass
    upper, lower, p = _cdf_levels(lw, values)
    mass = upper - lower
    above = 1.0 - upper  # mass strictly above the level
    alpha = jnp.clip((q - above) / jnp.where(mass > 0, mass, 1.0), 0.0, 1.0)
    pos = (p > 0) & (alpha > 0)
    lw_new = jnp.where(pos, lw + jnp.log(jnp.where(pos, alpha, 1.0)) - jnp.log(q), -jnp.inf)
    return _finish(world, lw_new, values)
