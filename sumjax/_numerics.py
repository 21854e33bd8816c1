"""Shared numerical building blocks (no input checks): safe square root, Gauss–Legendre nodes,
the floating dtype of a set of arguments."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

__all__ = ["safe_sqrt", "gauss_legendre", "float_dtype"]


def safe_sqrt(x):
    """√x for x ≥ 0 with gradient 0 (not inf/NaN) at x = 0 (double-where)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


@functools.lru_cache(maxsize=None)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss–Legendre nodes and weights on [−1, 1] (float64 NumPy, cached)."""
    return np.polynomial.legendre.leggauss(n)


def float_dtype(*xs):
    """The floating dtype the arguments promote to (ints and Python scalars → the default float)."""
    return jnp.result_type(*xs, 1.0)
