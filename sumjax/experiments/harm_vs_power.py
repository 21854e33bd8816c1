"""SUM, fourth figure: total harm against β_A/β_H for several d, with rectification.

With rectification (reconstructed, docs/model.md) humans cancel part of the AI's push each round
and align at δ = min(β_A, β_H); default reading: harm(D) = ReLU(β_A − β_H)·(1 − E[c](D)) (KL units,
progress over D). The text: zero total harm for β_A ≤ β_H, fast growth past β_A = β_H, faster for
larger d. Also the √KL reading counting progress over √D (Appendix 2: "the qualitative results
are the same"), and the unrectified loop for reference.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "harm_vs_power"
TITLE = "Total harm against β_A/β_H for several d, with rectification"
SOURCE = "SUM"
CAPTION = (
    "Left: total harm until E[c] = c* with rectification (β_H = 1) against β_A/β_H: zero up to β_A = β_H, then rising, "
    "faster for larger d. Middle: H/d over D (solid) and H/√d over √D (dashed) collapse across d. Right: log scale, "
    "with the unrectified loop (dotted) for reference."
)


@dataclasses.dataclass(frozen=True)
class Config:
    dims: tuple[float, ...] = (10.0, 100.0, 1000.0)
    c_star: float = 0.9
    beta_h: float = 1.0
    ratio_max: float = 4.0
    n_ratios: int = 81
    chunk: int = 128


FULL = {"dims": (3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 1e4, 1e5, 1e6), "n_ratios": 801, "chunk": 2048}


def requires() -> None:
    require("sumjax.alignment", "total_harm")


def _integral_harm(c, d, beta_a, beta_h, reading, rectify):
    """`total_harm(c, d, β_A, β_H, reading=…, rectify=…)` (integral method, 48 nodes, cap following
    `rectify`) from the pure loop kernel: no error_if callbacks, so the compiled sweep is stored in
    the persistent cache (the runner validated the config before any computation)."""
    from ..alignment import _loop

    return _loop.integral_harm(c, d, beta_a, beta_h, reading, rectify, rectify)


def _point(p, static):
    from .. import alignment as A

    c, bh = static["c_star"], static["beta_h"]
    ba = p["ratio"] * bh
    return {
        "H_D": _integral_harm(c, p["d"], ba, bh, A.DEFAULT_READING, True),
        "H_sqrtD": _integral_harm(c, p["d"], ba, bh, A.SCALE_FREE_SQRT_KL, True),
        "H_unrectified": _integral_harm(c, p["d"], ba, bh, A.DEFAULT_READING, False),
    }


def compute(ctx) -> dict:
    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    # The grid contains β_A/β_H = 1 exactly and starts just above 0 (unrectified H → ∞ as β_A → 0).
    ratios = np.linspace(0.0, cfg.ratio_max, cfg.n_ratios)
    ratios[0] = ratios[1] / 10
    dd, rr = np.meshgrid(np.asarray(cfg.dims, float), ratios, indexing="ij")
    static = {"c_star": np.asarray(cfg.c_star, fdt), "beta_h": np.asarray(cfg.beta_h, fdt)}
    out = ctx.sweep("grid", _point, {"d": dd.ravel().astype(fdt), "ratio": rr.ravel().astype(fdt)}, chunk=cfg.chunk,
                    static=static)
    data = {k: v.reshape(dd.shape) for k, v in out.items()}
    data.update(d=dd, ratio=rr)
    return data


def table(data) -> dict:
    return {k: data[k].ravel() for k in ("d", "ratio", "H_D", "H_sqrtD", "H_unrectified")}


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for i, d in enumerate(data["d"][:, 0]):
        color = plt.cm.viridis(i / max(1, len(data["d"]) - 1) * 0.9)
        r = data["ratio"][i]
        axes[0].plot(r, data["H_D"][i], color=color, label=f"d = {d:g}")
        axes[1].plot(r, data["H_D"][i] / d, color=color, label=f"d = {d:g}, over D (÷ d)")
        axes[1].plot(r, data["H_sqrtD"][i] / np.sqrt(d), "--", color=color, label=f"d = {d:g}, over √D (÷ √d)")
        pos = data["H_D"][i] > 0
        axes[2].plot(r[pos], data["H_D"][i][pos], color=color, label=f"d = {d:g}, rectified")
        axes[2].plot(r, data["H_unrectified"][i], ":", color=color, label=f"d = {d:g}, no rectification")
    for ax in axes:
        ax.axvline(1.0, color="gray", lw=0.8)
        ax.set_xlabel("β_A / β_H")
    axes[0].set_ylabel("total harm H (default reading, KL units)")
    axes[0].set_title(f"rectified, c* = {cfg.c_star:g}")
    axes[1].set_ylabel("H / d  (solid),  H / √d  (dashed)")
    axes[1].set_title("normalised: the d-dependence is a power of d")
    axes[2].set_yscale("log")
    axes[2].set_title("log scale, with the unrectified loop")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _growth(data, key):
    """(max H for ratio ≤ 1, slope just past 1 per d, H at the largest ratio per d)."""
    r = data["ratio"][0]
    below = r <= 1.0 + 1e-12
    above = np.argmax(r > 1.0 + 1e-12)
    zero = float(np.max(np.abs(data[key][:, below])))
    slope = (data[key][:, above] - data[key][:, np.argmax(r >= 1.0 - 1e-12)]) / (r[above] - 1.0)
    return zero, slope, data[key][:, -1]


def claims(data, cfg) -> list[Claim]:
    dims = data["d"][:, 0]
    order = np.argsort(dims)
    out = []
    zero, slope, last = _growth(data, "H_D")
    out.append(Claim(SOURCE, "With rectification, total harm is zero for β_A ≤ β_H",
                     f"max H over β_A/β_H ≤ 1, d = {', '.join(f'{d:g}' for d in dims)}: {zero:.3g}",
                     HOLDS if zero == 0.0 else FAILS))
    grows = bool(np.all(slope > 0)) and bool(np.all(np.diff(slope[order]) > 0)) and bool(np.all(np.diff(last[order]) > 0))
    out.append(Claim(
        SOURCE, "Past β_A = β_H harm grows fast, and faster for larger d",
        f"slope dH/d(β_A/β_H) just past 1: {', '.join(f'{s:.3g}' for s in slope[order])}; H at β_A/β_H = "
        f"{data['ratio'][0, -1]:g}: {', '.join(f'{h:.3g}' for h in last[order])} (d = {', '.join(f'{d:g}' for d in dims[order])})",
        HOLDS if grows else FAILS,
        "the rise is continuous (H ∝ β_A/β_H − 1 near the threshold under the default reading), not a jump; its rate "
        "scales with d"))
    zero_s, slope_s, last_s = _growth(data, "H_sqrtD")
    grows_s = bool(np.all(slope_s > 0)) and bool(np.all(np.diff(slope_s[order]) > 0))
    pw = np.polyfit(np.log(dims), np.log(last), 1)[0] if len(dims) > 1 else float("nan")
    pw_s = np.polyfit(np.log(dims), np.log(last_s), 1)[0] if len(dims) > 1 else float("nan")
    same_shape = zero_s == 0.0 and grows_s
    out.append(Claim(
        SOURCE, "The qualitative picture is the same whether harm is integrated over D or over √D",
        f"over √D: max H for β_A ≤ β_H = {zero_s:.3g}, growth past the threshold faster for larger d: {grows_s}; "
        f"but H ∝ d^{pw:.2f} over D vs d^{pw_s:.2f} over √D",
        (CAVEAT if abs(pw - pw_s) > 0.1 else HOLDS) if same_shape else FAILS,
        "threshold and ordering in d agree; the power of d (the 'H ∝ d' claim) does not"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
