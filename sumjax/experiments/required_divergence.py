"""SUM, second figure: the divergence D* needed to reach E[c] = c*, against d.

D*(c*, d) = D(κ) with A_d(κ) = c* (`required_divergence`). The text: "this relationship is
linear for any c* threshold". Measured: a least-squares line through D*(d) for d ≥
`fit_from`, its largest relative residual, and D*/d against d (flat if exactly linear
through the origin; its limit for large d is −½·log(1 − c*²), the per-dimension cost).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "required_divergence"
TITLE = "Required divergence D* against d, for several targets c*"
SOURCE = "SUM"
CAPTION = (
    "Left: D*(c*, d) on linear axes with least-squares lines (d ≥ fit_from). Right: D*/d against d; dotted: the large-d "
    "limit −½ log(1 − c*²). A straight line through the origin on the left is a flat curve on the right."
)


@dataclasses.dataclass(frozen=True)
class Config:
    c_stars: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    d_min: float = 2.0
    d_max: float = 1e5
    n_dims: int = 60
    fit_from: float = 10.0  # the linear fit (and the verdict) uses d ≥ this
    tolerance: float = 0.02  # largest relative residual still called linear
    chunk: int = 150


FULL = {"c_stars": (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99), "d_max": 1e6, "n_dims": 2000,
        "chunk": 4000}


def requires() -> None:
    require("sumjax.alignment", "required_divergence", "kappa_from_mean")


def _point(p):
    from ..alignment import _vmf

    # The pure kernel (no error_if callback, so the program is stored in the persistent cache);
    # the runner has validated the config before any computation.
    return {"D_star": _vmf.required_divergence(p["c"], p["d"])}


def compute(ctx) -> dict:
    cfg = ctx.cfg
    dims = np.unique(np.round(np.geomspace(cfg.d_min, cfg.d_max, cfg.n_dims)))
    cc, dd = np.meshgrid(np.asarray(cfg.c_stars, dtype=float), dims, indexing="ij")
    fdt = np.dtype(ctx.dtype)
    out = ctx.sweep("grid", _point, {"c": cc.ravel().astype(fdt), "d": dd.ravel().astype(fdt)}, chunk=cfg.chunk)
    return {"c_star": cc, "d": dd, "D_star": out["D_star"].reshape(cc.shape)}


def table(data) -> dict:
    return {k: data[k].ravel() for k in ("c_star", "d", "D_star")}


def linear_fit(d, D, fit_from):
    """Least-squares slope and intercept of D against d over d ≥ fit_from, and relative residuals."""
    m = d >= fit_from
    slope, intercept = np.polyfit(d[m], D[m], 1)
    rel = np.abs(D - (slope * d + intercept)) / np.abs(D)
    return slope, intercept, rel


def plot(data, cfg):
    import matplotlib.pyplot as plt

    from matplotlib.lines import Line2D

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    markers = "osD^vP*X<>ph"
    for i, c in enumerate(data["c_star"][:, 0]):
        # plasma up to 0.8: its last colours are pale yellow, unreadable on white; lightness still orders c*.
        color = plt.cm.plasma(0.8 * i / max(1, len(data["c_star"]) - 1))
        marker = markers[i % len(markers)]
        d, D = data["d"][i], data["D_star"][i]
        slope, intercept, _ = linear_fit(d, D, cfg.fit_from)
        ax.plot(d, D, marker, ms=3, color=color, label=f"c* = {c:g}")
        ax.plot(d, slope * d + intercept, "-", color=color, lw=1)
        bx.plot(d, D / d, "-", marker=marker, ms=3, markevery=max(1, len(d) // 12), color=color, label=f"c* = {c:g}")
        bx.axhline(-0.5 * np.log1p(-c * c), color=color, ls=":", lw=1)
    ax.set_xlabel("dimension d")
    ax.set_ylabel("required divergence D* (nats)")
    ax.set_title("D* against d (dots) and least-squares lines")
    ax.legend(fontsize=8)
    bx.set_xscale("log")
    bx.set_xlabel("dimension d")
    bx.set_ylabel("D*/d (nats per dimension)")
    bx.set_title("D*/d: flat = linear in d")
    handles, _ = bx.get_legend_handles_labels()
    handles.append(Line2D([], [], color="k", ls=":", lw=1, label="large-d limit −½·log(1 − c*²)"))
    bx.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    worst_fit, worst_all, slopes, limit_gap = 0.0, 0.0, [], 0.0
    for i, c in enumerate(data["c_star"][:, 0]):
        d, D = data["d"][i], data["D_star"][i]
        slope, _, rel = linear_fit(d, D, cfg.fit_from)
        worst_fit = max(worst_fit, float(rel[d >= cfg.fit_from].max()))
        worst_all = max(worst_all, float(rel.max()))
        slopes.append(slope)
        limit = -0.5 * np.log1p(-c * c)
        limit_gap = max(limit_gap, abs(D[-1] / d[-1] - limit) / limit)
    if worst_fit <= cfg.tolerance:
        verdict = HOLDS if worst_all <= cfg.tolerance else CAVEAT
    else:
        verdict = FAILS
    note = "" if worst_all <= cfg.tolerance else (
        f"below d = {cfg.fit_from:g} the points leave the line by up to {100 * worst_all:.1f}% (small-d curvature)")
    return [Claim(
        SOURCE, "D*(c*, d) is linear in d for every c*",
        f"largest relative residual from a least-squares line, d ∈ [{cfg.fit_from:g}, {data['d'].max():g}], over c* = "
        f"{', '.join(f'{c:g}' for c in data['c_star'][:, 0])}: {100 * worst_fit:.2f}%; slopes "
        f"{', '.join(f'{s:.3g}' for s in slopes)}; D*/d at the largest d within {100 * limit_gap:.2f}% of −½log(1−c*²)",
        verdict, note)]


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
