"""Input validation that is eager when it can be and jit-safe when it cannot.

Every public function checks its arguments with these helpers. On concrete
inputs the check runs in Python and raises `ValueError` naming the argument
and the allowed range; on traced inputs (inside `jax.jit`, `jax.vmap`,
`jax.grad`) it lowers to `equinox.error_if`, which raises at run time with the
same message. Either way a bad input never yields a silent wrong number.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "is_traced",
    "ensure",
    "ensure_all",
    "check_finite",
    "check_range",
    "check_simplex",
    "check_shape",
    "as_float",
    "as_float_of",
    "float_vector",
]


def is_traced(*xs) -> bool:
    """True if any leaf of `xs` is a JAX tracer (we are inside a transformation)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(xs))


def _describe(x) -> str:
    arr = np.asarray(x)
    if arr.size == 1:
        return f"got {arr.reshape(()).item()!r}"
    return f"got array of shape {arr.shape}"


def ensure(x, bad, message: str):
    """Return `x` unchanged, raising `message` wherever the boolean `bad` is true.

    `bad` is a boolean array (or a callable computing it from `x`). Concrete: raises
    `ValueError` immediately. Traced: attaches `equinox.error_if` to `x`.
    """
    if isinstance(bad, Callable):
        bad = bad(x)
    if is_traced(x, bad):
        return eqx.error_if(x, jnp.any(bad), message)
    if bool(np.any(np.asarray(bad))):
        raise ValueError(message)
    return x


def to_device(x):
    """A checked concrete value as a JAX array. A NumPy array goes by `jax.device_put`, which stages
    nothing; `jnp.asarray` would lower and compile a small program per shape (and create the MLIR
    context, ~40 ms, on a process's first call). A JAX array is returned as it is (what `jnp.asarray` returns,
    without its ~13 µs). Other values (Python scalars stay weakly typed) go through `jnp.asarray`."""
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        return x
    return jax.device_put(x) if isinstance(x, np.ndarray) else jnp.asarray(x)


def as_dtype(x, dtype):
    """`x` cast to `dtype` for checking: NumPy while concrete (also a constant inside a caller's trace),
    so it is checked eagerly rather than by a compiled callback, and no eager cast program is traced
    and lowered in a new process; `jnp` under a trace."""
    return jnp.asarray(x, dtype=dtype) if is_traced(x) else np.asarray(x, dtype=dtype)


def ensure_all(x, conditions):
    """`x` unchanged, raising the message of the FIRST `(bad, message)` pair whose `bad` holds.

    One check for one argument: concrete input raises `ValueError` eagerly; traced input gets a
    single `equinox.branched_error_if` (one host callback) that names the failing condition.
    Each `bad` is a boolean array (NumPy when concrete) or a callable of `x`.
    """
    bads = [bad(x) if callable(bad) else bad for bad, _ in conditions]
    msgs = [m for _, m in conditions]
    if is_traced(x, *bads):
        anys = jnp.stack([jnp.any(b) for b in bads])
        return eqx.branched_error_if(x, jnp.any(anys), jnp.argmax(anys), msgs)
    for bad, msg in zip(bads, msgs):
        if bool(np.any(np.asarray(bad))):
            raise ValueError(msg)
    return to_device(x)


def check_finite(x, name: str):
    """`x` must contain no NaN or inf."""
    msg = f"argument `{name}` must be finite (no NaN or inf)"
    if not is_traced(x):  # concrete (even inside a caller's trace): checked now, in NumPy
        if not bool(np.all(np.isfinite(np.asarray(x)))):
            raise ValueError(f"{msg}; {_describe(x)}")
        return to_device(x)
    x = jnp.asarray(x)
    return eqx.error_if(x, jnp.any(~jnp.isfinite(x)), msg)


def check_range(
    x,
    name: str,
    lower: float | None = None,
    upper: float | None = None,
    *,
    lower_inclusive: bool = True,
    upper_inclusive: bool = True,
    allow_inf: bool = False,
):
    """`x` must be non-NaN and lie in the stated interval (finite unless `allow_inf`).

    Concrete input — also a constant inside a caller's trace — is checked now, in NumPy."""
    traced = is_traced(x)
    x = jnp.asarray(x) if traced else x
    lo = "-inf" if lower is None else f"{lower:g}"
    hi = "inf" if upper is None else f"{upper:g}"
    interval = f"{'[' if lower_inclusive and lower is not None else '('}{lo}, {hi}{']' if upper_inclusive and upper is not None else ')'}"
    # Concrete input is checked in NumPy: no eager jnp dispatch or compile per shape on the hot path.
    xp, a = (jnp, x) if traced else (np, np.asarray(x))
    bad = xp.isnan(a)
    if not allow_inf:
        bad = bad | xp.isinf(a)
    if lower is not None:
        bad = bad | ((a < lower) if lower_inclusive else (a <= lower))
    if upper is not None:
        bad = bad | ((a > upper) if upper_inclusive else (a >= upper))
    msg = f"argument `{name}` must lie in {interval}"
    if traced:
        return eqx.error_if(x, jnp.any(bad), msg)
    if np.any(bad):
        first = a[bad].reshape(-1)[0] if a.ndim else a.item()
        raise ValueError(f"{msg}; got {first!r}" + ("" if a.size == 1 else f" (in array of shape {a.shape})"))
    return to_device(x)


def check_simplex(w, name: str, *, atol: float | None = None):
    """Last axis of `w` must be a probability vector: entries >= 0 summing to 1."""
    w = w if is_traced(w) else np.asarray(w)
    if atol is None:
        atol = 1e-6 if w.dtype == jnp.float32 else 1e-9
    xp, a = (jnp, w) if is_traced(w) else (np, np.asarray(w))
    bad = xp.any(~xp.isfinite(a), axis=-1) | xp.any(a < -atol, axis=-1)
    bad = bad | (xp.abs(xp.sum(a, axis=-1) - 1.0) > atol * max(1, w.shape[-1] if w.ndim else 1))
    msg = f"argument `{name}` must lie on the simplex (entries >= 0 along the last axis, summing to 1)"
    return jnp.asarray(ensure(w, bad, msg))


def check_shape(x, name: str, shape: tuple, *, what: str = ""):
    """Static shape check (shapes are always concrete, so this always raises eagerly).

    `shape` may contain `None` for an axis of any length.
    """
    actual = jnp.shape(x)
    ok = len(actual) == len(shape) and all(s is None or s == a for s, a in zip(shape, actual))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"argument `{name}` must have shape {want}{' ' + what if what else ''}; got {actual}")
    return x


def _arraylike(x):
    # Python lists/tuples are accepted everywhere: NumPy decides their dtype (jnp.result_type cannot).
    return np.asarray(x) if isinstance(x, (list, tuple)) else x


def as_float_of(x, dtype):
    """`x` (scalar, array, Python list) as an array of `dtype`. Concrete input stays a NumPy array,
    so that checking it is eager even inside a caller's trace (a jnp conversion there would
    turn a constant into a traced value and its check into a compiled callback)."""
    if is_traced(x):
        return jnp.asarray(x).astype(dtype)
    return np.asarray(x, dtype=dtype)


def as_float(x, *others):
    """`x` as an array of the floating dtype implied by `x` and `others` (ints promote to the
    default float; Python lists and tuples are accepted). NumPy for concrete input (see `as_float_of`)."""
    x = _arraylike(x)
    return as_float_of(x, jnp.result_type(x, *map(_arraylike, others), float))


def float_vector(x, name: str):
    """`x` as a floating array that must be a non-empty vector (static check, always eager)."""
    x = as_float(x)
    if x.ndim != 1 or x.shape[0] < 1:
        raise ValueError(f"argument `{name}` must be a non-empty vector; got shape {x.shape}")
    return x
