"""KL divergence, expected utility, entropy with intrinsic entropies (SUM Appendix 1),
and the amount of optimisation (SUM Appendix 2).

References:
    Kullback, S., Leibler, R. A. (1951) "On information and sufficiency", Annals of
    Mathematical Statistics 22(1):79–86.
    Cover, T. M., Thomas, J. A. (2006) Elements of Information Theory, 2nd ed., Wiley
    (KL, Shannon and differential entropy; the Gaussian KL and entropy closed forms).
    Jaynes, E. T. (1957) "Information theory and statistical mechanics", Physical Review
    106(4):620–630 (the maximum-entropy world Q ∝ e^s).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from typing import Literal

import numpy as np

from ._numerics import safe_sqrt
from ._validate import check_finite, check_range, check_shape, ensure, ensure_all, is_traced
from .utilities import LinearUtility, QuadraticUtility
from .worlds import AbstractWeightedWorld, DiscreteWorld, GaussianWorld, ParticleWorld

__all__ = ["kl", "expected_utility", "entropy", "optimisation_amount"]


def _xlogy_terms(p, log_p, log_q):
    """p·(log p − log q) elementwise with 0·log 0 = 0 and safe gradients where p = 0."""
    pos = p > 0
    diff = jnp.where(pos, log_p - jnp.where(pos, log_q, 0.0), 0.0)
    return jnp.where(pos, p * diff, 0.0)


def _gaussian_kl(p: GaussianWorld, q: GaussianWorld):
    """KL(N(μp,Σp)‖N(μq,Σq)) = ½[tr(Σq⁻¹Σp) + |Lq⁻¹(μq−μp)|² − d + log det Σq − log det Σp]."""
    if p.dim != q.dim:
        raise ValueError(f"kl(p, q): Gaussian worlds must have the same dimension; got {p.dim} and {q.dim}")
    solve = lambda b: jax.scipy.linalg.solve_triangular(q.chol, b, lower=True)  # noqa: E731
    m = solve(p.chol)
    z = solve(q.mean - p.mean)
    return 0.5 * (jnp.sum(m * m) + jnp.sum(z * z) - p.dim + q.log_det_cov() - p.log_det_cov())


def _weights_kl(lp, lq):
    """Σ p (log p − log q) for normalised log-probability vectors (inf where q = 0 < p)."""
    return jnp.sum(_xlogy_terms(jnp.exp(lp), lp, lq))


def kl(p, q) -> Float[Array, ""]:
    """KL(p‖q) = E_p[log p − log q] ≥ 0 (rounding below 0 is clipped).

    Gaussian–Gaussian: closed form through Cholesky factors (exact; relative error ~eps·d/KL
    from the cancellation in tr − d − log det, so ~1e-16/KL in float64, ~1e-7/KL in float32).
    Discrete–Discrete: over the same n states (+inf when q = 0 < p). Particle–Particle:
    weights on the SAME samples (checked). Kullback & Leibler (1951); Cover & Thomas (2006).

    Args:
        p: a `GaussianWorld`, `DiscreteWorld` or `ParticleWorld`.
        q: a world of the same kind (same dimension, number of states, or samples).

    Returns:
        KL(p‖q) in nats, a float scalar ≥ 0 (+inf when p is not absolutely continuous
        with respect to q).

    Raises:
        TypeError: if the worlds are of different kinds.
        ValueError: if their dimensions, state counts or samples differ.
    """
    return jnp.maximum(_kl(p, q), 0.0)


def _kl(p, q) -> Float[Array, ""]:
    """KL(p‖q) = E_p[log p − log q] between two worlds of the same kind.

    Gaussian–Gaussian: closed form through Cholesky factors (exact; relative error ~eps·d/KL
    from the cancellation in tr − d − log det, so ~1e-16/KL in float64, ~1e-7/KL in float32).
    Discrete–Discrete: over the same n states (+inf when q = 0 < p).
    Particle–Particle: weights on the SAME samples (checked; error otherwise).
    """
    if isinstance(p, GaussianWorld) and isinstance(q, GaussianWorld):
        return _gaussian_kl(p, q)
    if isinstance(p, DiscreteWorld) and isinstance(q, DiscreteWorld):
        if p.n != q.n:
            raise ValueError(f"kl(p, q): discrete worlds must have the same number of states; got {p.n} and {q.n}")
        return _weights_kl(p.log_probs, q.log_probs)
    if isinstance(p, ParticleWorld) and isinstance(q, ParticleWorld):
        if p.samples.shape != q.samples.shape:
            raise ValueError(
                "kl(p, q): particle worlds must share their samples (same shape and values); "
                f"got sample shapes {p.samples.shape} and {q.samples.shape}"
            )
        lp = ensure(
            p.log_weights,
            jnp.any(p.samples != q.samples),
            "kl(p, q): particle worlds must be weightings of the SAME samples (their samples differ)",
        )
        return _weights_kl(lp, q.log_weights)
    raise TypeError(
        "kl(p, q): both worlds must be of the same kind (GaussianWorld, DiscreteWorld or ParticleWorld); "
        f"got {type(p).__name__} and {type(q).__name__}"
    )


def _utility_values(world: AbstractWeightedWorld, utility) -> Float[Array, " n"]:
    """U at every state of a discrete or particle world (not checked: see `checked_utility_values`)."""
    if not isinstance(world, AbstractWeightedWorld):
        raise TypeError(f"expected a DiscreteWorld or ParticleWorld; got {type(world).__name__}")
    return world.utility_values(utility)


def checked_utility_values(world: AbstractWeightedWorld, utility):
    """U at every state, checked once (argument `utility`) to be finite: the boundary helper."""
    values = _utility_values(world, utility)
    xp, a = (jnp, values) if is_traced(values) else (np, np.asarray(values))
    return ensure_all(values, [(~xp.isfinite(a), "argument `utility` must give finite values at every state")])


def _check_gaussian_utility(world: GaussianWorld, utility):
    if isinstance(utility, (LinearUtility, QuadraticUtility)):
        if utility.dim != world.dim:
            raise ValueError(f"utility has dimension {utility.dim} but the GaussianWorld has dimension {world.dim}")
        return
    raise TypeError(
        f"a GaussianWorld has closed forms only for LinearUtility and QuadraticUtility, got {type(utility).__name__}: "
        "for any other utility sample the world, ParticleWorld.from_samples(world.sample(key, n))"
    )


def expected_utility(world, utility) -> Float[Array, ""]:
    """E_P[U]. Gaussian: closed forms (linear u·μ + c; quadratic −½(tr AΣ + μᵀAμ) + bᵀμ + c);
    discrete/particle: Σ_i p_i U(x_i). Exact up to rounding.

    Args:
        world: a `GaussianWorld`, `DiscreteWorld` or `ParticleWorld` P.
        utility: a `LinearUtility` or `QuadraticUtility` of the world's dimension (Gaussian),
            a `TabularUtility` or callable on the state index (discrete), or a callable on one
            state (particle); values must be finite.

    Returns:
        E_P[U], a float scalar.

    Raises:
        TypeError: if the utility's kind does not fit the world.
        ValueError: naming `utility` for a dimension mismatch or non-finite values.
    """
    if isinstance(world, GaussianWorld):
        _check_gaussian_utility(world, utility)
        if isinstance(utility, LinearUtility):
            return world.mean @ utility.u + utility.offset
        A = utility.A_sym
        L = world.chol
        return -0.5 * (jnp.sum(L * (A @ L)) + world.mean @ A @ world.mean) + utility.b @ world.mean + utility.offset
    values = checked_utility_values(world, utility)
    return jnp.sum(jnp.exp(world.log_mass) * values)


def entropy(world, intrinsic=None) -> Float[Array, ""]:
    """S[P] = E_P[s − log P] (SUM Appendix 1); s = 0 when `intrinsic` is None (Shannon entropy).

    With Q ∝ e^s, S[P] = log Σ e^s − KL(P‖Q). Discrete: over the states; particle: over the
    particles (the weights' entropy); Gaussian: differential entropy ½ log det(2πeΣ)
    (no intrinsic entropies). Exact up to rounding. Cover & Thomas (2006).

    Args:
        world: a `GaussianWorld`, `DiscreteWorld` or `ParticleWorld` P.
        intrinsic: optional intrinsic entropies s, a finite float vector of shape (n,) (one
            per state; weighted worlds only). None: s = 0.

    Returns:
        S[P] in nats, a float scalar.

    Raises:
        TypeError: if `intrinsic` is given for a Gaussian world, or `world` is not a world.
        ValueError: naming `intrinsic` for a wrong shape or non-finite entries.
    """
    if isinstance(world, GaussianWorld):
        if intrinsic is not None:
            raise TypeError("entropy: intrinsic entropies are defined per state of a DiscreteWorld or ParticleWorld")
        return 0.5 * (world.log_det_cov() + world.dim * (1.0 + jnp.log(2 * jnp.pi)))
    if not isinstance(world, AbstractWeightedWorld):
        raise TypeError(f"entropy: expected a world; got {type(world).__name__}")
    lp = world.log_mass
    p = jnp.exp(lp)
    h = -jnp.sum(_xlogy_terms(p, lp, jnp.zeros_like(lp)))
    if intrinsic is None:
        return h
    s = jnp.asarray(intrinsic, dtype=lp.dtype)
    check_shape(s, "intrinsic", lp.shape, what="(one intrinsic entropy per state)")
    s = check_finite(s, "intrinsic")
    return h + jnp.sum(jnp.where(p > 0, p * s, 0.0))


def optimisation_amount(kl_value, measure: Literal["sqrt_kl", "kl"] = "sqrt_kl") -> Float[Array, "..."]:
    """Amount of optimisation (SUM Appendix 2): √KL by default (KL acts like a squared
    distance), or KL itself with `measure="kl"`. At KL = 0 the gradient of √KL is
    returned as 0 (the true one-sided derivative is +inf). Exact up to rounding.

    Args:
        kl_value: KL ≥ 0 in nats, float or array of any shape (+inf allowed).
        measure: ``"sqrt_kl"`` (default) or ``"kl"``.

    Returns:
        √KL or KL, float array of `kl_value`'s shape.

    Raises:
        ValueError: naming `kl_value` (negative or NaN) or `measure` (not an allowed name).
    """
    x = check_range(kl_value, "kl_value", 0.0, allow_inf=True)
    if measure == "kl":
        return x
    if measure != "sqrt_kl":
        raise ValueError(f"argument `measure` must be 'sqrt_kl' or 'kl'; got {measure!r}")
    return safe_sqrt(x)
