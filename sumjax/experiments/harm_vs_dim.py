"""SUM, third figure: total harm before alignment against the dimension d.

The training loop without rectification (reconstructed, docs/model.md), default reading: each
round the AI (power β_A) does β_A·(1 − E[c](D)) of harmful optimisation (KL units) and the humans
gain δ = β_A nats of alignment, until E[c] reaches c*. H = Σ_n harm(nδ) ≈ (1/δ)∫₀^{D*} harm dD
(`total_harm`, smooth integral); also the scale-free √KL reading (√β_A per round, progress over
√D, the text's Appendix-2 alternative).
Monte Carlo: per d, many runs of the loop drawing c ~ vMF(κ(D_n)) each round with
`sample_cosine`; their mean estimates the exact round sum (`total_harm(method="sum")`).
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "harm_vs_dim"
TITLE = "Total harm before alignment against d"
SOURCE = "SUM"
CAPTION = (
    "Total harm H until E[c] = c*, without rectification, β_A = 1. Solid: default reading (KL harm, progress over D); "
    "dashed: √KL harm, progress over √D. Dots with bars: Monte Carlo mean ± 2 s.e. and 5–95% band of runs (c* = mc_c_star), "
    "against the exact round sum (crosses)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    c_stars: tuple[float, ...] = (0.5, 0.9, 0.99)
    d_min: float = 2.0
    d_max: float = 1e5
    n_dims: int = 40
    beta_a: float = 1.0
    fit_from: float = 10.0
    tolerance: float = 0.02
    mc_dims: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0, 300.0)
    mc_c_star: float = 0.9
    mc_trials: int = 256
    mc_chunk: int = 8  # values of d per Monte Carlo piece (memory: mc_chunk × trials × rounds)
    chunk: int = 128


FULL = {"n_dims": 400, "d_max": 1e6, "mc_dims": (3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4), "mc_trials": 10_000,
        "mc_chunk": 1, "chunk": 1200}


def requires() -> None:
    require("sumjax.alignment", "total_harm", "kappa_from_kl", "sample_cosine", "vmf_mean_complement",
            "required_divergence")


def _analytic(p, static):
    from .. import alignment as A
    from .harm_vs_power import _integral_harm  # total_harm from the unchecked kernels (cacheable)

    return {
        "H_D": _integral_harm(p["c"], p["d"], static["beta_a"], None, A.DEFAULT_READING, False),
        "H_sqrtD": _integral_harm(p["c"], p["d"], static["beta_a"], None, A.SCALE_FREE_SQRT_KL, False),
    }


def _monte_carlo(p, static):
    """One d: `trials` runs of the loop, R rounds (masked beyond the N(d) the run needs)."""
    import jax
    import jax.numpy as jnp

    from .. import alignment as A
    from ..alignment import _vmf
    from .._numerics import quantile
    from ..alignment.sampling import _cosine_and_complement
    from .harm_vs_power import _integral_harm

    d, c, beta_a = p["d"], static["c_star"], static["beta_a"]
    rounds = jnp.arange(static["rounds"].shape[0], dtype=d.dtype)
    D_star = _vmf.required_divergence(c, d)
    N = jnp.ceil(D_star / beta_a)
    live = rounds < N
    # Rounds past N are masked out; evaluate them at D = 0 (a huge D would overflow κ for small d).
    kappa = _vmf.kappa_from_kl(jnp.where(live, rounds * beta_a, 0.0), d)
    key = jax.random.fold_in(jax.random.key(static["seed"]), p["index"])
    _, one_minus_c = _cosine_and_complement(key, kappa[None, :], d - 1.0, (static["trials"].shape[0], rounds.shape[0]),
                                            kappa.dtype)
    T = A.DEFAULT_READING.harm_scale(beta_a, beta_a, False)  # the default reading's push per round (β_A in KL units)
    totals = T * jnp.sum(jnp.where(live, one_minus_c, 0.0), axis=-1)
    q = quantile(totals, jnp.asarray([0.05, 0.95], totals.dtype))
    return {
        "mc_mean": jnp.mean(totals),
        "mc_stderr": jnp.std(totals, ddof=1) / jnp.sqrt(totals.shape[0]),
        "mc_q05": q[0],
        "mc_q95": q[1],
        "rounds_needed": N,
        # The exact round sum, evaluated on the same schedule (what the Monte Carlo mean estimates).
        "H_sum": T * jnp.sum(jnp.where(live, _vmf.mean_complement(kappa, d), 0.0)),
        "H_int": _integral_harm(c, d, beta_a, None, A.DEFAULT_READING, False),
    }


def compute(ctx) -> dict:
    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    dims = np.unique(np.round(np.geomspace(cfg.d_min, cfg.d_max, cfg.n_dims)))
    cc, dd = np.meshgrid(np.asarray(cfg.c_stars, float), dims, indexing="ij")
    static = {"beta_a": np.asarray(cfg.beta_a, fdt)}
    out = ctx.sweep("analytic", _analytic, {"c": cc.ravel().astype(fdt), "d": dd.ravel().astype(fdt)},
                    chunk=cfg.chunk, static=static)
    data = {k: v.reshape(cc.shape) for k, v in out.items()}
    data.update(c_star=cc, d=dd)

    # Rounds are a static length: bound N = ⌈D*/δ⌉ from above with D* ≤ −½·d·log(1 − c*²)
    # (D*/d rises to that limit), then mask per d inside the program.
    mc_dims = np.asarray(cfg.mc_dims, float)
    per_dim = -0.5 * math.log1p(-cfg.mc_c_star**2)
    R = int(math.ceil(per_dim * mc_dims.max() / cfg.beta_a)) + 2
    mstatic = {
        "beta_a": np.asarray(cfg.beta_a, fdt),
        "c_star": np.asarray(cfg.mc_c_star, fdt),
        "seed": np.uint32(ctx.seed),
        "rounds": np.zeros(R, np.int8),
        "trials": np.zeros(cfg.mc_trials, np.int8),
    }
    mc = ctx.sweep("monte_carlo", _monte_carlo, {"d": mc_dims.astype(fdt), "index": np.arange(len(mc_dims), dtype=np.int32)},
                   chunk=cfg.mc_chunk, static=mstatic)
    data.update({k: v for k, v in mc.items()})
    data.update(mc_d=mc_dims, mc_rounds_cap=np.asarray(R), mc_trials=np.asarray(cfg.mc_trials),
                beta_a=np.asarray(cfg.beta_a), mc_c_star=np.asarray(cfg.mc_c_star))
    return data


def table(data) -> dict:
    return {k: data[k].ravel() for k in ("c_star", "d", "H_D", "H_sqrtD")}


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 4.6))
    for i, c in enumerate(data["c_star"][:, 0]):
        color = plt.cm.plasma(i / max(1, len(data["c_star"]) - 1) * 0.85)
        d = data["d"][i]
        for a in (ax, bx):
            a.plot(d, data["H_D"][i], "-", color=color, label=f"c* = {c:g}, over D")
            a.plot(d, data["H_sqrtD"][i], "--", color=color, label=f"c* = {c:g}, over √D")
    md = data["mc_d"]
    for a in (ax, bx):
        a.fill_between(md, data["mc_q05"], data["mc_q95"], color="k", alpha=0.12, lw=0,
                       label=f"Monte Carlo 5–95% (c* = {float(data['mc_c_star']):g})")
        a.errorbar(md, data["mc_mean"], yerr=2 * data["mc_stderr"], fmt="o", color="k", ms=3, label="Monte Carlo mean ± 2 s.e.")
        a.plot(md, data["H_sum"], "x", color="tab:red", label="exact round sum")
        a.set_xlabel("dimension d")
        a.set_ylabel("total harm H (√KL units)")
    ax.set_xlim(0, float(md.max()) * 1.05)
    ax.set_ylim(0, float(np.max(data["mc_q95"])) * 1.3)
    ax.set_title("linear axes (small d)")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_title("log–log: slope 1 ⇔ H ∝ d")
    bx.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def loglog_slope(d, H, fit_from):
    m = d >= fit_from
    return float(np.polyfit(np.log(d[m]), np.log(H[m]), 1)[0])


def claims(data, cfg) -> list[Claim]:
    out = []
    worst, slopes, slopes_sqrt = 0.0, [], []
    for i in range(data["c_star"].shape[0]):
        d, H = data["d"][i], data["H_D"][i]
        m = d >= cfg.fit_from
        coef = np.polyfit(d[m], H[m], 1)
        worst = max(worst, float(np.max(np.abs(H[m] - np.polyval(coef, d[m])) / H[m])))
        slopes.append(loglog_slope(d, H, cfg.fit_from))
        slopes_sqrt.append(loglog_slope(d, data["H_sqrtD"][i], cfg.fit_from))
    out.append(Claim(
        SOURCE, "Total harm before alignment is proportional to d (H ∝ d)",
        f"largest relative residual from a line, d ∈ [{cfg.fit_from:g}, {data['d'].max():g}], c* = "
        f"{', '.join(f'{c:g}' for c in data['c_star'][:, 0])}: {100 * worst:.2f}%; log–log slopes "
        f"{', '.join(f'{s:.3f}' for s in slopes)} (over √D instead: {', '.join(f'{s:.3f}' for s in slopes_sqrt)})",
        HOLDS if worst <= cfg.tolerance else FAILS,
        "holds for the integral over D; counting progress in √D gives H ∝ √d instead (see the √D claim)"))
    z = np.abs(data["mc_mean"] - data["H_sum"]) / np.maximum(data["mc_stderr"], 1e-12)
    capped = bool(np.all(data["rounds_needed"] <= data["mc_rounds_cap"]))
    out.append(Claim(
        SOURCE, "Monte Carlo of the loop (vMF draws each round) agrees with the analytic total harm",
        f"|MC mean − exact round sum| / s.e. ≤ {z.max():.2f} at d = {', '.join(f'{x:g}' for x in data['mc_d'])} "
        f"({int(data['mc_trials'])} runs each); the round sum exceeds the smooth integral by "
        f"{', '.join(f'{x:.3g}' for x in data['H_sum'] - data['H_int'])} (Euler–Maclaurin: about half the first round's harm)",
        (HOLDS if z.max() <= 4 else FAILS) if capped else FAILS,
        "" if capped else "the static round cap was below the rounds needed"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
