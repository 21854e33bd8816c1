"""SUM, fifth figure: harm against AI scale ξ, linear and log axes, with its three phases.

Reconstructed (docs/model.md §3): d(ξ) = d₀ + d₁·log ξ, β_A(ξ) = β₀·ξ^α, β_H fixed, ξ = e^{g t}.
H(t) is the rectified total harm (`harm_vs_time`); its local log-slope σ = d log H/dt by
autodiff (`harm_log_slope`) and by finite differences (`scaling_phases`), which labels lag /
catch-up / exponential from the computed slope. The late slope is compared with
m·α·g + q·d₁g/d(t) (`asymptotic_log_slope`; m = q = 1 under the default reading).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "scaling"
TITLE = "Harm against AI scale ξ: lag, catch-up and exponential phases"
SOURCE = "SUM"
CAPTION = (
    "Rectified total harm as AI scale ξ = e^{gt} grows (d = d₀ + d₁ log ξ, β_A = β₀ξ^α, β_H fixed). Shading: phases "
    "labelled from the computed log-slope (grey lag, orange catch-up, blue exponential). Right: d log H/dt by autodiff "
    "(solid), finite differences (dots) and the exponential-phase prediction m·α·g + q·d₁g/d (dashed; default reading: "
    "m = q = 1)."
)

PHASE_COLORS = ("0.85", "tab:orange", "tab:blue")
PHASE_NAMES = ("lag", "catch-up", "exponential")


@dataclasses.dataclass(frozen=True)
class Config:
    t_max: float = 14.0
    n_times: int = 281
    growth: float = 1.0
    d0: float = 100.0
    d1: float = 10.0
    beta0: float = 0.01
    alpha: float = 1.0
    beta_h: float = 1.0
    c_star: float = 0.9
    catchup_ratio: float = 1.5
    chunk: int = 288


FULL = {"t_max": 30.0, "n_times": 6001, "chunk": 6016}


def requires() -> None:
    require("sumjax.alignment", "harm_vs_time", "harm_log_slope", "asymptotic_log_slope", "scaling_phases")


def _kwargs(static):
    return dict(growth=static["growth"], xi0=1.0, d0=static["d0"], d1=static["d1"], beta0=static["beta0"],
                alpha=static["alpha"], beta_h=static["beta_h"])


def _point(p, static):
    # Pure kernels (no checks): the inputs are valid by construction (Config), and a checked
    # function would compile `equinox.error_if` host callbacks into the sweep, which JAX's
    # persistent compilation cache refuses to store.
    from .. import alignment as A
    from ..alignment import scaling as S

    t, kw = p["t"], _kwargs(static)
    return {
        "H": S._harm_vs_time_kernel(t, static["c_star"], reading=A.DEFAULT_READING, **kw),
        "H_sqrtD": S._harm_vs_time_kernel(t, static["c_star"], reading=A.SCALE_FREE_SQRT_KL, **kw),
        "sigma": S._harm_log_slope_kernel(t, static["c_star"], reading=A.DEFAULT_READING, **kw),
        "sigma_asymptotic": A.asymptotic_log_slope(t, growth=static["growth"], d0=static["d0"], d1=static["d1"],
                                                   alpha=static["alpha"]),
    }


def compute(ctx) -> dict:
    import jax

    from ..alignment import scaling as S

    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    t = np.linspace(0.0, cfg.t_max, cfg.n_times)
    static = {k: np.asarray(getattr(cfg, k), fdt) for k in ("growth", "d0", "d1", "beta0", "alpha", "beta_h", "c_star")}
    out = ctx.sweep("times", _point, {"t": t.astype(fdt)}, chunk=cfg.chunk, static=static)
    # One jitted function for both curves (same shapes): compiled once, not once per lambda. The
    # kernel of `scaling_phases` (t increasing, H ≥ 0 by construction): no host callback to compile.
    phases_of = jax.jit(lambda tt, hh: S._scaling_phases_kernel(tt, hh, cfg.catchup_ratio))
    phases = phases_of(ctx.asarray(t), ctx.asarray(out["H"]))
    phases_s = phases_of(ctx.asarray(t), ctx.asarray(out["H_sqrtD"]))
    out.update(
        t=t, xi=np.exp(cfg.growth * t), beta_a=cfg.beta0 * np.exp(cfg.alpha * cfg.growth * t),
        d=cfg.d0 + cfg.d1 * cfg.growth * t,
        labels=np.asarray(phases.labels), fd_slope=np.asarray(phases.log_slope), late_slope=np.asarray(phases.late_slope),
        lag_end=np.asarray(phases.lag_end), catchup_end=np.asarray(phases.catchup_end),
        labels_sqrtD=np.asarray(phases_s.labels), lag_end_sqrtD=np.asarray(phases_s.lag_end),
        catchup_end_sqrtD=np.asarray(phases_s.catchup_end),
    )
    return out


def table(data) -> dict:
    return {k: data[k] for k in ("t", "xi", "d", "beta_a", "H", "H_sqrtD", "sigma", "fd_slope", "sigma_asymptotic",
                                 "labels")}


def _shade(ax, x, labels):
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            hi = x[i] if i < len(x) else x[-1]
            ax.axvspan(x[start], hi, color=PHASE_COLORS[int(labels[start])], alpha=0.25, lw=0)
            start = i


def plot(data, cfg):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(1, 3, figsize=(16.5, 4.5))
    xi, t, H = data["xi"], data["t"], data["H"]
    ax = axes[0]
    _shade(ax, xi, data["labels"])
    ax.plot(xi, H, "k-", lw=2, label="H, over D")
    ax.plot(xi, data["H_sqrtD"], "k--", lw=1, label="H, over √D")
    # Linear axes up to a few e-folds past the threshold, where the "sudden" rise is visible.
    t_lag = float(data["lag_end"])
    t_hi = min(float(t[-1]), t_lag + 3.0 / cfg.growth) if np.isfinite(t_lag) else float(t[-1])
    ax.set_xlim(0, float(np.exp(cfg.growth * t_hi)))
    mask = xi <= ax.get_xlim()[1]
    ax.set_ylim(0, float(np.max(H[mask])) * 1.05 if np.any(H[mask] > 0) else 1)
    ax.set_xlabel("AI scale ξ")
    ax.set_ylabel("total harm H (√KL units)")
    ax.set_title("linear axes")
    bx = axes[1]
    _shade(bx, t, data["labels"])
    pos = H > 0
    bx.semilogy(t[pos], H[pos], "k-", lw=2, label="over D")
    pos_s = data["H_sqrtD"] > 0
    bx.semilogy(t[pos_s], data["H_sqrtD"][pos_s], "k--", lw=1, label="over √D")
    bx.set_xlabel(r"time $t$  ($\xi = e^{gt}$)")
    bx.set_ylabel("H (log scale)")
    bx.set_title("log axis")
    bx.legend(fontsize=8, loc="lower right")
    cx = axes[2]
    _shade(cx, t, data["labels"])
    cx.plot(t[pos], data["sigma"][pos], "k-", label="d log H/dt (autodiff)")
    cx.plot(t[pos][::4], data["fd_slope"][pos][::4], "o", ms=3, color="tab:red", label="finite differences")
    cx.plot(t, data["sigma_asymptotic"], "--", color="tab:blue", label="m·α·g + q·d₁g/d(t)")
    cx.set_yscale("log")
    cx.set_xlabel("time t")
    cx.set_ylabel("local log-slope σ")
    cx.set_title("growth rate of harm")
    cx.legend(fontsize=8)
    handles = [Patch(color=c, alpha=0.4, label=n) for c, n in zip(PHASE_COLORS, PHASE_NAMES)]
    axes[0].legend(handles=handles + axes[0].get_legend_handles_labels()[0], fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def superexponential_verdict(sigma_pos, late, catchup_ratio):
    """(verdict, largest rise of σ, peak σ / late σ) from the log-slope σ on the stretch where H > 0.
    HOLDS: σ rises somewhere (log H convex: accelerating growth). CAVEAT: σ only falls but peaks above
    ``catchup_ratio`` × the late rate. FAILS: never faster than that (or no harm at all)."""
    s = np.asarray(sigma_pos, float)
    late = float(late)
    if s.size < 2 or not np.isfinite(late) or late <= 0:
        return FAILS, float("nan"), float("nan")
    rising = float(np.max(np.diff(s)))
    peak_ratio = float(np.max(s)) / late
    if rising > 1e-6 * abs(late):
        return HOLDS, rising, peak_ratio
    if peak_ratio > catchup_ratio:
        return CAVEAT, rising, peak_ratio
    return FAILS, rising, peak_ratio


def claims(data, cfg) -> list[Claim]:
    labels, t, sigma, late = data["labels"], data["t"], data["sigma"], float(data["late_slope"])
    present = [int(k) for k in np.unique(labels)]
    in_order = bool(np.all(np.diff(labels) >= 0))
    asym = float(data["sigma_asymptotic"][-1])
    gap = abs(float(sigma[-1]) - asym) / asym
    catch = labels == 1
    peak = float(np.max(sigma[catch])) if catch.any() else float("nan")
    t_lag, t_cu = float(data["lag_end"]), float(data["catchup_end"])
    threshold_t = np.log(cfg.beta_h / cfg.beta0) / (cfg.alpha * cfg.growth)
    ok = present == [0, 1, 2] and in_order and gap <= 0.1
    out = [Claim(
        SOURCE, "Harm against AI scale has three phases: lag (H = 0), catch-up, exponential",
        f"phases from the computed slope: lag until t = {t_lag:.3g} (β_A = β_H at t = {threshold_t:.3g}), catch-up until "
        f"t = {t_cu:.3g} (peak σ = {peak:.3g} vs late σ = {late:.3g}), then exponential; late σ within "
        f"{100 * gap:.1f}% of m·α·g + q·d₁g/d = {asym:.3g}",
        HOLDS if ok else FAILS)]
    # Super-exponential: faster than the late exponential around the threshold, and accelerating?
    pos = data["H"] > 0
    verdict, rising, peak_ratio = superexponential_verdict(sigma[pos], late, cfg.catchup_ratio)
    out.append(Claim(
        SOURCE, "Harm grows super-exponentially around human level (β_A ≈ β_H)",
        f"σ = d log H/dt peaks at {np.max(sigma[pos]) if pos.any() else float('nan'):.3g} just past the threshold, "
        f"{peak_ratio:.3g}× the late rate; largest step-to-step increase of σ after the threshold: {rising:.3g}",
        verdict,
        {HOLDS: "the growth rate itself rises after the threshold (log H convex there)",
         CAVEAT: "faster than the late exponential near the threshold, but the rate only falls after it (log H is "
                 "concave): a jump in growth rate, not an accelerating one",
         FAILS: "no stretch grows faster than the late exponential"}[verdict]))
    lab_s = data["labels_sqrtD"]
    same = [int(k) for k in np.unique(lab_s)] == present and abs(float(data["lag_end_sqrtD"]) - t_lag) < 1e-9
    out.append(Claim(
        SOURCE, "The scaling phases are the same whether harm is integrated over D or √D",
        f"over √D: lag until t = {float(data['lag_end_sqrtD']):.3g}, catch-up until t = {float(data['catchup_end_sqrtD']):.3g} "
        f"(over D: {t_lag:.3g}, {t_cu:.3g})",
        HOLDS if same else FAILS))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
