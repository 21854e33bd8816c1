"""The one 1-D root solver of the package and its one implicit-differentiation rule.

`newton_bisection` finds, element-wise, the x in a bracket [lo, hi] where an increasing
function F(x; θ) crosses 0: Newton steps that stay strictly inside the current bracket, else
bisection (geometric when the bracket spans decades, growth ×4 while hi = +inf). It stops per
element at a tolerance and after at most `max_iter` steps, and reports `converged`, so a
caller can flag or refuse a root it did not find. It runs in a `lax.while_loop` (jit/vmap-able)
and is not differentiated.

`implicit_root` attaches to a root x*(θ) of G(x, θ) = 0 (found by any means) the derivative
of the implicit-function theorem, ẋ = −∂_θG·θ̇ / ∂_xG, for every parameter in θ (targets,
dimensions, utilities, worlds). The rule calls itself, so derivatives of every order are exact.
The tilt (`sumjax.tilt`) and the vMF inverses (`sumjax.alignment._vmf`) both use these two.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float

__all__: list[str] = []


class Root(NamedTuple):
    """value: the root (element-wise); converged: True where the tolerance was met within the cap."""

    value: Float[Array, "..."]
    converged: Bool[Array, "..."]


def _value_and_slope(fn, x, params):
    # F is element-wise in x, so one JVP with a tangent of ones gives every ∂F/∂x_i.
    return jax.jvp(lambda y: fn(y, params), (x,), (jnp.ones_like(x),))


def newton_bisection(
    fn: Callable,
    params,
    lo,
    hi,
    guess,
    *,
    rtol: float,
    atol: float = 0.0,
    ftol=0.0,
    max_iter: int = 200,
    geometric: bool = True,
) -> Root:
    """Root of F(x, params) = 0 for F increasing in x, element-wise, in [lo, hi] (hi may be +inf).

    F(lo) ≤ 0 ≤ F(hi) is the caller's promise; a NaN value of F (e.g. beyond an admissibility
    limit) counts as positive. Stops where |F| ≤ ftol, where a step moves x by at most
    atol + rtol·|x|, or where the bracket is that narrow. `geometric` bisects at √(lo·hi) when
    0 < 16·lo < hi (for positive x spanning decades). Not differentiable: wrap with `implicit_root`.
    """
    x = jnp.asarray(guess)
    dtype = x.dtype
    lo = jnp.broadcast_to(jnp.asarray(lo, dtype), x.shape)
    hi = jnp.broadcast_to(jnp.asarray(hi, dtype), x.shape)
    ftol = jnp.asarray(ftol, dtype)
    tiny = jnp.finfo(dtype).tiny

    def cond(state):
        i, _, _, _, done = state
        return (i < max_iter) & ~jnp.all(done)

    def body(state):
        i, x, lo, hi, done = state
        f, df = _value_and_slope(fn, x, params)
        below = f <= 0  # NaN counts as above
        lo_n = jnp.where(below, x, lo)
        hi_n = jnp.where(below, hi, x)
        newton = x - f / jnp.where(df > 0, df, 1.0)
        newton_ok = (df > 0) & jnp.isfinite(newton) & (newton > lo_n) & (newton < hi_n)
        if geometric:
            spans = (lo_n > 0) & (hi_n > 16 * lo_n)
            bisect = jnp.where(spans, jnp.sqrt(lo_n) * jnp.sqrt(hi_n), 0.5 * (lo_n + hi_n))
        else:
            bisect = lo_n + 0.5 * (hi_n - lo_n)
        grow = 4.0 * jnp.maximum(lo_n, tiny)
        x_new = jnp.where(newton_ok, newton, jnp.where(jnp.isinf(hi_n), grow, bisect))
        tol = atol + rtol * jnp.abs(x)
        # A Newton step below the tolerance ends the search (it may round to x itself, which
        # the strict bracket test above would otherwise turn into a bisection step).
        tiny_step = (df > 0) & (jnp.abs(f) <= tol * df)
        hit = (jnp.abs(f) <= ftol) | (f == 0)
        small_step = jnp.abs(x_new - x) <= tol
        narrow = jnp.isfinite(hi_n) & (hi_n - lo_n <= atol + rtol * jnp.abs(hi_n))
        x_next = jnp.where(hit, x, jnp.where(tiny_step, newton, x_new))
        keep = done  # frozen elements keep their state
        return (
            i + 1,
            jnp.where(keep, x, x_next),
            jnp.where(keep, lo, lo_n),
            jnp.where(keep, hi, hi_n),
            done | hit | tiny_step | small_step | narrow,
        )

    done0 = jnp.zeros(x.shape, bool)
    _, x, _, _, done = lax.while_loop(cond, body, (jnp.asarray(0), x, lo, hi, done0))
    return Root(x, done)


@partial(jax.custom_jvp, nondiff_argnums=(0, 4))
def implicit_root(fn: Callable, params, target, x_star, singular: Literal["zero", "huge"] = "zero"):
    """`x_star` (a root of fn(x, params) = target, found by any means; fn element-wise and
    increasing in x) with the implicit-function derivative ẋ = (ṫarget − ∂_θfn·θ̇) / ∂_xfn,
    exact to every order, in the target and in every parameter.

    Where ∂_xfn = 0 (k = 0 of a tilt, κ = 0 of the vMF KL: the true derivative in the target
    is infinite) the parameter term is dropped and the inverse slope is 0 (`singular="zero"`)
    or the largest finite float (`"huge"`: a zero target tangent still gives 0, not NaN).
    """
    return x_star


@implicit_root.defjvp
def _implicit_root_jvp(fn, singular, primals, tangents):
    params, target, x_star = primals
    dparams, dtarget, _ = tangents
    # Recursing (rather than stop_gradient) makes the rule differentiable by itself, so second
    # and higher derivatives are exact too.
    x = implicit_root(fn, params, target, x_star, singular)
    _, dfdx = _value_and_slope(fn, x, params)
    _, dfdp = jax.jvp(lambda p: fn(x, p), (params,), (dparams,))
    ok = (dfdx > 0) & jnp.isfinite(dfdx)
    big = 0.0 if singular == "zero" else jnp.finfo(x.dtype).max
    inv = jnp.where(ok, 1.0 / jnp.where(ok, dfdx, 1.0), big)
    dfdp = jnp.where(ok, dfdp, 0.0)
    return x, (inv * (dtarget - dfdp)).astype(x.dtype)
