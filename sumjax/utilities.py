"""Utilities: real functions of the state (linear, quadratic, tabular, any callable).

A utility is called on ONE state; the kernels vmap it over samples. Any callable
(a plain function, an `eqx.Module` such as `eqx.nn.MLP` followed by a scalar
read-out) works on a `ParticleWorld`; a `DiscreteWorld` takes a `TabularUtility`
(or a callable on the integer state index). `GaussianWorld` has closed forms for
`LinearUtility` and `QuadraticUtility` only.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._validate import as_float as _float
from ._validate import as_float_of
from ._validate import check_finite, check_shape, float_vector

__all__ = ["LinearUtility", "QuadraticUtility", "TabularUtility"]


class LinearUtility(eqx.Module):
    """U(x) = u·x + offset on R^d (exact up to rounding).

    Args:
        u: the gradient u, finite float vector of shape (d,), d ≥ 1.
        offset: the constant, a finite float scalar (default 0; cast to `u`'s dtype).

    Raises:
        ValueError: naming `u` or `offset` for a wrong shape or non-finite entries.
    """

    u: Float[Array, " d"]
    offset: Float[Array, ""]

    def __init__(self, u, offset=0.0):
        u = float_vector(u, "u")
        self.u = check_finite(u, "u")
        self.offset = check_finite(as_float_of(offset, u.dtype), "offset")
        check_shape(self.offset, "offset", ())

    @property
    def dim(self) -> int:
        return self.u.shape[-1]

    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "..."]:
        return jnp.asarray(x) @ self.u + self.offset


class QuadraticUtility(eqx.Module):
    """U(x) = −½ xᵀAx + bᵀx + offset on R^d.

    Only the symmetric part of `A` matters (xᵀAx = xᵀ sym(A) x); `A` may be
    indefinite (the tilt then has an admissibility limit on k).

    Args:
        A: the curvature, finite float array of shape (d, d) (need not be symmetric).
        b: the linear term, finite float vector of shape (d,), d ≥ 1.
        offset: the constant, a finite float scalar (default 0).

    Raises:
        ValueError: naming `A`, `b` or `offset` for a wrong shape or non-finite entries.
    """

    A: Float[Array, "d d"]
    b: Float[Array, " d"]
    offset: Float[Array, ""]

    def __init__(self, A, b, offset=0.0):
        A = _float(A, b)
        b = as_float_of(b, A.dtype)
        if b.ndim != 1 or b.shape[0] < 1:
            raise ValueError(f"argument `b` must be a non-empty vector of shape (d,); got shape {b.shape}")
        check_shape(A, "A", (b.shape[0], b.shape[0]), what="(matching `b`)")
        self.A = check_finite(A, "A")
        self.b = check_finite(b, "b")
        self.offset = check_finite(as_float_of(offset, A.dtype), "offset")
        check_shape(self.offset, "offset", ())

    @property
    def dim(self) -> int:
        return self.b.shape[-1]

    @property
    def A_sym(self) -> Float[Array, "d d"]:
        return 0.5 * (self.A + self.A.T)

    def __call__(self, x: Float[Array, "... d"]) -> Float[Array, "..."]:
        x = jnp.asarray(x)
        return -0.5 * jnp.einsum("...i,ij,...j->...", x, self.A, x) + x @ self.b + self.offset


class TabularUtility(eqx.Module):
    """U(i) = values[i] on the states 0..n−1 of a `DiscreteWorld`.

    Args:
        values: finite float vector of shape (n,): the utility of every state.

    Raises:
        ValueError: naming `values` if it is not a finite vector.
    """

    values: Float[Array, " n"]

    def __init__(self, values):
        v = float_vector(values, "values")
        self.values = check_finite(v, "values")

    @property
    def n(self) -> int:
        return self.values.shape[-1]

    def __call__(self, i) -> Float[Array, "..."]:
        return self.values[i]
