"""Points of the simplex Δⁿ of utility weights.

A value-uncertain agent with utilities v_0..v_n holds U = Σ_j I_j v_j; the expectations of
the indicators I_j are a point w of Δⁿ = {w ∈ R^{n+1} : w ≥ 0, Σ_j w_j = 1}. The last axis of
every array of weights holds the n + 1 coordinates; leading axes are batch axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_finite, check_simplex, is_traced

__all__ = [
    "check_weights",
    "vertices",
    "sample_simplex",
    "mix",
    "barycentric_grid",
    "to_cartesian",
    "project_tangent",
    "tangent_basis",
]


def check_weights(w, name: str = "w", *, atol: float | None = None) -> Float[Array, "... n1"]:
    """Return `w` as an array after checking its last axis lies on Δⁿ (w ≥ 0, Σ w = 1).

    Raises `ValueError` naming `name` on concrete input; under jit/vmap/grad the check is an
    `equinox.error_if`. Tolerance: 1e-9 (float64) or 1e-6 (float32) per coordinate.

    Args:
        w: weights, array-like of shape (..., n+1).
        name: the argument name used in the error message (default ``"w"``).
        atol: tolerance per coordinate; None (default) is 1e-9 (float64) or 1e-6 (float32).

    Returns:
        Float array of the shape of `w`: the checked weights.

    Raises:
        ValueError: naming `name`, if some w is off Δⁿ (concrete input).
    """
    w = jnp.asarray(w)
    if w.ndim == 0:
        raise ValueError(f"argument `{name}` must have a last axis of n + 1 >= 1 weights; got a scalar")
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    return _simplex(w, name, atol=atol)


def _simplex(w, name: str, *, atol: float | None = None):
    """`check_simplex` with the concrete case done in numpy (no per-shape compile when eager)."""
    if is_traced(w):
        return check_simplex(w, name, atol=atol)
    a = np.asarray(w)
    tol = (1e-6 if a.dtype == np.float32 else 1e-9) if atol is None else atol
    bad = ~np.all(np.isfinite(a), axis=-1) | np.any(a < -tol, axis=-1)
    bad |= np.abs(a.sum(axis=-1) - 1.0) > tol * max(1, a.shape[-1] if a.ndim else 1)
    if np.any(bad):
        check_simplex(w, name, atol=atol)  # raises the shared message
        raise ValueError(f"argument `{name}` must lie on the simplex (entries >= 0 along the last axis, summing to 1)")
    return w


def _finite(x, name: str):
    """`check_finite` with the concrete case done in numpy."""
    if is_traced(x):
        return check_finite(x, name)
    if not np.all(np.isfinite(np.asarray(x))):
        check_finite(x, name)  # raises the shared message
    return x


def vertices(n_utilities: int, dtype=None) -> Float[Array, "n1 n1"]:
    """The n + 1 vertices of Δⁿ as rows: row j is the pure utility v_j (the identity matrix).

    Args:
        n_utilities: n + 1, the number of utilities, an int ≥ 1.
        dtype: floating dtype of the result; None (default) is JAX's default float.

    Returns:
        Float array of shape (n+1, n+1): the identity matrix.
    """
    _check_n(n_utilities)
    return jnp.eye(n_utilities, dtype=dtype)


def sample_simplex(key: PRNGKeyArray, n_utilities: int, shape: tuple[int, ...] = (), dtype=None) -> Float[Array, "... n1"]:
    """Uniform points of Δⁿ (Dirichlet(1, …, 1)), shape `shape + (n_utilities,)`.

    Normalised standard exponentials are exactly Dirichlet(1); exact in any float dtype.

    Args:
        key: a JAX PRNG key.
        n_utilities: n + 1, the number of utilities, an int ≥ 1.
        shape: batch shape (default ()).
        dtype: floating dtype of the result; None (default) is JAX's default float.

    Returns:
        Float array of shape `shape + (n_utilities,)`: uniform points of Δⁿ.

    References:
        Devroye, L. (1986) Non-Uniform Random Variate Generation, Springer, ch. XI (Dirichlet via
        normalised gammas).
    """
    _check_n(n_utilities)
    dtype = jnp.result_type(float) if dtype is None else dtype
    e = jax.random.exponential(key, tuple(shape) + (n_utilities,), dtype=dtype)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def mix(w0: Float[Array, "... n1"], w1: Float[Array, "... n1"], t) -> Float[Array, "... n1"]:
    """The point (1 − t)·w0 + t·w1 of the segment between two utilities (t broadcasts).

    Args:
        w0: start point(s), float array of shape (..., n+1).
        w1: end point(s), float array of shape (..., n+1).
        t: position t (float array or scalar; [0, 1] stays on the segment),
            broadcast against w0[..., 0].

    Returns:
        Float array of the broadcast shape (..., n+1): (1 − t)·w0 + t·w1.
    """
    t = jnp.asarray(t)[..., None]
    return (1 - t) * jnp.asarray(w0) + t * jnp.asarray(w1)


def barycentric_grid(resolution: int, dtype=None) -> Float[Array, "p 3"]:
    """All points (i, j, k)/resolution of Δ² with i + j + k = resolution, for plotting.

    Returns ((resolution + 1)(resolution + 2)/2, 3) points, vertices and edges included.

    Args:
        resolution: grid steps per edge, an int ≥ 1.
        dtype: floating dtype of the result; None (default) is JAX's default float.

    Returns:
        Float array of shape ((resolution + 1)(resolution + 2)/2, 3): the grid points.
    """
    if int(resolution) < 1:
        raise ValueError(f"argument `resolution` must be an integer >= 1; got {resolution!r}")
    r = int(resolution)
    pts = [(i, j, r - i - j) for i in range(r + 1) for j in range(r + 1 - i)]
    return jnp.asarray(np.asarray(pts, dtype=np.float64) / r, dtype=jnp.result_type(float) if dtype is None else dtype)


def to_cartesian(w: Float[Array, "... 3"]) -> Float[Array, "... 2"]:
    """Map points of Δ² to the plane: v_0 → (0, 0), v_1 → (1, 0), v_2 → (½, √3/2) (equilateral).

    Args:
        w: points of Δ², float array of shape (..., 3).

    Returns:
        Float array of shape (..., 2): planar coordinates.
    """
    w = jnp.asarray(w)
    if w.shape[-1:] != (3,):
        raise ValueError(f"argument `w` must have a last axis of 3 weights (points of the 2-simplex); got shape {w.shape}")
    x = w[..., 1] + 0.5 * w[..., 2]
    y = (np.sqrt(3.0) / 2) * w[..., 2]
    return jnp.stack([x, y], axis=-1)


def project_tangent(x: Float[Array, "... n1"]) -> Float[Array, "... n1"]:
    """Orthogonal projection onto the simplex's tangent space {x : Σ_j x_j = 0}: x − mean(x).

    Args:
        x: vectors, float array of shape (..., n+1).

    Returns:
        Float array of the shape of `x` with Σ_j x_j = 0.
    """
    x = jnp.asarray(x)
    return x - jnp.mean(x, axis=-1, keepdims=True)


def tangent_basis(n_utilities: int, dtype=None) -> Float[Array, "n1 n"]:
    """Orthonormal basis of {x ∈ R^{n+1} : Σ x = 0} as n columns (the Helmert contrasts).

    Column j (1 ≤ j ≤ n) is (1, …, 1, −j, 0, …, 0)/√(j(j+1)) with j ones; exact to rounding.

    Args:
        n_utilities: n + 1, the number of utilities, an int ≥ 1 (≥ 2 for a non-empty basis).
        dtype: floating dtype of the result; None (default) is JAX's default float.

    Returns:
        Float array of shape (n+1, n): orthonormal columns.
    """
    _check_n(n_utilities)
    n1 = int(n_utilities)
    basis = np.zeros((n1, n1 - 1))
    for j in range(1, n1):
        basis[:j, j - 1] = 1.0
        basis[j, j - 1] = -float(j)
        basis[:, j - 1] /= np.sqrt(j * (j + 1.0))
    return jnp.asarray(basis, dtype=jnp.result_type(float) if dtype is None else dtype)


def _check_n(n_utilities) -> None:
    if not isinstance(n_utilities, (int, np.integer)) or int(n_utilities) < 1:
        raise ValueError(f"argument `n_utilities` must be an integer >= 1 (the number n + 1 of utilities); got {n_utilities!r}")
