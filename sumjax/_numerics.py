"""Shared numerical building blocks (no input checks): safe square root, Gauss–Legendre nodes,
the floating dtype of a set of arguments."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["safe_sqrt", "gauss_legendre", "float_dtype", "expm1_minus_x", "finfo", "sort_floats", "quantile"]


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


def sort_floats(x):
    """Ascending sort of a 1-D float array through its bits read as integers, NaN last.

    XLA:CPU sorts floats with a total-order comparator ~5× slower than its integer sort (1e5 float64:
    22 ms against 4 ms). The map bits ↦ bits ^ ((bits >> (w−1)) & (2^(w−1) − 1)) preserves the order
    of floats as signed integers and is its own inverse; −0 sorts just below +0; NaNs (any sign) are
    put last as `jnp.sort` does. Differentiable only as a permutation (no gradient through the bits);
    use `jnp.sort` under `jax.grad`."""
    ity = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[x.dtype.itemsize]
    nan = jnp.isnan(x)
    x = jnp.where(nan, jnp.inf, x)
    bits = jax.lax.bitcast_convert_type(x, ity)
    flip = jnp.array(np.iinfo(ity).max, ity)
    key = jax.lax.sort(bits ^ ((bits >> (8 * x.dtype.itemsize - 1)) & flip))
    out = jax.lax.bitcast_convert_type(key ^ ((key >> (8 * x.dtype.itemsize - 1)) & flip), x.dtype)
    n_nan = jnp.sum(nan)
    return jnp.where(jnp.arange(x.shape[0]) >= x.shape[0] - n_nan, jnp.nan, out)


def quantile(x, q):
    """`jnp.quantile(x, q)` (linear interpolation, NaN if x has one) for a 1-D float array `x`, sorted by
    `sort_floats`, ~5× faster on XLA:CPU. Equal to `np.quantile` to rounding on finite data (tested); a
    quantile that lands exactly on an infinite order statistic is that infinity (not inf·0 = NaN)."""
    s = sort_floats(x)
    pos = q * (x.shape[0] - 1)
    lo = jnp.clip(jnp.floor(pos), 0, x.shape[0] - 1)
    hi = jnp.clip(lo + 1, 0, x.shape[0] - 1)
    frac = pos - lo
    s_lo, s_hi = s[lo.astype(jnp.int32)], s[hi.astype(jnp.int32)]
    out = jnp.where(frac == 0, s_lo, s_lo * (1 - frac) + s_hi * frac)
    return jnp.where(jnp.any(jnp.isnan(x)), jnp.nan, out)
