"""Monte Carlo version of the alignment training loop (docs/model.md §2.9).

Each trial runs the rounds n = 0 … N−1 of `total_harm`'s loop (same schedule D_n, same
reconstructed options): it draws a ~ vMF(h, κ(D_n)), and records the realised harm
T·g(c) with c = a·h and g the functional's pointwise form (default 1 − c). The mean of
the realised total over trials estimates `total_harm(..., method="sum")` exactly (no
bias), with standard error σ/√trials.

Two paths: ``path="vector"`` draws full d-dimensional vectors (h a random unit vector per
trial, c = a·h computed as a dot product; O(d) memory per trial); ``path="cosine"`` draws c
from its 1-D law (O(1) per draw). Trials are processed ``batch_size`` at a time
(`jax.lax.map`), so memory is O(batch_size·d) whatever the number of trials (plus the vector
path's trials × rounds table of realised per-round harm). The cosine path draws a whole block of
trials × rounds from one key (default block ≈ 32768 draws when ``batch_size`` is None) and reduces
it in place: O(trials) memory, the per-trial totals that the quantiles need.

Any `Reading` works: the realised per-round harm is T·g(c) with the deterministic factor T of the
reading, so its mean is T·F. With ``information="mutual"`` the schedule D_n is the analytic one
(δ_n = I(a; x) at the law of round n, a deterministic function of n). Custom functionals need
their ``pointwise`` g; the default uses the sampler's accurate 1 − c.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._numerics import quantile
from .._program_cache import stored_jit
from .._validate import is_traced
from . import _loop, _vmf
from .functionals import one_minus_cosine
from .harm import DEFAULT_MAX_ROUNDS, _check_rounds, _count, _resolve, _validate_loop
from .sampling import _cosine_and_complement, _directions, _vmf_core

__all__ = ["MonteCarloHarm", "simulate_training"]


class MonteCarloHarm(eqx.Module):
    """Realised total harm over trials: ``mean`` ± ``stderr`` (σ/√trials), ``quantiles`` at
    ``quantile_levels``, ``std`` across trials; per-round means ``round_mean`` (± ``round_stderr``)
    next to the analytic per-round harm ``round_expected``; ``D`` the round schedule.

    Attributes:
        mean: mean realised total harm over trials, shape ().
        stderr: its standard error σ/√trials, shape ().
        std: standard deviation σ of the total across trials, shape ().
        quantiles: quantiles of the total, shape (q,).
        quantile_levels: their levels in [0, 1], shape (q,).
        round_mean: mean realised harm per round, shape (n,).
        round_stderr: its standard error, shape (n,).
        round_expected: the analytic per-round harm T·F(κ(D_n)), shape (n,).
        D: the round schedule D_n, shape (n,).
        num_trials: number of trials (static int).
    """

    mean: Float[Array, ""]
    stderr: Float[Array, ""]
    std: Float[Array, ""]
    quantiles: Float[Array, " q"]
    quantile_levels: Float[Array, " q"]
    round_mean: Float[Array, " n"]
    round_stderr: Float[Array, " n"]
    round_expected: Float[Array, " n"]
    D: Float[Array, " n"]
    num_trials: int = eqx.field(static=True)


def simulate_training(
    key: PRNGKeyArray,
    c_star,
    d,
    beta_a,
    beta_h=None,
    *,
    num_trials: int,
    path: str = "cosine",
    batch_size: int | None = None,
    reading=None,
    rectify: bool = True,
    cap_delta: bool | None = None,
    measure: str | None = None,
    progress: str | None = None,
    integrate_over: str | None = None,
    threshold: str | None = None,
    functional=None,
    information: str | None = None,
    quantile_levels=(0.05, 0.5, 0.95),
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> MonteCarloHarm:
    """Simulate ``num_trials`` independent runs of the training loop under ``reading``.

    Scalars c* ∈ (0, 1), d ≥ 2 (a Python int for ``path="vector"``), β_A, β_H ≥ 0, concrete (they fix
    the number of rounds N, a static length; N > ``max_rounds`` is refused before any draw). Exact in
    law for every d, κ. Cost O(trials·N) draws, times d for the vector path.

    Args:
        key: a JAX PRNG key.
        c_star: target alignment c* ∈ (0, 1), a concrete scalar.
        d: dimension, a concrete scalar ≥ 2 (a Python int for ``path="vector"``).
        beta_a: the AI's push power β_A ≥ 0, a concrete scalar.
        beta_h: the humans' power β_H ≥ 0, a concrete scalar; required when rectifying or capping.
        num_trials: number of independent trials, an int ≥ 2.
        path: ``"cosine"`` (default; 1-D draws of c) or ``"vector"`` (full d-vectors).
        batch_size: trials per batch, an int ≥ 1 (vector path: per `jax.lax.map` step; cosine path: per
            block of trials × rounds drawn from one key); None (default): all trials at once on the vector
            path, blocks of about 32768 draws on the cosine path.
        reading: a `Reading`, or its name in `READINGS`; None (default) is `DEFAULT_READING`
            (``"scale_free_kl"``).
        rectify: apply the reading's threshold to the powers (default True).
        cap_delta: cap δ at β_H; None (default) follows `rectify`.
        measure: override of the reading's ``measure`` (``"kl"`` / ``"sqrt_kl"``); None keeps it.
        progress: override of the reading's ``progress`` (``"D"`` / ``"sqrt_D"``); None keeps it.
        integrate_over: alias of `progress`.
        threshold: override of the reading's ``threshold`` (``"relu"``, ``"relu_sqrt"``,
            ``"sqrt_relu"``); None keeps it.
        functional: override of the reading's harm functional (a `HarmFunctional` or
            ``"one_minus_cosine"`` / ``"negative_part"``); None keeps it.
        information: override of the reading's ``information`` (``"beta"`` / ``"mutual"``); None keeps it.
        quantile_levels: levels in [0, 1] of the reported quantiles (default 5 %, 50 %, 95 %).
        max_rounds: the most rounds N allowed, an int ≥ 1 (default 1e6).

    Returns:
        A `MonteCarloHarm` (dtype float64 when `jax_enable_x64` is on (else float32) fields; q =
        len(quantile_levels), n = the number of rounds N,
        at least 1).

    Raises:
        ValueError: naming the argument, for a bad or non-concrete argument, or N > `max_rounds`.

    References:
        Wood, A. T. A. (1994) "Simulation of the von Mises Fisher distribution", Communications in
        Statistics – Simulation and Computation 23(1):157–164 (the vMF sampler used per round).
    """
    if path not in ("cosine", "vector"):
        raise ValueError(f"argument `path` must be 'cosine' or 'vector'; got {path!r}")
    if isinstance(num_trials, bool) or not isinstance(num_trials, (int, np.integer)) or num_trials < 2:
        raise ValueError(f"argument `num_trials` must be an int >= 2; got {num_trials!r}")
    num_trials = int(num_trials)
    if path == "vector" and (not isinstance(d, (int, np.integer)) or d < 2):
        raise ValueError(f"argument `d` must be an integer >= 2 for path='vector' (the vector length); got {d!r}")
    if batch_size is not None:
        batch_size = _count(batch_size, "batch_size", 1)
    max_rounds = _count(max_rounds, "max_rounds", 1)
    r, cap = _resolve(reading, cap_delta, rectify, measure=measure, progress=progress, integrate_over=integrate_over,
                      threshold=threshold, functional=functional, information=information)
    for name, x in (("c_star", c_star), ("d", d), ("beta_a", beta_a), ("beta_h", beta_h)):
        if x is not None and (isinstance(x, jax.core.Tracer) or np.ndim(x) != 0):
            raise ValueError(f"argument `{name}` must be a concrete scalar (it fixes the number of rounds)")
    c_star, dd, beta_a, beta_h = _validate_loop(c_star, float(d), beta_a, beta_h, rectify, cap)
    T, step = _loop.scale_and_step(beta_a, beta_h, r, rectify, cap)
    dtype = c_star.dtype
    # The same rounds as the analytic sum (`total_harm(method="sum")`); none when harm per round is 0.
    if float(T) == 0.0:
        n_rounds, Dstar = 0, _vmf.required_divergence(c_star, dd)
    elif r.information == "beta":
        N, Dstar = _loop.num_rounds(c_star, dd, step, r)
        n_rounds = int(_check_rounds(N, max_rounds))
    else:
        N, Dstar = _loop.num_rounds(c_star, dd, beta_a, r)
        _check_rounds(N, max_rounds)  # I ≤ β_A: a lower bound
        _, rounds, finished = _loop.mutual_round_sum(c_star, dd, beta_a, beta_h, T, r, cap, max_rounds)
        if not bool(finished):
            raise ValueError(f"the loop needs more than `max_rounds`={max_rounds} rounds; raise `max_rounds`")
        n_rounds = int(rounds)
    n_rounds = max(n_rounds, 1)  # keep shapes non-empty; a zero-harm round adds nothing
    # concrete levels are cast in NumPy (no eager cast program to trace in a new process)
    levels = (jnp.asarray(quantile_levels, dtype) if is_traced(quantile_levels)
              else jax.device_put(np.asarray(quantile_levels, dtype)))
    statics = (r.harm_functional, n_rounds, path, int(d) if path == "vector" else None, num_trials, batch_size)
    # The sampler's stored program (if any) loads on a second thread while the schedule's loads and runs here:
    # κ_n and F_n stand in as zeros of their shape (only shapes, dtypes and shardings pick the program).
    like = jax.device_put(np.zeros(n_rounds, dtype))
    _run.prefetch(key, dd, like, like, T, levels, *statics)
    D, _, _, _, kappa, F = _loop.series(c_star, dd, beta_a, beta_h, T, Dstar, r, cap, n_rounds)
    out = _run(key, dd, kappa, F, T, levels, *statics)
    return MonteCarloHarm(**out, quantile_levels=levels, D=D, num_trials=num_trials)


@functools.partial(stored_jit, static_argnums=tuple(range(6, 12)))
def _run(key, dd, kappa, F, s, levels, fn, n_rounds, path, d, num_trials, batch_size):
    # κ_n comes from `_loop.series` (as does the expected harm): compiling the Bessel functions here
    # again would double this program's code, which a warm first call has to load.
    dtype = kappa.dtype
    m = dd - 1.0

    if path == "cosine":
        totals, round_mean, round_m2 = _cosine_moments(key, kappa, m, s, fn, n_rounds, num_trials, batch_size, dtype)
    else:
        def trial(k):
            kh, kr = jax.random.split(k)
            h = _directions(kh, d, (), dtype)

            def one_round(_, xs):
                kk, ka = xs
                a = _vmf_core(kk, h, ka, (), dtype)
                return None, jnp.dot(a, h)

            _, c = jax.lax.scan(one_round, None, (jax.random.split(kr, n_rounds), kappa))
            return s * (1.0 - c if fn is one_minus_cosine else fn.pointwise(c))

        keys = jax.random.split(key, num_trials)
        harms = jax.lax.map(trial, keys, batch_size=batch_size)  # (trials, rounds)
        totals, round_mean = jnp.sum(harms, axis=-1), jnp.mean(harms, axis=0)
        round_m2 = jnp.sum(jnp.square(harms - round_mean), axis=0)
    sd = jnp.std(totals, ddof=1)
    # Plain arrays out (the caller builds the `MonteCarloHarm`): a stored program's output tree must
    # survive pickling, which an equinox Module's tree does not.
    return dict(
        mean=jnp.mean(totals),
        stderr=sd / math.sqrt(num_trials),
        std=sd,
        quantiles=quantile(totals, levels),  # integer-key sort: ~5× faster than jnp.quantile on XLA:CPU
        round_mean=round_mean,
        round_stderr=jnp.sqrt(round_m2 / (num_trials - 1)) / math.sqrt(num_trials),
        round_expected=s * F,
    )


# Cosine path: elements (trial × round) per block when `batch_size` is not given — large enough to amortise
# the loop, small enough that the block's temporaries stay in cache.
_COSINE_BLOCK = 1 << 15


def _cosine_block(k, kappa, m, s, fn, rows, n_rounds, dtype):
    """Realised harm (rows, rounds) of one block of the cosine path: c for the whole block from one key."""
    c, cc = _cosine_and_complement(k, kappa, jnp.broadcast_to(m, kappa.shape), (rows, n_rounds), dtype)
    return s * (cc if fn is one_minus_cosine else fn.pointwise(c))


def _cosine_moments(key, kappa, m, s, fn, n_rounds, num_trials, batch_size, dtype):
    """Per-trial totals (trials,) and per-round mean and sum of squared deviations (rounds,) of the cosine
    path's realised harm, `batch_size` trials per block (one key per block, `_cosine_block`).

    Each block's harms are reduced while they are in cache, so memory is O(trials), not O(trials × rounds),
    and the (trials × rounds) table is never written. The blocks' moments combine exactly (Chan, Golub and
    LeVeque): M2 = Σ_b M2_b + Σ_b n_b (mean_b − mean)², each M2_b from its block's own mean (two passes)."""
    rows = min(batch_size or max(1, _COSINE_BLOCK // n_rounds), num_trials)
    nb, rem = divmod(num_trials, rows)
    keys = jax.random.split(key, nb + (rem > 0))

    def block(k, r):
        h = _cosine_block(k, kappa, m, s, fn, r, n_rounds, dtype)
        mean = jnp.mean(h, axis=0)
        return jnp.sum(h, axis=-1), mean, jnp.sum(jnp.square(h - mean), axis=0)

    totals, means, m2 = jax.lax.map(lambda k: block(k, rows), keys[:nb])
    totals, counts = totals.reshape(nb * rows), [rows] * nb
    if rem:
        t, mu, q = block(keys[nb], rem)
        totals = jnp.concatenate([totals, t])
        means, m2 = jnp.concatenate([means, mu[None]]), jnp.concatenate([m2, q[None]])
        counts.append(rem)
    n_b = jnp.asarray(counts, dtype)[:, None]
    mean = jnp.sum(n_b * means, axis=0) / num_trials
    return totals, mean, jnp.sum(m2, axis=0) + jnp.sum(n_b * jnp.square(means - mean), axis=0)
