"""Worlds: probability distributions over states (Gaussian, discrete, particle).

A world is what an agent acts on (docs/model.md, "Worlds, agents, power"). Each world is an
`eqx.Module` pytree, so it passes through `jax.jit`, `jax.vmap` and `jax.grad` like an array.
Constructors are the public boundary and validate their input once per argument (eagerly on
concrete values, one `equinox.error_if` under a transformation); kernels rebuild worlds with
`replace`/`with_log_mass`, which do not validate.

Layout (equinox's abstract/final pattern): `AbstractWorld` ← `GaussianWorld` (final);
`AbstractWorld` ← `AbstractWeightedWorld` ← `DiscreteWorld`, `ParticleWorld` (final).
"""

from __future__ import annotations

import abc
import math
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._validate import as_float as _float
from ._validate import as_float_of
from ._validate import check_finite, check_shape, check_simplex, ensure_all, float_vector, is_traced
from .utilities import LinearUtility, QuadraticUtility, TabularUtility

__all__ = ["AbstractWorld", "AbstractWeightedWorld", "GaussianWorld", "DiscreteWorld", "ParticleWorld"]


class AbstractWorld(eqx.Module):
    """A probability distribution over states. Subclasses are final (equinox abstract/final)."""

    @property
    @abc.abstractmethod
    def dtype(self):
        """The floating dtype of the world's parameters (the precision its tilts run in)."""


class AbstractWeightedWorld(AbstractWorld):
    """A world given by normalised log-weights on finitely many states (discrete, particle).

    Tilts and baselines act by reweighting: `log_mass` (log P of every state),
    `with_log_mass(lw)` (the same states reweighted, unchecked), `utility_values(U)`.
    """

    @property
    @abc.abstractmethod
    def log_mass(self) -> Float[Array, " n"]:
        """Normalised log-probabilities of the states (-inf for zero mass)."""

    @abc.abstractmethod
    def with_log_mass(self, lw) -> AbstractWeightedWorld:
        """The same states with log-weights `lw` (renormalised; not validated: a kernel helper)."""

    @abc.abstractmethod
    def utility_values(self, utility) -> Float[Array, " n"]:
        """U at every state (not checked for finiteness: the public caller checks it)."""

    @property
    def dtype(self):
        return self.log_mass.dtype

    @property
    def n(self) -> int:
        return self.log_mass.shape[-1]


def _values_shape(values, n: int):
    values = jnp.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"argument `utility` must return one scalar per state; got values of shape {values.shape}")
    return values


def _safe_log(p):
    """log p with log 0 = -inf and a finite (zero) gradient at p = 0 (double-where)."""
    pos = p > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, p, 1.0)), -jnp.inf)


def _check_log_weights(lw, name: str):
    """Log-weights may be -inf (zero mass) but not NaN or +inf, and not all -inf (one check)."""
    xp, a = (jnp, lw) if is_traced(lw) else (np, np.asarray(lw))
    return ensure_all(
        lw,
        [
            (xp.isnan(a) | (a == np.inf), f"argument `{name}` must not contain NaN or +inf (use -inf for zero mass)"),
            (xp.all(a == -np.inf), f"argument `{name}` must give positive total mass (not all -inf)"),
        ],
    )


def _check_chol(chol):
    """One check of `chol`: finite, lower triangular, nonzero diagonal."""
    xp, a = (jnp, chol) if is_traced(chol) else (np, np.asarray(chol))
    return ensure_all(
        chol,
        [
            (~xp.isfinite(a), "argument `chol` must be finite (no NaN or inf)"),
            (
                xp.triu(a, 1) != 0,
                "argument `chol` must be lower triangular (use GaussianWorld.from_covariance for a full covariance)",
            ),
            (
                xp.diagonal(a) == 0,
                "argument `chol` must have a nonzero diagonal (the covariance must be positive definite)",
            ),
        ],
    )


def _mean_vector(mean, other):
    mean = _float(mean, other)
    if mean.ndim != 1 or mean.shape[0] < 1:
        raise ValueError(f"argument `mean` must be a non-empty vector of shape (d,), d >= 1; got shape {mean.shape}")
    return mean


class GaussianWorld(AbstractWorld):
    """The world N(mean, Σ) over R^d with Σ = chol·cholᵀ.

    `chol` is lower triangular with a nonzero diagonal (any signs; log|det| is used),
    so Σ is positive definite. Exact for every d ≥ 1; cost O(d³) per factorisation.

    Args:
        mean: μ, float array of shape (d,), d ≥ 1, finite.
        chol: L, float array of shape (d, d): lower triangular, finite, nonzero diagonal
            (cast to `mean`'s dtype).

    Raises:
        ValueError: naming `mean` or `chol` for a wrong shape, non-finite entries, an entry
            above the diagonal or a zero on the diagonal.
    """

    mean: Float[Array, " d"]
    chol: Float[Array, "d d"]

    def __init__(self, mean, chol):
        mean = _mean_vector(mean, chol)
        chol = as_float_of(chol, mean.dtype)
        d = mean.shape[0]
        check_shape(chol, "chol", (d, d), what="(lower Cholesky factor of the covariance)")
        self.mean = check_finite(mean, "mean")
        self.chol = _check_chol(chol)

    def replace(self, mean, chol) -> GaussianWorld:
        """N(mean, chol·cholᵀ) without validation (for kernels that computed a valid factor)."""
        return eqx.tree_at(lambda w: (w.mean, w.chol), self, (mean, chol))

    @property
    def dtype(self):
        return self.mean.dtype

    @classmethod
    def isotropic(cls, d: int, dtype=None) -> GaussianWorld:
        """N(0, I_d) (the SUM toy model's world); d an integer in [1, 2³¹ − 1].

        Args:
            d: the dimension, an integer in [1, 2³¹ − 1].
            dtype: the float dtype of the world (default: float64 with `jax_enable_x64`,
                else float32).

        Returns:
            The `GaussianWorld` N(0, I_d).

        Raises:
            ValueError: naming `d` if it is not an integer in range.
        """
        ok = isinstance(d, numbers.Real) and not isinstance(d, bool) and math.isfinite(d) and d == int(d)
        if not ok or not 1 <= d <= 2**31 - 1:
            raise ValueError(f"argument `d` must be an integer in [1, 2147483647]; got {d!r}")
        dtype = jnp.result_type(float) if dtype is None else dtype
        return cls(jnp.zeros((int(d),), dtype), jnp.eye(int(d), dtype=dtype))

    @classmethod
    def from_covariance(cls, mean, cov) -> GaussianWorld:
        """N(mean, cov); `cov` must be symmetric positive definite (else a clear error naming `cov`).

        The stored factor is the Cholesky factor of the symmetrised ½(cov + covᵀ).

        Args:
            mean: μ, float array of shape (d,), d ≥ 1, finite.
            cov: Σ, float array of shape (d, d): finite, symmetric to 100·eps relative,
                positive definite.

        Returns:
            The `GaussianWorld` N(mean, cov).

        Raises:
            ValueError: naming `mean` or `cov` (shape, non-finite, asymmetric, not positive
                definite).
        """
        mean = _mean_vector(mean, cov)
        cov = as_float_of(cov, mean.dtype)
        d = mean.shape[0]
        check_shape(cov, "cov", (d, d))
        mean = check_finite(mean, "mean")
        eps = float(jnp.finfo(cov.dtype).eps)
        sym = lambda xp, c: 0.5 * (c + c.T)  # noqa: E731
        if is_traced(cov):
            chol = jnp.linalg.cholesky(sym(jnp, cov))
            conds = [
                (~jnp.isfinite(cov), "argument `cov` must be finite (no NaN or inf)"),
                (jnp.max(jnp.abs(cov - cov.T)) > 100 * eps * jnp.max(jnp.abs(cov)), "argument `cov` must be symmetric"),
                (
                    ~jnp.isfinite(chol) | (jnp.diagonal(chol) <= 0)[:, None],
                    "argument `cov` must be positive definite (its Cholesky factorisation failed)",
                ),
            ]
            # The checked factor is what the world is built from, so the check cannot be compiled away.
            chol = ensure_all(chol, conds)
            return cls.replace_unchecked(mean, chol)
        c = np.asarray(cov)
        if not np.all(np.isfinite(c)):
            raise ValueError("argument `cov` must be finite (no NaN or inf)")
        if np.max(np.abs(c - c.T)) > 100 * eps * np.max(np.abs(c)):
            raise ValueError("argument `cov` must be symmetric")
        try:
            chol = np.linalg.cholesky(sym(np, c))
        except np.linalg.LinAlgError:
            raise ValueError("argument `cov` must be positive definite (its Cholesky factorisation failed)") from None
        if not np.all(np.isfinite(chol)) or np.any(np.diagonal(chol) <= 0):
            raise ValueError("argument `cov` must be positive definite (its Cholesky factorisation failed)")
        return cls.replace_unchecked(mean, jnp.asarray(chol, mean.dtype))

    @classmethod
    def replace_unchecked(cls, mean, chol) -> GaussianWorld:
        """N(mean, chol·cholᵀ) without validation, for callers that already checked both.

        Args:
            mean: μ, float array of shape (d,).
            chol: a valid lower Cholesky factor of shape (d, d) (not checked).

        Returns:
            The `GaussianWorld` with these fields.
        """
        # A template built from valid placeholders, then the (already checked) fields put in.
        d = mean.shape[0]
        template = cls(np.zeros((d,), mean.dtype), np.eye(d, dtype=mean.dtype))
        return template.replace(mean, chol)

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


class DiscreteWorld(AbstractWeightedWorld):
    """A distribution over the states 0..n−1, stored as normalised log-probabilities.

    The constructor renormalises (`log_softmax`), so unnormalised log-weights are
    accepted; -inf marks a state of zero probability. Exact for any n ≥ 1.

    Args:
        log_probs: float vector of shape (n,), n ≥ 1: log-weights (normalised on
            construction); -inf allowed, NaN and +inf not, not all -inf.

    Raises:
        ValueError: naming `log_probs` if it is not a vector or has NaN/+inf or no mass.
    """

    log_probs: Float[Array, " n"]

    def __init__(self, log_probs):
        lp = float_vector(log_probs, "log_probs")
        lp = _check_log_weights(lp, "log_probs")
        self.log_probs = jax.nn.log_softmax(lp)

    @classmethod
    def _from_checked(cls, lw) -> DiscreteWorld:
        # `lw` was validated by the caller (one check per argument): no second check here.
        return cls(np.zeros(lw.shape, lw.dtype)).with_log_mass(lw)

    @classmethod
    def from_probs(cls, probs) -> DiscreteWorld:
        """From probabilities on the simplex (validated: entries ≥ 0 summing to 1).

        Args:
            probs: float vector of shape (n,), entries ≥ 0 summing to 1 (to rounding); zero
                entries give log-probability -inf.

        Returns:
            The `DiscreteWorld` with these probabilities.

        Raises:
            ValueError: naming `probs` if it is not on the simplex.
        """
        p = float_vector(probs, "probs")
        p = check_simplex(p, "probs")
        return cls._from_checked(_safe_log(p))

    @classmethod
    def from_logits(cls, logits) -> DiscreteWorld:
        """P ∝ exp(logits); -inf logits give zero probability.

        Args:
            logits: float vector of shape (n,); -inf allowed, NaN and +inf not, not all -inf.

        Returns:
            The `DiscreteWorld` P = softmax(logits).

        Raises:
            ValueError: naming `logits` for NaN/+inf or all -inf.
        """
        lg = float_vector(logits, "logits")
        return cls._from_checked(_check_log_weights(lg, "logits"))

    @classmethod
    def from_intrinsic_entropies(cls, s) -> DiscreteWorld:
        """The maximum-entropy world Q ∝ e^s of SUM Appendix 1 (s = intrinsic entropies).

        Q maximises H(Q) + E_Q[s] (Jaynes 1957; docs/model.md, "Worlds, agents, power").

        Args:
            s: the intrinsic entropy of every state, finite float vector of shape (n,).

        Returns:
            The `DiscreteWorld` Q = softmax(s).

        Raises:
            ValueError: naming `s` if it is not a finite vector.
        """
        s = float_vector(s, "s")
        return cls._from_checked(check_finite(s, "s"))

    @property
    def log_mass(self) -> Float[Array, " n"]:
        return self.log_probs

    def with_log_mass(self, lw) -> DiscreteWorld:
        return eqx.tree_at(lambda w: w.log_probs, self, jax.nn.log_softmax(lw))

    def utility_values(self, utility) -> Float[Array, " n"]:
        if isinstance(utility, TabularUtility):
            check_shape(utility.values, "utility.values", (self.n,), what=f"(one value per state of the {self.n}-state world)")
            values = utility.values
        elif isinstance(utility, (LinearUtility, QuadraticUtility)):
            raise TypeError(
                f"{type(utility).__name__} acts on vectors in R^d, but the states of a DiscreteWorld are the indices "
                "0..n-1: use TabularUtility(values) (or a callable on the state index)"
            )
        elif callable(utility):
            values = jax.vmap(utility)(jnp.arange(self.n))
        else:
            raise TypeError(f"argument `utility` must be a TabularUtility or a callable; got {type(utility).__name__}")
        values = _values_shape(values, self.n)
        return values.astype(jnp.result_type(values, self.dtype))

    @property
    def probs(self) -> Float[Array, " n"]:
        return jnp.exp(self.log_probs)


class ParticleWorld(AbstractWeightedWorld):
    """A weighted sample {(x_i, w_i)}: P = Σ_i w_i δ_{x_i}, with normalised log-weights.

    `samples` has shape (n, ...) (any state shape); `log_weights` shape (n,) is
    renormalised on construction. Tilts reweight and never move the samples, so
    a tilted world is exact for the empirical measure; as an estimate of a
    continuous world its error grows as the effective sample size shrinks.

    Args:
        samples: array of shape (n, ...), n ≥ 1 (finite if floating).
        log_weights: float vector of shape (n,): log-weights (normalised on construction);
            -inf allowed, NaN and +inf not, not all -inf.

    Raises:
        ValueError: naming `samples` or `log_weights` (shape, non-finite, no mass).
    """

    samples: Float[Array, "n ..."]
    log_weights: Float[Array, " n"]

    def __init__(self, samples, log_weights):
        samples = samples if is_traced(samples) else np.asarray(samples)
        lw = _float(log_weights)
        if samples.ndim < 1 or samples.shape[0] < 1:
            raise ValueError(f"argument `samples` must have a leading axis of length n >= 1; got shape {samples.shape}")
        check_shape(lw, "log_weights", (samples.shape[0],), what="(one log-weight per sample)")
        samples = check_finite(samples, "samples") if jnp.issubdtype(samples.dtype, jnp.floating) else jnp.asarray(samples)
        lw = _check_log_weights(lw, "log_weights")
        self.samples = samples
        self.log_weights = jax.nn.log_softmax(lw)

    @classmethod
    def from_samples(cls, samples) -> ParticleWorld:
        """Equal weights 1/n on the given samples (e.g. `GaussianWorld.sample(key, n)`).

        Args:
            samples: array (or nested list) of shape (n, ...), n ≥ 1, finite if floating.

        Returns:
            The `ParticleWorld` with log-weights −log n (float dtype of `samples`, or the
            default float for integer samples).

        Raises:
            ValueError: naming `samples` for a missing leading axis or non-finite entries.
        """
        samples = jnp.asarray(np.asarray(samples) if isinstance(samples, (list, tuple)) else samples)
        if samples.ndim < 1:
            raise ValueError(f"argument `samples` must have a leading axis of length n >= 1; got shape {samples.shape}")
        dtype = samples.dtype if jnp.issubdtype(samples.dtype, jnp.floating) else jnp.result_type(float)
        return cls(samples, jnp.zeros((samples.shape[0],), dtype))

    @property
    def log_mass(self) -> Float[Array, " n"]:
        return self.log_weights

    def with_log_mass(self, lw) -> ParticleWorld:
        return eqx.tree_at(lambda w: w.log_weights, self, jax.nn.log_softmax(lw))

    def utility_values(self, utility) -> Float[Array, " n"]:
        if isinstance(utility, TabularUtility):
            raise TypeError("TabularUtility is for DiscreteWorld; on a ParticleWorld pass a callable on one state")
        if not callable(utility):
            raise TypeError(f"argument `utility` must be callable on one state; got {type(utility).__name__}")
        if isinstance(utility, (LinearUtility, QuadraticUtility)) and self.samples.shape[1:] != (utility.dim,):
            raise ValueError(
                f"utility of dimension {utility.dim} does not match the particle states of shape {self.samples.shape[1:]}"
            )
        values = _values_shape(jax.vmap(utility)(self.samples), self.n)
        return values.astype(jnp.result_type(values, self.dtype))

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

