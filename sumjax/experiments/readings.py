"""SUM, every reading side by side: which of the text's claims about total harm hold under which
reading of its lost formulas (docs/model.md, "Readings").

A reading fixes (harm measure, progress measure, threshold shape, functional, information); here
2 × 2 × 3 × 2 readings with δ = β_A. Per reading: the largest relative change of H over
β_H ∈ [¼, 4] at fixed β_A/β_H (0 ⇔ scale-free), the fitted exponent of d over d ∈ [1e2, 1e5], the
largest H below the threshold, the onset exponent p of H ∝ (β_A/β_H − 1)^p near 1, and the slope
past the threshold against d. The text's claims S4–S7 are then judged per reading, and across
readings (holds under all / some including the default / not under the default).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "readings"
TITLE = "Every reading of the reconstructed loop: which of the text's claims hold under which"
SOURCE = "SUM"
CAPTION = (
    "Total harm until E[c] = c* against β_A/β_H (β_H = 1, rectified), one panel per reading "
    "(measure / progress / threshold; functional 1 − E[c] solid, E[max(0, −c)] dashed), d as parameter. "
    "Readings whose measure matches their progress (KL with D, √KL with √D) are scale-free."
)

CLAIM_KEYS = ("S4", "S5", "S6", "S7")
CLAIM_TEXT = {
    "S4": "Total harm is directly proportional to d",
    "S5": "With rectification, zero total harm for β_A ≤ β_H",
    "S6": "Harm grows very rapidly past β_A = β_H (onset no slower than linear in β_A/β_H − 1)",
    "S7": "The larger d, the faster harm grows past β_A = β_H",
}


@dataclasses.dataclass(frozen=True)
class Config:
    c_star: float = 0.9
    ratio: float = 2.0  # fixed β_A/β_H for the scale and d columns
    n_beta_h: int = 9  # β_H ∈ [¼, 4], geometric
    fit_dims: tuple[float, ...] = (1e2, 1e3, 1e4, 1e5)
    plot_dims: tuple[float, ...] = (10.0, 100.0, 1000.0)
    ratio_max: float = 4.0
    n_ratios: int = 41
    onset_eps: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    exponent_tol: float = 0.05


FULL = {"n_beta_h": 33, "fit_dims": (1e2, 3e2, 1e3, 3e3, 1e4, 3e4, 1e5), "plot_dims": (3.0, 10.0, 100.0, 1e3, 1e4),
        "n_ratios": 401}


def requires() -> None:
    require("sumjax.alignment", "total_harm", "all_readings", "DEFAULT_READING")


def _readings():
    from ..alignment import all_readings

    return all_readings()


def compute(ctx) -> dict:
    from .. import alignment as A

    cfg = ctx.cfg
    f = lambda x: ctx.asarray(np.asarray(x, float))
    readings = _readings()
    beta_h = np.geomspace(0.25, 4.0, cfg.n_beta_h)
    ratios = np.linspace(0.0, cfg.ratio_max, cfg.n_ratios)
    eps = np.asarray(cfg.onset_eps, float)
    fit_d = np.asarray(cfg.fit_dims, float)
    plot_d = np.asarray(cfg.plot_dims, float)
    # All points of one reading in one flat call: one compiled shape for every reading.
    parts = {
        "H_scale": np.broadcast_arrays(100.0, cfg.ratio * beta_h, beta_h),
        "H_fit": np.broadcast_arrays(fit_d, cfg.ratio, 1.0),
        "H_curve": np.broadcast_arrays(plot_d[:, None], ratios[None, :], 1.0),
        "H_onset": np.broadcast_arrays(plot_d[:, None], 1.0 + eps[None, :], 1.0),
    }
    flat = [np.concatenate([p[i].ravel() for p in parts.values()]) for i in range(3)]
    splits = np.cumsum([p[0].size for p in parts.values()])[:-1]
    out = {k: [] for k in parts}
    for r in readings:
        H = np.asarray(A.total_harm(f(cfg.c_star), f(flat[0]), f(flat[1]), f(flat[2]), reading=r))
        for (k, p), h in zip(parts.items(), np.split(H, splits)):
            out[k].append(h.reshape(p[0].shape))
    data = {k: np.stack(v) for k, v in out.items()}
    default = A.DEFAULT_READING
    data.update(
        beta_h=beta_h, ratios=ratios, onset_eps=eps, fit_dims=fit_d, plot_dims=plot_d,
        measure=np.array([r.measure for r in readings]), progress=np.array([r.progress for r in readings]),
        threshold=np.array([r.threshold for r in readings]), functional=np.array([r.functional_name for r in readings]),
        scale_free_predicted=np.array([r.scale_free for r in readings]),
        is_default=np.array([(r.measure, r.progress, r.threshold, r.functional_name) ==
                             (default.measure, default.progress, default.threshold, default.functional_name)
                             for r in readings]),
    )
    return data


# --------------------------------------------------------------------------- pure verdict functions


def scale_change(H_scale):
    """Largest relative change of H over β_H at fixed ratio, per reading (0 for a scale-free one)."""
    H = np.asarray(H_scale, float)
    ref = np.abs(H[..., 0])
    return np.max(np.abs(H - H[..., :1]), axis=-1) / np.where(ref > 0, ref, 1.0)


def scale_tolerance(H_scale) -> float:
    """Relative change that counts as 'constant': 1000 ulps of the data's dtype."""
    return float(1e3 * np.finfo(np.asarray(H_scale).dtype).eps)


def fit_exponent(x, H):
    """Least-squares slope of log H against log x (last axis); NaN where some H ≤ 0."""
    H = np.asarray(H, float)
    lx = np.log(np.asarray(x, float))
    ok = np.all(H > 0, axis=-1)
    lh = np.log(np.where(H > 0, H, 1.0))
    lxc = lx - lx.mean()
    slope = np.sum(lxc * (lh - lh.mean(axis=-1, keepdims=True)), axis=-1) / np.sum(lxc * lxc)
    return np.where(ok, slope, np.nan)


def below_threshold_max(ratios, H_curve):
    """Largest H at β_A/β_H ≤ 1 per reading (over all plotted d)."""
    below = np.asarray(ratios) <= 1.0 + 1e-12
    return np.max(np.abs(np.asarray(H_curve)[..., below]), axis=(-2, -1))


def slopes_past_threshold(ratios, H_curve):
    """dH/d(β_A/β_H) between the threshold and the next grid point, per reading and d."""
    r = np.asarray(ratios)
    i1 = int(np.argmin(np.abs(r - 1.0)))
    i2 = i1 + 1
    H = np.asarray(H_curve)
    return (H[..., i2] - H[..., i1]) / (r[i2] - r[i1])


def claim_holds(s_exponent, max_below, onset_exponent, slopes, tol=0.05):
    """Per reading: booleans for S4 (d exponent within tol of 1), S5 (exactly 0 below the threshold),
    S6 (onset exponent ≤ 1 + tol at every d: dH/dr > 0 at the threshold), S7 (the slope past the
    threshold increases with d)."""
    s_exponent = np.asarray(s_exponent, float)
    onset = np.asarray(onset_exponent, float)
    slopes = np.asarray(slopes, float)
    S4 = np.abs(s_exponent - 1.0) <= tol
    S5 = np.asarray(max_below) == 0.0
    S6 = np.all(np.isfinite(onset) & (onset <= 1.0 + tol), axis=-1)
    S7 = np.all(np.diff(slopes, axis=-1) > 0, axis=-1) & np.all(slopes > 0, axis=-1)
    return {"S4": S4, "S5": S5, "S6": S6, "S7": S7}


def across_readings(holds, is_default):
    """Verdict over readings: holds under every reading → HOLDS; under the default (and not all) →
    CAVEAT; not under the default → FAILS."""
    holds = np.asarray(holds, bool)
    if holds.all():
        return HOLDS
    if np.any(holds & np.asarray(is_default, bool)):
        return CAVEAT
    return FAILS


def summary(data, cfg) -> dict:
    """Every column of the readings table, from the raw H arrays."""
    change = scale_change(data["H_scale"])
    expo = fit_exponent(data["fit_dims"], data["H_fit"])
    below = below_threshold_max(data["ratios"], data["H_curve"])
    onset = fit_exponent(data["onset_eps"], data["H_onset"])  # (reading, d)
    slopes = slopes_past_threshold(data["ratios"], data["H_curve"])
    holds = claim_holds(expo, below, onset, slopes, cfg.exponent_tol)
    return dict(scale_change=change, d_exponent=expo, max_below=below, onset_exponent=onset, slopes=slopes, **holds)


def _name(data, i):
    return f"{data['measure'][i]}/{data['progress'][i]}/{data['threshold'][i]}/{data['functional'][i]}"


def table(data) -> dict:
    cfg = Config(exponent_tol=0.05)
    s = summary(data, cfg)
    cols = {
        "reading": np.array([_name(data, i) for i in range(len(data["measure"]))]),
        "default": data["is_default"].astype(int),
        "scale_change": s["scale_change"],
        "d_exponent": s["d_exponent"],
        "max_H_below": s["max_below"],
        "onset_exponent": np.nanmax(s["onset_exponent"], axis=-1),
    }
    cols.update({k: s[k].astype(int) for k in CLAIM_KEYS})
    return cols


def format_table(data, cfg=None) -> str:
    """The readings table as text (one line per reading)."""
    cfg = cfg or Config()
    s = summary(data, cfg)
    lines = [f"{'reading (measure/progress/threshold/functional)':52s} {'scale Δ':>9s} {'d^p':>6s} {'H<thr':>6s} "
             f"{'onset':>6s}  S4 S5 S6 S7"]
    for i in range(len(data["measure"])):
        mark = "*" if data["is_default"][i] else " "
        yn = "  ".join("y" if s[k][i] else "n" for k in CLAIM_KEYS)
        lines.append(f"{mark}{_name(data, i):51s} {s['scale_change'][i]:9.1e} {s['d_exponent'][i]:6.3f} "
                     f"{s['max_below'][i]:6.1e} {np.nanmax(s['onset_exponent'][i]):6.3f}  {yn}")
    return "\n".join(lines)


def plot(data, cfg):
    import matplotlib.pyplot as plt

    combos = [(m, p, t) for m in ("sqrt_kl", "kl") for p in ("D", "sqrt_D") for t in ("relu_sqrt", "sqrt_relu", "relu")]
    fig, axes = plt.subplots(3, 4, figsize=(17, 11), sharex=True)
    r = data["ratios"]
    dims = data["plot_dims"]
    for ax, (m, p, t) in zip(axes.T.ravel(), combos):
        for i in range(len(data["measure"])):
            if (data["measure"][i], data["progress"][i], data["threshold"][i]) != (m, p, t):
                continue
            style = "-" if data["functional"][i] == "one_minus_cosine" else "--"
            for j, d in enumerate(dims):
                color = plt.cm.viridis(j / max(1, len(dims) - 1) * 0.9)
                ax.plot(r, data["H_curve"][i, j], style, color=color,
                        label=f"d = {d:g}" if style == "-" else None)
        sf = "scale-free" if (m, p) in (("kl", "D"), ("sqrt_kl", "sqrt_D")) else "not scale-free"
        ax.set_title(f"{m} / {p} / {t}  ({sf})", fontsize=9)
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.axvline(1.0, color="gray", lw=0.8)
    for ax in axes[-1]:
        ax.set_xlabel("β_A / β_H")
    for ax in axes[:, 0]:
        ax.set_ylabel("total harm H")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"c* = {cfg.c_star:g}, β_H = 1; solid: 1 − E[c], dashed: E[max(0, −c)]", fontsize=10)
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    s = summary(data, cfg)
    n = len(data["measure"])
    names = [_name(data, i) for i in range(n)]
    dflt = data["is_default"]
    i0 = int(np.argmax(dflt))
    out = []
    tol = scale_tolerance(data["H_scale"])
    sf = s["scale_change"] < tol
    out.append(Claim(
        SOURCE, "H depends on the powers only through β_A/β_H (the text plots H against the ratio)",
        f"scale-free (max relative change of H over β_H ∈ [¼, 4] < {tol:.0e}) under {int(sf.sum())} of {n} readings; "
        f"default {names[i0]}: {s['scale_change'][i0]:.1e}; first reconstruction sqrt_kl/D/relu_sqrt: "
        f"{s['scale_change'][names.index('sqrt_kl/D/relu_sqrt/one_minus_cosine')]:.2f}",
        across_readings(sf, dflt),
        "scale-free exactly when the harm measure matches the progress measure (KL with D, √KL with √D)"))
    for k in CLAIM_KEYS:
        h = s[k]
        fails = [names[i] for i in range(n) if not h[i]]
        detail = {
            "S4": f"fitted exponent of d over [{data['fit_dims'][0]:g}, {data['fit_dims'][-1]:g}]: default "
                  f"{s['d_exponent'][i0]:.3f}; range {np.nanmin(s['d_exponent']):.3f} to {np.nanmax(s['d_exponent']):.3f}",
            "S5": f"max H below the threshold: default {s['max_below'][i0]:.3g}, over all {np.max(s['max_below']):.3g}",
            "S6": f"onset exponent p (H ∝ (r − 1)^p): default {np.nanmax(s['onset_exponent'][i0]):.3f}; range "
                  f"{np.nanmin(s['onset_exponent']):.3f} to {np.nanmax(s['onset_exponent']):.3f}",
            "S7": f"slope past the threshold vs d = {', '.join(f'{d:g}' for d in data['plot_dims'])}: default "
                  f"{', '.join(f'{v:.3g}' for v in s['slopes'][i0])}",
        }[k]
        out.append(Claim(
            SOURCE, f"{CLAIM_TEXT[k]} — across readings",
            f"holds under {int(h.sum())} of {n} readings; {detail}",
            across_readings(h, dflt),
            ("fails under: " + ", ".join(fails[:6]) + (" …" if len(fails) > 6 else "")) if fails else ""))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
