"""SUM, first figure: E[c] as a function of the divergence D spent on the AI's utility.

For each d, the KL-optimal way to spend divergence D on the law of a (uniform on S^{d−1})
is vMF(h, κ(D)); E[c] = A_d(κ(D)). The Monte Carlo band samples c from vMF(h, κ(D))
(`sample_cosine`) at every grid point: the shaded band is the 10–90% range of c, the dots
the sample mean (checked against the analytic curve within 4 standard errors).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "cosine_mean"
TITLE = "E[c] against the alignment divergence D, for several d"
SOURCE = "SUM"
CAPTION = (
    "Lines: E[c] = A_d(κ(D)) (closed form). Band: 10–90% of c under vMF(h, κ(D)) by Monte Carlo; dots: Monte Carlo "
    "mean. Larger d needs more divergence for the same E[c]."
)


@dataclasses.dataclass(frozen=True)
class Config:
    dims: tuple[float, ...] = (3.0, 10.0, 100.0, 1000.0, 10000.0)
    n_divergence: int = 48
    # D runs over D/d ∈ [ratio_min, ratio_max] for each d (κ ~ e^{2D/(d-1)} overflows past that).
    ratio_min: float = 1e-4
    ratio_max: float = 5.0
    n_mc: int = 2000  # Monte Carlo draws of c per grid point
    chunk: int = 120


FULL = {"dims": (2.0, 3.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6), "n_divergence": 400, "n_mc": 100_000, "chunk": 400}


def requires() -> None:
    require("sumjax.alignment", "vmf_mean", "kappa_from_kl", "sample_cosine")


def _point(p, static):
    import jax
    import jax.numpy as jnp

    from ..alignment import _vmf
    from .._numerics import quantile
    from ..alignment.sampling import _cosine_and_complement

    # Pure kernels (no error_if callbacks: the program is stored in the persistent cache).
    kappa = _vmf.kappa_from_kl(p["D"], p["d"])
    mean = _vmf.mean(kappa, p["d"])  # = vmf_mean_from_kl, without compiling a second root solve
    key = jax.random.fold_in(jax.random.key(static["seed"]), p["index"])
    c, _ = _cosine_and_complement(key, kappa, p["d"] - 1.0, static["draws"].shape, kappa.dtype)
    q = quantile(c, jnp.asarray([0.1, 0.9], c.dtype))
    return {"kappa": kappa, "mean": mean, "mc_mean": jnp.mean(c), "mc_std": jnp.std(c), "q10": q[0], "q90": q[1]}


def compute(ctx) -> dict:
    cfg = ctx.cfg
    dd, rr = np.meshgrid(np.asarray(cfg.dims, dtype=float), np.geomspace(cfg.ratio_min, cfg.ratio_max, cfg.n_divergence),
                         indexing="ij")
    DD = dd * rr
    fdt = np.dtype(ctx.dtype)
    params = {"d": dd.ravel().astype(fdt), "D": DD.ravel().astype(fdt), "index": np.arange(dd.size, dtype=np.int32)}
    static = {"seed": np.uint32(ctx.seed), "draws": np.zeros(cfg.n_mc, np.int8)}
    out = ctx.sweep("grid", _point, params, chunk=cfg.chunk, static=static)
    out = {k: v.reshape(dd.shape) for k, v in out.items()}
    out.update(d=dd, D=DD, n_mc=np.asarray(cfg.n_mc))
    return out


def table(data) -> dict:
    return {k: data[k].ravel() for k in ("d", "D", "kappa", "mean", "mc_mean", "mc_std", "q10", "q90")}


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, d in enumerate(data["d"][:, 0]):
        color = plt.cm.viridis(i / max(1, len(data["d"]) - 1))
        D = data["D"][i]
        ax.fill_between(D, data["q10"][i], data["q90"][i], color=color, alpha=0.18, lw=0)
        ax.plot(D, data["mean"][i], color=color, lw=2, label=f"d = {d:g}")
        ax.plot(D[::3], data["mc_mean"][i][::3], "o", color=color, ms=3)
    ax.set_xscale("log")
    ax.set_xlabel("divergence D spent on the AI's utility (nats)")
    ax.set_ylabel("cosine similarity c = a·h")
    ax.set_title("E[c] against D (lines), Monte Carlo mean (dots) and 10–90% band")
    ax.set_ylim(-1.02, 1.02)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    n = float(data["n_mc"])
    se = data["mc_std"] / np.sqrt(n)
    # 4 standard errors, floored at rounding (c ~ 1 has a tiny spread).
    z = np.abs(data["mc_mean"] - data["mean"]) / np.maximum(se, 1e-6)
    frac = float(np.mean(z <= 4.0))
    out = [Claim(
        SOURCE, "Monte Carlo (vMF sampler) agrees with the analytic E[c](D) (the text computed it numerically)",
        f"{100 * frac:.1f}% of {z.size} grid points within 4 standard errors (n = {int(n)} draws each); max |z| = {z.max():.2f}",
        HOLDS if frac >= 0.995 else (CAVEAT if frac >= 0.95 else FAILS))]
    # At every D, E[c] decreases with d: "the higher the dimensionality, the more we must optimise".
    # The D grids differ per d; compare on the overlap, interpolating in log D (E[c] is monotone in D).
    order = np.argsort(data["d"][:, 0])
    worst, compared = -np.inf, 0
    for lo, hi in zip(order[:-1], order[1:]):
        D_hi = data["D"][hi]
        inside = (D_hi >= data["D"][lo][0]) & (D_hi <= data["D"][lo][-1])
        e_lo = np.interp(np.log(D_hi[inside]), np.log(data["D"][lo]), data["mean"][lo])
        if inside.any():
            worst = max(worst, float(np.max(data["mean"][hi][inside] - e_lo)))
            compared += int(inside.sum())
    out.append(Claim(
        SOURCE, "The higher d, the more divergence is needed for the same E[c] (E[c] falls with d at fixed D)",
        f"max over {compared} shared D values of E[c](larger d) − E[c](smaller d) = {worst:.3g}, "
        f"d = {', '.join(f'{x:g}' for x in data['d'][order, 0])}",
        HOLDS if worst < 0 else FAILS))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
