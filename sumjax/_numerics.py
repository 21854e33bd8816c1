"""Shared numerical building blocks (no input checks): safe square root, Gauss–Legendre nodes,
the floating dtype of a set of arguments."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

__all__ = ["safe_sqrt", "gauss_legendre", "float_dtype", "expm1_minus_x", "finfo"]


def safe_sqrt(x):
    """√x for x ≥ 0 with gradient 0 (not inf/NaN) at x = 0 (double-where)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


@functools.lru_cache(maxsize=None)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss–Legendre nodes and weights on [−1, 1] (float64 NumPy, cached)."""
    return np.polynomial.legendre.leggauss(n)


def float_dtype(*xs):
    """The floating dtype the arguments promote to (ints, Python scalars and lists → the default
    float: float64 with `jax_enable_x64`, else float32). The package's one dtype policy."""
    xs = [np.asarray(x) if isinstance(x, (list, tuple)) else x for x in xs]
    return jnp.result_type(*xs, 1.0)


def finfo(dtype) -> np.finfo:
    """Machine limits of a floating dtype (eps, tiny, max) as NumPy scalars."""
    return np.finfo(np.dtype(dtype))


def expm1_minus_x(x):
    """eˣ − 1 − x without cancellation: Taylor series (to x¹⁷/17!, error < 1e-20 relative) for |x| ≤ ½."""
    small = jnp.abs(x) <= 0.5
    xs = jnp.where(small, x, 0.0)
    series = jnp.zeros_like(xs)
    for n in range(17, 1, -1):  # Horner: x²(1/2! + x(1/3! + …))
        series = series * xs + 1.0 / float(np.prod(np.arange(1, n + 1, dtype=float)))
    xb = jnp.where(small, 1.0, x)
    return jnp.where(small, series * xs * xs, jnp.expm1(xb) - xb)
