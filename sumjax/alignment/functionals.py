"""Harm functionals F of the law of a (docs/model.md, "Harm"): F(κ, d) = E_{a ~ vMF(h, κ)}[g(a·h)].

Kernel module: no input checks (the loop's public entry points validate). ``one_minus_cosine``
(g = 1 − c, the default) and ``negative_part`` (g = max(0, −c)) have closed forms; a user
`HarmFunctional` without one is integrated by quadrature over the cosine law.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .._numerics import gauss_legendre
from . import _vmf

__all__ = ["HarmFunctional", "one_minus_cosine", "negative_part", "FUNCTIONALS", "as_functional"]


class HarmFunctional(eqx.Module):
    """A harm functional of the vMF law: F(κ, d) = E_{c ~ law(κ, d)}[g(c)].

    ``pointwise`` is g(c) (used by Monte Carlo on realised cosines); ``law`` is F(κ, d) in closed
    form, or ``None`` to compute it by quadrature (`sumjax.alignment.quadrature.vmf_expectation`).

    Attributes:
        pointwise: g, a jax-traceable elementwise function of an array of cosines c ∈ [-1, 1]
            returning harms of the same shape; static (hashable).
        law: F(κ, d), a function of broadcastable float arrays κ ≥ 0 and d ≥ 2 returning
            E[g(c)] of their broadcast shape; `None` (default) integrates `pointwise` by quadrature.
        name: label used in reports and in `Reading` names (default ``"custom"``).
        of_mean: F as a function of the mean E[c] alone, where F depends on the law only through
            it (1 − E[c]); `None` (default) otherwise. The loop's integral, whose nodes are values
            of E[c], then needs no Bessel evaluation for F.
        of_complement: F as a function of 1 − E[c] alone (given relative-accurately, as E[c] → 1),
            where F has that form; `None` (default) otherwise. The round schedule, which computes
            E[c] and 1 − E[c] together, then needs no second Bessel evaluation for F.
    """

    pointwise: Callable = eqx.field(static=True)
    law: Callable | None = eqx.field(static=True, default=None)
    name: str = eqx.field(static=True, default="custom")
    of_mean: Callable | None = eqx.field(static=True, default=None)
    of_complement: Callable | None = eqx.field(static=True, default=None)

    def expectation(self, kappa, d):
        """F(κ, d) = E_{c ~ law(κ, d)}[g(c)]: the closed form `law` if given, else quadrature over θ.

        Args:
            kappa: concentration κ ≥ 0 (float array), broadcast with `d`. Not checked.
            d: dimension d ≥ 2 (float array), broadcast with `kappa`. Not checked.

        Returns:
            Float array of the broadcast shape, in the dtype of the inputs: F(κ, d) = E[g(c)].
        """
        if self.law is not None:
            return self.law(kappa, d)
        from .quadrature import _DEFAULT_NODES, _expectation_jit  # lazy; the unchecked kernel

        kappa, d = jnp.broadcast_arrays(kappa, d)
        return _expectation_jit(self.pointwise, kappa, d, _DEFAULT_NODES)

    def expectation_at(self, mean, kappa, d):
        """F at a point where E[c] = ``mean`` is already known (κ = κ(mean, d)): ``of_mean(mean)``
        if the functional has that form, else `expectation` (κ, d). Same value; for 1 − E[c] the
        derivative in d at fixed mean is exactly 0, as it should be."""
        if self.of_mean is not None:
            return self.of_mean(mean)
        return self.expectation(kappa, d)

    def expectation_given(self, complement, kappa, d):
        """F at κ where 1 − E[c] = ``complement`` is already known: ``of_complement(complement)`` if
        the functional has that form, else `expectation` (κ, d). Same value."""
        if self.of_complement is not None:
            return self.of_complement(complement)
        return self.expectation(kappa, d)


def _one_minus(c):
    return 1.0 - c


def _same(x):
    return x


def _neg_part(c):
    return jnp.maximum(0.0, -c)


_NEG_NODES = 64


def _negative_part_law(kappa, d):
    """E[max(0, −c)] = N/Z with Z = B(½, (d−1)/2)·M_d(κ) and, putting c = −sin θ,
    N = ∫₀^{π/2} sin θ · e^{−κ sin θ} cos^{d−2}θ dθ — smooth (no kink: the integral stops at c = 0).
    Gauss–Legendre on [0, θ_max], θ_max where −κθ − (d−2)θ²/2 = −40 (the rest is < e^{−40}
    relative), in log space. Relative error < 1e-12 in float64 measured for d ∈ [2, 1e6],
    κ ∈ [0, 1e4]; the value underflows to 0 only below ~1e-300."""
    from .cosine import _log_normaliser  # the unchecked kernel

    x, w = gauss_legendre(_NEG_NODES)
    kappa, d = jnp.broadcast_arrays(kappa, d)
    dt = kappa.dtype
    den = kappa + jnp.sqrt(kappa * kappa + 80.0 * (d - 2.0))
    big = den > 80.0 / (0.5 * jnp.pi)
    tmax = jnp.where(big, 80.0 / jnp.where(big, den, 1.0), 0.5 * jnp.pi)
    th = 0.5 * tmax[..., None] * (1.0 + jnp.asarray(x, dt))
    logf = jnp.log(jnp.sin(th)) - kappa[..., None] * jnp.sin(th) + (d[..., None] - 2.0) * jnp.log(jnp.cos(th))
    logN = jax.nn.logsumexp(logf + jnp.log(jnp.asarray(w, dt)), axis=-1) + jnp.log(0.5 * tmax)
    logZ = _log_normaliser(d) + _vmf.log_mgf(kappa, d)
    return jnp.exp(logN - logZ)


def _one_minus_law(kappa, d):
    return _vmf.mean_complement(kappa, d)


#: Default: g(c) = 1 − c, F = 1 − E[c] (relatively accurate as E[c] → 1).
one_minus_cosine = HarmFunctional(_one_minus, _one_minus_law, "one_minus_cosine", of_mean=_one_minus,
                                  of_complement=_same)
#: g(c) = max(0, −c): only optimisation that actively opposes the human direction counts.
negative_part = HarmFunctional(_neg_part, _negative_part_law, "negative_part")

FUNCTIONALS = {"one_minus_cosine": one_minus_cosine, "negative_part": negative_part}


def as_functional(f) -> HarmFunctional:
    """A `HarmFunctional`, or the name of a built-in one (``"one_minus_cosine"``, ``"negative_part"``).

    Args:
        f: a `HarmFunctional`, or ``"one_minus_cosine"`` / ``"negative_part"``.

    Returns:
        The `HarmFunctional` itself, or the built-in one of that name.

    Raises:
        ValueError: for any other value.
    """
    if isinstance(f, HarmFunctional):
        return f
    if isinstance(f, str) and f in FUNCTIONALS:
        return FUNCTIONALS[f]
    raise ValueError(f"argument `functional` must be a HarmFunctional or one of {sorted(FUNCTIONALS)}; got {f!r}")
