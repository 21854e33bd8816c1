"""The 1-D root behind every tilt: find k ≥ 0 with F(k; θ) = target, F increasing.

`increasing_root` runs a safeguarded Newton/bisection (bracket growth by ×4 while
the bracket is open, then Newton steps that stay inside the bracket, else
bisection — geometric when the bracket spans decades) in a `lax.while_loop` with a
fixed iteration cap, so it jits and vmaps. `implicit_root` attaches the
implicit-function derivative dk = (d target − ∂F/∂θ·dθ) / ∂F/∂k, so gradients
never unroll the solver.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

__all__: list[str] = []


def increasing_root(
    fn: Callable,
    params,
    target,
    guess,
    limit=jnp.inf,
    *,
    max_iter: int = 200,
):
    """k in [0, limit) with fn(k, params) = target, for fn increasing with fn(0, params) = 0.

    Requires target ≥ 0 and, when `limit` is infinite, target < sup fn (the caller
    handles saturation). Converges to |F| ≤ 8·eps·target or a bracket of relative
    width 8·eps. Not differentiable by itself; use `implicit_root`.
    """
    target = jnp.asarray(target)
    dtype = target.dtype
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny
    limit = jnp.asarray(limit, dtype)
    f_df = jax.value_and_grad(fn)

    # Start strictly inside the admissible interval.
    guess = jnp.where(jnp.isfinite(guess) & (guess > 0), guess, 1.0).astype(dtype)
    guess = jnp.where(jnp.isfinite(limit), jnp.minimum(guess, 0.5 * limit), guess)

    def cond(state):
        i, lo, hi, x, done = state
        return (i < max_iter) & ~done

    def body(state):
        i, lo, hi, x, _ = state
        f, df = f_df(x, params)
        f = f - target
        below = f <= 0  # NaN (beyond an admissibility limit) counts as above
        lo = jnp.where(below, x, lo)
        hi = jnp.where(below, hi, x)
        done = (jnp.abs(f) <= 8 * eps * target) | (jnp.isfinite(hi) & (hi - lo <= 8 * eps * hi))
        newton = x - f / jnp.where(df > 0, df, 1.0)
        newton_ok = (df > 0) & jnp.isfinite(newton) & (newton > lo) & (newton < hi)
        grow = 4.0 * jnp.maximum(lo, tiny)
        geometric = (lo > 0) & (hi > 16 * lo)
        bisect = jnp.where(geometric, jnp.sqrt(lo) * jnp.sqrt(hi), 0.5 * (lo + hi))
        fallback = jnp.where(jnp.isinf(hi), grow, bisect)
        x_new = jnp.where(newton_ok, newton, fallback)
        return i + 1, lo, hi, jnp.where(done, x, x_new), done

    zero = jnp.zeros((), dtype)
    done0 = target <= 0
    init = (jnp.asarray(0), zero, limit, jnp.where(done0, zero, guess), done0)
    _, _, _, x, _ = lax.while_loop(cond, body, init)
    return x


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def implicit_root(fn: Callable, params, target, k_star):
    """Return `k_star` (a root of fn(k, params) = target found by any means) with the
    implicit-function derivative (to any order). Where ∂F/∂k = 0 (k = 0, where dk/dβ is infinite) the
    derivative is returned as 0 rather than inf/NaN."""
    return k_star


@implicit_root.defjvp
def _implicit_root_jvp(fn, primals, tangents):
    params, target, k_star = primals
    dparams, dtarget, _ = tangents
    # Recursing (rather than stop_gradient) makes the rule itself differentiable by the same
    # rule, so second and higher derivatives are exact too.
    k = implicit_root(fn, params, target, k_star)
    dfdk = jax.grad(fn)(k, params)
    _, dfdp = jax.jvp(lambda p: fn(k, p), (params,), (dparams,))
    ok = (dfdk > 0) & jnp.isfinite(dfdk)
    dk = jnp.where(ok, (dtarget - dfdp) / jnp.where(ok, dfdk, 1.0), 0.0)
    return k, dk.astype(k_star.dtype)
