"""Parameter checks shared by the scenario modules (eager ValueError, error_if under a trace)."""

from __future__ import annotations

import jax.numpy as jnp

from ..._validate import check_range


def checked(x, name: str, lower=None, upper=None, **kw):
    """`x` as a float array that must lie in [lower, upper] (see `check_range`), named in the error."""
    x = jnp.asarray(x, jnp.result_type(x, 1.0))
    if x.ndim != 0:
        raise ValueError(f"argument `{name}` must be a scalar (use jax.vmap over scenarios); got shape {x.shape}")
    return check_range(x, name, lower, upper, **kw)
