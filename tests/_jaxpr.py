"""Jaxpr inspection for tests: count host callbacks (e.g. `equinox.error_if` checks) in a program.

`count_callbacks(jax.make_jaxpr(fn)(*args))` walks the program and every sub-program (jit, while/cond
bodies, custom_jvp/vjp calls, scans) and counts equations whose primitive is a host callback. Reused by
the boundary tests of every package that validates at its public entry points.
"""

from __future__ import annotations

import jax
import jax.extend as jex

__all__ = ["count_callbacks", "count_checks", "callbacks_of", "checks_of"]


def _subjaxprs(value):
    if isinstance(value, jex.core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, jex.core.Jaxpr):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _subjaxprs(v)


def count_callbacks(jaxpr) -> int:
    """Number of host-callback equations in `jaxpr` (a Jaxpr or ClosedJaxpr), recursively."""
    if isinstance(jaxpr, jex.core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    n = 0
    for eqn in jaxpr.eqns:
        if "callback" in eqn.primitive.name:
            n += 1
        for value in eqn.params.values():
            for sub in _subjaxprs(value):
                n += count_callbacks(sub)
    return n


def callbacks_of(fn, *args, **kwargs) -> int:
    """Host callbacks in the program of `fn(*args, **kwargs)` traced with abstract arguments."""
    return count_callbacks(jax.make_jaxpr(fn)(*args, **kwargs))


_CHECK = "branched_error_if_impl"  # the jit that equinox.error_if / branched_error_if emits


def count_checks(jaxpr) -> int:
    """Number of `equinox.error_if` checks in `jaxpr`, recursively (each holds its own callbacks;
    a vmapped check counts once)."""
    if isinstance(jaxpr, jex.core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    n = 0
    for eqn in jaxpr.eqns:
        if eqn.params.get("name") == _CHECK:
            n += 1
            continue
        for value in eqn.params.values():
            for sub in _subjaxprs(value):
                n += count_checks(sub)
    return n


def checks_of(fn, *args, **kwargs) -> int:
    """`equinox.error_if` checks in the program of `fn(*args, **kwargs)`."""
    return count_checks(jax.make_jaxpr(fn)(*args, **kwargs))
