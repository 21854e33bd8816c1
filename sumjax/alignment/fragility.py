"""Fragility: the SUM text's remark that narrowing "the distribution" polynomially "had the same
effect as increasing d", in two readings (docs/model.md §2.10).

**Literal reading** (the law of the cosine): narrowing p_d(c) ∝ (1 − c²)^{(d−3)/2} polynomially,
p_d(c)^k ∝ (1 − c²)^{k(d−3)/2}, gives exactly the cosine law of dimension d' = k(d − 3) + 3
(`narrowed_dimension`). The loop only sees the law of c (its vMF tilt, the KL, E[c]), so the whole
loop with the narrowed law IS the loop in dimension d' (`narrowed_total_harm`): the remark holds
exactly, for every k > 0 with d' ≥ 2.

**Covariance reading** (the world N(0, Σ)):

* In N(0, Σ) the KL-optimal push for U_A = a·x is kΣa with k = √(2β/aᵀΣa) (docs/model.md §1.4), so the
  human gain is √(2β)·hᵀΣa/√(aᵀΣa) = √(2β·hᵀΣh)·c_Σ, where c_Σ = hᵀΣa/√(aᵀΣa·hᵀΣh) is the
  cosine in the Σ inner product. The AI's push is aligned exactly when c_Σ = 1, so c_Σ replaces
  c in the loop.
* Isotropic narrowing Σ = σ²I changes nothing: c_Σ = c for every a. The remark fails there.
* For a ~ uniform, write a = g/|g|: c_Σ = uᵀy/|y| with y = Σ^{1/2}g ~ N(0, Σ), u ∝ Σ^{1/2}h, so for
  large d, c_Σ ≈ N(0, hᵀΣ²h/(hᵀΣh·tr Σ)): the cosine law of the effective dimension
  d_eff = hᵀΣh·tr Σ / hᵀΣ²h (exactly d for Σ ∝ I; tr Σ/λ for h an eigenvector of eigenvalue λ:
  above d when the world is narrower than average along h, below d when it is wider). Narrowing the human-valued direction
  by σ² (Σ = diag(σ², 1, …, 1), h = e₁) gives d_eff = 1 + (d − 1)/σ²: narrowing polynomially in ξ
  is increasing d polynomially — the text's remark holds in this sense, and only in it (narrowing
  the other directions *lowers* d_eff).
* `fragile_total_harm` runs the loop with d_eff: the cosine law at d_eff matches the law of c_Σ to
  O(1/d_eff) in its moments (not exactly: tr Σ-weighted χ² is not a χ²), so it is a large-d
  approximation; the Monte Carlo helper `sample_fragile_cosine` gives the exact law.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validate import check_range, ensure
from .harm import total_harm
from .sampling import sample_uniform_sphere

__all__ = [
    "fragile_cosine",
    "fragile_push",
    "effective_dimension",
    "fragile_total_harm",
    "sample_fragile_cosine",
    "narrowed_dimension",
    "narrowed_total_harm",
]


def _cov(cov, d):
    """Σ given as its diagonal (shape (d,), variances > 0) or a full symmetric PD matrix (d, d)."""
    cov = jnp.asarray(cov)
    if cov.shape == (d,):
        return check_range(cov, "cov", 0.0, lower_inclusive=False), True
    if cov.shape == (d, d):
        tol = 100 * jnp.finfo(cov.dtype).eps if jnp.issubdtype(cov.dtype, jnp.floating) else 0.0
        cov = ensure(cov, ~jnp.all(jnp.isfinite(cov)) | (jnp.max(jnp.abs(cov - cov.T)) > tol * jnp.max(jnp.abs(cov))),
                     "argument `cov` must be a finite symmetric matrix")
        cov = ensure(cov, jnp.linalg.eigvalsh(cov)[0] <= 0, "argument `cov` must be positive definite")
        return cov, False
    raise ValueError(f"argument `cov` must have shape ({d},) (diagonal) or ({d}, {d}); got {cov.shape}")


def _apply(cov, diag, x):
    return cov * x if diag else x @ cov  # Σ symmetric: x Σ = (Σ x)ᵀ, batched over leading axes


def fragile_cosine(a: Float[Array, "... d"], h: Float[Array, "... d"], cov) -> Float[Array, "..."]:
    """c_Σ = hᵀΣa / √(aᵀΣa · hᵀΣh), the alignment that matters in N(0, Σ): the human gain of the
    AI's KL-optimal push is √(2β·hᵀΣh)·c_Σ. Scale-free in a, h and Σ; exact.

    Args:
        a: the AI's utility direction(s), float array of shape (..., d) (any nonzero norm).
        h: the human utility direction(s), float array of shape (..., d), broadcast with `a`.
        cov: the world's covariance Σ: its diagonal (shape (d,), variances > 0) or a full symmetric
            positive-definite matrix (shape (d, d)).

    Returns:
        Float array of the broadcast batch shape (...): c_Σ ∈ [−1, 1].

    Raises:
        ValueError: if `cov` has the wrong shape or is not positive definite.
    """
    a, h = jnp.asarray(a), jnp.asarray(h)
    d = a.shape[-1]
    cov, diag = _cov(cov, d)
    Sa, Sh = _apply(cov, diag, a), _apply(cov, diag, h)
    return jnp.sum(h * Sa, -1) / jnp.sqrt(jnp.sum(a * Sa, -1) * jnp.sum(h * Sh, -1))


def fragile_push(a: Float[Array, "... d"], cov, beta) -> Float[Array, "... d"]:
    """The KL-optimal mean shift kΣa, k = √(2β/aᵀΣa), for U = a·x in N(0, Σ) (KL = β exactly).

    Args:
        a: utility direction(s), float array of shape (..., d), nonzero.
        cov: the world's covariance Σ: its diagonal (shape (d,), variances > 0) or a full symmetric
            positive-definite matrix (shape (d, d)).
        beta: the KL budget β ≥ 0 (float scalar or array broadcast with a[..., 0]).

    Returns:
        Float array of shape (..., d): the mean shift kΣa.
    """
    a = jnp.asarray(a)
    cov, diag = _cov(cov, a.shape[-1])
    beta = check_range(beta, "beta", 0.0)
    Sa = _apply(cov, diag, a)
    return jnp.sqrt(2.0 * beta / jnp.sum(a * Sa, -1))[..., None] * Sa


def effective_dimension(cov, h: Float[Array, " d"]) -> Float[Array, ""]:
    """d_eff = hᵀΣh · tr Σ / hᵀΣ²h: the d whose cosine law has the large-d variance of c_Σ
    (1/d_eff) for uniform a. = d for Σ ∝ I; = 1 + (d − 1)/σ² for Σ = diag(σ², 1, …), h = e₁.

    Args:
        cov: the world's covariance Σ: its diagonal (shape (d,), variances > 0) or a full symmetric
            positive-definite matrix (shape (d, d)).
        h: the human utility direction, float array of shape (d,), nonzero.

    Returns:
        Float scalar array: d_eff > 0.
    """
    h = jnp.asarray(h)
    cov, diag = _cov(cov, h.shape[-1])
    Sh = _apply(cov, diag, h)
    tr = jnp.sum(cov) if diag else jnp.trace(cov)
    return jnp.sum(h * Sh, -1) * tr / jnp.sum(Sh * Sh, -1)


def fragile_total_harm(c_star, cov, h, beta_a, beta_h=None, **options) -> Float[Array, ""]:
    """`total_harm` with d → d_eff(Σ, h): the loop in a fragile world, to the large-d accuracy of
    the d_eff approximation (see the module docstring); d_eff must be ≥ 2.

    Args:
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        cov: the world's covariance Σ: its diagonal (shape (d,), variances > 0) or a full symmetric
            positive-definite matrix (shape (d, d)).
        h: the human utility direction, float array of shape (d,), nonzero.
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
        **options: further keyword arguments of `total_harm` (``reading``, ``rectify``, ``method``, ...).

    Returns:
        Float scalar array (or the broadcast shape of c*, β_A, β_H): the total harm H ≥ 0 at d_eff.

    Raises:
        ValueError: if d_eff < 2 or an argument is outside its range.
    """
    d_eff = check_range(effective_dimension(cov, h), "effective dimension", 2.0)
    return total_harm(c_star, d_eff, beta_a, beta_h, **options)


def sample_fragile_cosine(key: PRNGKeyArray, h: Float[Array, " d"], cov, shape: tuple[int, ...] = ()) -> Float[Array, "..."]:
    """Exact draws of c_Σ for a uniform on S^{d−1} (h fixed): the un-aligned law in a fragile world.

    Args:
        key: a JAX PRNG key.
        h: the human utility direction, float array of shape (d,), nonzero.
        cov: the world's covariance Σ: its diagonal (shape (d,), variances > 0) or a full symmetric
            positive-definite matrix (shape (d, d)).
        shape: batch shape of the draws (default ()).

    Returns:
        Float array of shape `shape`: draws of c_Σ ∈ [−1, 1] for a uniform on S^{d−1}.
    """
    h = jnp.asarray(h)
    a = sample_uniform_sphere(key, h.shape[-1], shape, h.dtype)
    return fragile_cosine(a, h, cov)


def _narrowed(d, k):
    return k * (d - 3.0) + 3.0


def narrowed_dimension(d: ArrayLike, k: ArrayLike) -> Float[Array, "..."]:
    """d' = k(d − 3) + 3: the cosine law p_d(c)^k, normalised, is the cosine law of dimension d'
    (exact). d ≥ 2, k > 0; the result must be ≥ 2 (k(d − 3) ≥ −1) to be a law the loop accepts.

    Args:
        d: dimension d ≥ 2 (float array or scalar).
        k: narrowing power k > 0 (float array or scalar), broadcast with `d`.

    Returns:
        Float array of the broadcast shape: d' = k(d − 3) + 3.
    """
    d = check_range(d, "d", 2.0)
    k = check_range(k, "k", 0.0, lower_inclusive=False)
    return _narrowed(d, k)


def narrowed_total_harm(c_star, d, k, beta_a, beta_h=None, **options) -> Float[Array, "..."]:
    """`total_harm` of the loop whose un-aligned cosine law is p_d(c)^k (literal fragility reading):
    exactly `total_harm` at d' = k(d − 3) + 3 (checked ≥ 2). Options (``reading=`` …) pass through.

    Args:
        c_star: target alignment c* ∈ (0, 1): the loop stops once E[c] reaches it (float array or scalar).
        d: dimension d ≥ 2 (float array or scalar).
        k: narrowing power k > 0 (float array or scalar).
        beta_a: the AI's push power β_A ≥ 0 per round, in nats (float array or scalar).
        beta_h: the humans' power β_H ≥ 0 (float array or scalar); required when `rectify` or the cap
            is on, and then > 0 wherever β_A > 0. None (default) only without rectification and cap.
        **options: further keyword arguments of `total_harm` (``reading``, ``rectify``, ``method``, ...).

    Returns:
        Float array of the broadcast shape: the total harm H ≥ 0 at d'.

    Raises:
        ValueError: if d' < 2 or an argument is outside its range.
    """
    d_eff = check_range(narrowed_dimension(d, k), "narrowed dimension k(d - 3) + 3", 2.0)
    return total_harm(c_star, d_eff, beta_a, beta_h, **options)
