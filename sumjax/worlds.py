"""Worlds: probability distributions over states (Gaussian, discrete, particle).

A world is what an agent acts on (SPEC §1). Each world is an `eqx.Module`
pytree, so it passes through `jax.jit`, `jax.vmap` and `jax.grad` like an array.
Constructors validate their input (eagerly on concrete values, with
`equinox.error_if` under a transformation).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._validate import as_float as _float
from ._validate import check_finite, check_shape, check_simplex, ensure, float_vector

__all__ = ["GaussianWorld", "DiscreteWorld", "ParticleWorld"]


def _safe_log(p):
    """log p with log 0 = -inf and a finite (zero) gradient at p = 0 (double-where)."""
    pos = p > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, p, 1.0)), -jnp.inf)


def _check_log_weights(lw, name: str):
    """Log-weights may be -inf (zero mass) but not NaN or +inf, and not all -inf."""
    bad = jnp.isnan(lw) | (lw == jnp.inf)
    lw = ensure(lw, bad, f"argument `{name}` must not contain NaN or +inf (use -inf for zero mass)")
    return ensure(lw, jnp.all(lw == -jnp.inf), f"argument `{name}` must give positive total mass (not all -inf)")


class GaussianWorld(eqx.Module):
    """The world N(mean, Σ) over R^d with Σ = chol·cholᵀ.

    `chol` is lower triangular with a nonzero diagonal (any signs; log|det| is used),
    so Σ is positive definite. Exact for every d ≥ 1; cost O(d³) per factorisation.
    """

    mean: Float[Array, " d"]
    chol: Float[Array, "d d"]

    def __init__(self, mean, chol):
        mean = _float(mean, chol)
        chol = jnp.asarray(chol, dtype=mean.dtype)
        if mean.ndim != 1:
            raise ValueError(f"argument `mean` must be a vector of shape (d,); got shape {mean.shape}")
        d = mean.shape[0]
        check_shape(chol, "chol", (d, d), what="(lower Cholesky factor of the covariance)")
        mean = check_finite(mean, "mean")
        chol = check_finite(chol, "chol")
        chol = ensure(
            chol,
            jnp.any(jnp.triu(chol, 1) != 0),
            "argument `chol` must be lower triangular (use GaussianWorld.from_covariance for a full covariance)",
        )
        chol = ensure(
            chol,
            jnp.any(jnp.diagonal(chol) == 0),
            "argument `chol` must have a nonzero diagonal (the covariance must be positive definite)",
        )
        self.mean = mean
        self.chol = chol

    @classmethod
    def isotropic(cls, d: int, dtype=None) -> GaussianWorld:
        """N(0, I_d) (the SUM toy model's world)."""
        if int(d) != d or d < 1:
            raise ValueError(f"argument `d` must be an integer >= 1; got {d!r}")
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(jnp.zeros((int(d),), dtype), jnp.eye(int(d), dtype=dtype))

    @classmethod
    def from_covariance(cls, mean, cov) -> GaussianWorld:
        """N(mean, cov); `cov` must be symmetric positive definite (else a clear error)."""
        mean = _float(mean, cov)
        cov = jnp.asarray(cov, dtype=mean.dtype)
        if mean.ndim != 1:
            raise ValueError(f"argument `mean` must be a vector of shape (d,); got shape {mean.shape}")
        d = mean.shape[0]
        check_shape(cov, "cov", (d, d))
        cov = check_finite(cov, "cov")
        eps = jnp.finfo(cov.dtype).eps
        asym = jnp.max(jnp.abs(cov - cov.T)) > 100 * eps * jnp.max(jnp.abs(cov))
        cov = ensure(cov, asym, "argument `cov` must be symmetric")
        chol = jnp.linalg.cholesky(0.5 * (cov + cov.T))
        not_pd = jnp.any(~jnp.isfinite(chol)) | jnp.any(jnp.diagonal(chol) <= 0)
        chol = ensure(chol, not_pd, "argument `cov` must be positive definite (its Cholesky factorisation failed)")
        return cls(mean, chol)

    @property
    def dim(self) -> int:
        return self.mean.shape[-1]

    @property
    def cov(self) -> Float[Array, "d d"]:
        return self.chol @ self.chol.T

    def log_det_cov(self) -> Float[Array, ""]:
        """log det Σ = 2 Σ log|L_ii|."""
        return 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(self.chol))))

    def log_prob(self, x: Float[Array, "... d"]) -> Float[Array, "..."]:
        """log N(x; μ, Σ) for one point or a batch (leading axes)."""
        x = jnp.asarray(x, dtype=self.mean.dtype)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"argument `x` must have last axis {self.dim}; got shape {x.shape}")
        flat = (x - self.mean).reshape(-1, self.dim)
        z = jax.scipy.linalg.solve_triangular(self.chol, flat.T, lower=True)
        quad = jnp.sum(z * z, axis=0).reshape(x.shape[:-1])
        return -0.5 * quad - 0.5 * self.log_det_cov() - 0.5 * self.dim * math.log(2 * math.pi)

    def sample(self, key: PRNGKeyArray, n: int) -> Float[Array, "n d"]:
        """`n` i.i.d. draws μ + L z, z ~ N(0, I)."""
        z = jax.random.normal(key, (n, self.dim), dtype=self.mean.dtype)
        return self.mean + z @ self.chol.T


class DiscreteWorld(eqx.Module):
    """A distribution over the states 0..n−1, stored as normalised log-probabilities.

    The constructor renormalises (`log_softmax`), so unnormalised log-weights are
    accepted; -inf marks a state of zero probability. Exact for any n ≥ 1.
    """

    log_probs: Float[Array, " n"]

    def __init__(self, log_probs):
        lp = float_vector(log_probs, "log_probs")
        lp = _check_log_weights(lp, "log_probs")
        self.log_probs = jax.nn.log_softmax(lp)

    @classmethod
    def from_probs(cls, probs) -> DiscreteWorld:
        """From probabilities on the simplex (validated: entries ≥ 0 summing to 1)."""
        p = float_vector(probs, "probs")
        p = check_simplex(p, "probs")
        return cls(_safe_log(p))

    @classmethod
    def from_logits(cls, logits) -> DiscreteWorld:
        """P ∝ exp(logits); -inf logits give zero probability."""
        lg = float_vector(logits, "logits")
        return cls(_check_log_weights(lg, "logits"))

    @classmethod
    def from_intrinsic_entropies(cls, s) -> DiscreteWorld:
        """The maximum-entropy world Q ∝ e^s of SUM Appendix 1 (s = intrinsic entropies)."""
        s = float_vector(s, "s")
        return cls(check_finite(s, "s"))

    @property
    def n(self) -> int:
        return self.log_probs.shape[-1]

    @property
    def probs(self) -> Float[Array, " n"]:
        return jnp.exp(self.log_probs)


class ParticleWorld(eqx.Module):
    """A weighted sample {(x_i, w_i)}: P = Σ_i w_i δ_{x_i}, with normalised log-weights.

    `samples` has shape (n, ...) (any state shape); `log_weights` shape (n,) is
    renormalised on construction. Tilts reweight and never move the samples, so
    a tilted world is exact for the empirical measure; as an estimate of a
    continuous world its error grows as the effective sample size shrinks.
    """

    samples: Float[Array, "n ..."]
    log_weights: Float[Array, " n"]

    def __init__(self, samples, log_weights):
        samples = jnp.asarray(samples)
        lw = _float(log_weights)
        if samples.ndim < 1 or samples.shape[0] < 1:
            raise ValueError(f"argument `samples` must have a leading axis of length n >= 1; got shape {samples.shape}")
        check_shape(lw, "log_weights", (samples.shape[0],), what="(one log-weight per sample)")
        if jnp.issubdtype(samples.dtype, jnp.floating):
            samples = check_finite(samples, "samples")
        lw = _check_log_weights(lw, "log_weights")
        self.samples = samples
        self.log_weights = jax.nn.log_softmax(lw)

    @classmethod
    def from_samples(cls, samples) -> ParticleWorld:
        """Equal weights 1/n on the given samples (e.g. `GaussianWorld.sample(key, n)`)."""
        samples = jnp.asarray(samples)
        if samples.ndim < 1:
            raise ValueError(f"argument `samples` must have a leading axis of length n >= 1; got shape {samples.shape}")
        dtype = samples.dtype if jnp.issubdtype(samples.dtype, jnp.floating) else jnp.result_type(float)
        return cls(samples, jnp.zeros((samples.shape[0],), dtype))

    @property
    def n(self) -> int:
        return self.log_weights.shape[-1]

    @property
    def weights(self) -> Float[Array, " n"]:
        return jnp.exp(self.log_weights)

    @property
    def ess(self) -> Float[Array, ""]:
        """Effective sample size 1 / Σ w_i² (n for equal weights, 1 for a point mass)."""
        return jnp.exp(-jax.nn.logsumexp(2.0 * self.log_weights))

    # `effective_sample_size` spelled out for readers who look for it.
    @property
    def effective_sample_size(self) -> Float[Array, ""]:
        return self.ess

