"""Beyond the texts: the effects the SUM text lists as "not included" in its model, as scenarios of the loop.

Each of the seven scenarios of `sumjax.alignment.scenarios` (sandboxing, repeated actions, AI power
growing during training, deceptive AI, sharp left turn, real goodharting, fragility) is swept over the
parameters its question is about, all through one generic point function (one compiled loop), under
the default reading. One panel per scenario answers its question; one report row per question gives
the computed answer.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import FAILS, HOLDS, Claim, require

NAME = "scenarios"
TITLE = "The text's open questions: sandboxing, repeats, power growth, deception, sharp left turn, goodharting, fragility"
SOURCE = "Beyond the texts"
CAPTION = (
    "Total harm of the rectified loop (default reading) under each effect the SUM text lists as not included. "
    "(a) sandbox coverage cos²φ; (b) repeated observations R; (c) growth rate γ of β_A, with the critical γ*(d); "
    "(d) the deceptive AI's harm against its mimicry ρ for several deployment lengths T; (e) sharp left turn d₁ → d₂ "
    "at round n₀; (f) goodharting with a concave human utility (curvature λ); (g) fragility k against d' = k(d−3)+3."
)

EFFECT_FIELDS = ("k_frag", "growth", "repeats", "repeat_harm", "coverage", "beta_s", "sandbox_rounds", "rho",
                 "deployment", "d_after", "turn_round", "lam", "linear")
NEUTRAL = dict(k_frag=1.0, growth=0.0, repeats=1.0, repeat_harm=0.0, coverage=1.0, beta_s=0.0, sandbox_rounds=0.0,
               rho=0.0, deployment=0.0, d_after=0.0, turn_round=np.inf, lam=0.0, linear=0.0)


@dataclasses.dataclass(frozen=True)
class Config:
    c_star: float = 0.8
    beta_h: float = 1.0
    d: float = 40.0
    dims: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0)
    ratio: float = 2.0  # β_A/β_H where a question needs one harmful point
    n_ratios: int = 9
    n_coverage: int = 11
    sandbox_budgets: tuple[float, ...] = (0.0, 10.0, 60.0)  # sandbox rounds at β_S = sandbox_beta
    sandbox_beta: float = 2.0
    repeats: tuple[float, ...] = (1.0, 2.0, 8.0)
    n_growth: int = 13
    n_rho: int = 11
    deployments: tuple[float, ...] = (0.0, 10.0, 100.0)
    turn_ratios: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    turn_rounds: tuple[float, ...] = (0.0, 5.0, 15.0)
    lams: tuple[float, ...] = (0.0, 0.1, 0.3)
    ks: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    max_rounds: int = 256
    chunk: int = 64


FULL = {"dims": (10.0, 30.0, 100.0, 300.0, 1000.0), "n_ratios": 41, "n_coverage": 51, "n_growth": 61, "n_rho": 51,
        "max_rounds": 4096, "chunk": 4096}


def requires() -> None:
    require("sumjax.alignment.scenarios", "simulate", "neutral_effects")


def _point(p, static=None):
    """One loop run at a row of (c*, d, β_A, β_H, every effect field); scalar outputs."""
    import jax.numpy as jnp

    from ..alignment import scenarios as S

    e = S.Effects(**{k: p[k] for k in EFFECT_FIELDS})
    max_rounds = int(static["max_rounds"].shape[0])  # static length carried by a shape
    out = S.simulate(e, p["c_star"], p["d"], p["beta_a"], p["beta_h"], max_rounds=max_rounds)
    n = jnp.arange(max_rounds, dtype=out.harm.dtype)
    after = n >= p["turn_round"]
    return {"H": out.total, "training": out.training, "deployment": out.deployment, "rounds": out.rounds,
            "final_mean": out.final_mean, "aligned": out.aligned.astype(out.total.dtype),
            "peak_after_turn": jnp.max(jnp.where(after, out.harm, 0.0)),
            "before_turn": jnp.sum(jnp.where(n == p["turn_round"] - 1.0, out.harm, 0.0))}


def rows(cfg, **grid) -> dict:
    """Rows for `_point`: the given fields (broadcast against each other) over the neutral effects."""
    base = dict(NEUTRAL, c_star=cfg.c_star, d=cfg.d, beta_a=cfg.ratio * cfg.beta_h, beta_h=cfg.beta_h)
    base.update(grid)
    arrays = np.broadcast_arrays(*[np.asarray(v, float) for v in base.values()])
    shape = arrays[0].shape
    return {k: a.ravel() for k, a in zip(base, arrays)}, shape


def _questions(cfg):
    """Every question's grid: name -> (rows, shape, axes)."""
    q = {}
    cov = np.linspace(0.0, 1.0, cfg.n_coverage)
    nb = np.asarray(cfg.sandbox_budgets)
    q["sandbox"] = rows(cfg, coverage=cov[None, :], beta_s=cfg.sandbox_beta, sandbox_rounds=nb[:, None])
    ratios = np.linspace(0.5, 3.0, cfg.n_ratios)
    R = np.asarray(cfg.repeats)
    q["repeats"] = rows(cfg, repeats=R[:, None], beta_a=ratios[None, :] * cfg.beta_h)
    dims = np.asarray(cfg.dims)
    g = np.geomspace(1e-3, 1.0, cfg.n_growth)
    q["growth"] = rows(cfg, growth=g[None, :], d=dims[:, None], beta_a=0.5 * cfg.beta_h)
    rho = np.linspace(0.0, 1.0, cfg.n_rho)
    T = np.asarray(cfg.deployments)
    q["deception"] = rows(cfg, rho=rho[None, None, :], deployment=T[None, :, None], d=dims[[0, -1]][:, None, None])
    tr = np.asarray(cfg.turn_ratios)
    n0 = np.asarray(cfg.turn_rounds)
    q["left_turn"] = rows(cfg, d_after=tr[:, None] * cfg.d, turn_round=n0[None, :])
    lam = np.asarray(cfg.lams)
    q["goodharting"] = rows(cfg, lam=lam[:, None, None], d=dims[None, :, None], beta_a=ratios[None, None, :] * cfg.beta_h,
                            deployment=10.0)
    ks = np.asarray(cfg.ks)
    q["fragility"] = rows(cfg, k_frag=ks[:, None], d=dims[None, :])
    dprime = ks[:, None] * (dims[None, :] - 3.0) + 3.0
    q["fragility_dprime"] = rows(cfg, d=dprime)
    axes = {"sandbox": (nb, cov), "repeats": (R, ratios), "growth": (dims, g), "deception": (dims[[0, -1]], T, rho),
            "left_turn": (tr, n0), "goodharting": (lam, dims, ratios), "fragility": (ks, dims), "fragility_dprime": (ks, dims)}
    return q, axes


def compute(ctx) -> dict:
    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    q, axes = _questions(cfg)
    # all questions in one sweep: one compiled program, pieces reused on a rerun
    names = list(q)
    flat = {k: np.concatenate([q[n][0][k] for n in names]).astype(fdt) for k in q[names[0]][0]}
    static = {"max_rounds": np.zeros(cfg.max_rounds, fdt)}
    out = ctx.sweep("all", _point, flat, chunk=cfg.chunk, static=static)
    if not np.all(out["aligned"] > 0):  # `simulate` is unchecked: a run cut short would be a wrong number
        raise ValueError(f"argument `max_rounds` ({cfg.max_rounds}) is too small for {int(np.sum(out['aligned'] <= 0))} "
                         "of the scenario points; raise `max_rounds`")
    data, start = {}, 0
    for n in names:
        rws, shape = q[n]
        size = int(np.prod(shape))
        for k, v in out.items():
            data[f"{n}.{k}"] = v[start:start + size].reshape(shape)
        for i, ax in enumerate(axes[n]):
            data[f"{n}.axis{i}"] = np.asarray(ax, float)
        start += size
    # the power-growth onset from its closed form (progress in D, δ = β_A,n while β_A,n ≤ β_H):
    data["growth.critical_closed_form"] = np.array([_critical_growth(cfg, d) for d in cfg.dims])
    return data


def _dstar(c, d):
    import jax

    from ..alignment import _vmf

    with jax.enable_x64(True):
        return float(_vmf.required_divergence(np.float64(c), np.float64(d)))


def _critical_growth(cfg, d) -> float:
    """γ* with Σ_{n<m} β₀(1+γ)^n = D*, m the first round with β_A,m > β_H (β₀ = β_H/2), by bisection."""
    b0, bh = 0.5 * cfg.beta_h, cfg.beta_h
    Ds = _dstar(cfg.c_star, d)

    def harmless(g):
        m = int(np.floor(np.log(bh / b0) / np.log1p(g))) + 1
        return b0 * np.expm1(m * np.log1p(g)) / g >= Ds

    lo, hi = 1e-8, 10.0
    if harmless(hi):
        return np.inf
    for _ in range(80):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if harmless(mid) else (lo, mid)
    return hi


def table(data) -> dict:
    H = data["sandbox.H"]
    cols = {"sandbox_rounds": np.repeat(data["sandbox.axis0"], H.shape[1]), "coverage": np.tile(data["sandbox.axis1"], H.shape[0]),
            "sandbox_H": H.ravel()}
    return cols


# ----------------------------------------------------------------- verdicts (pure functions of arrays)


def sandbox_verdict(coverage, H_budgets, c_star):
    """(first coverage with H = 0 at the largest sandbox budget, whether H falls with coverage there,
    whether that zero-harm coverage is c*² within the grid step)."""
    H = np.asarray(H_budgets)[-1]
    zero = np.flatnonzero(H == 0.0)
    q0 = float(coverage[zero[0]]) if zero.size else np.inf
    falls = bool(np.all(np.diff(H) <= 1e-6 * np.max(np.abs(H)) + 0.0))
    step = float(coverage[1] - coverage[0]) if len(coverage) > 1 else 1.0
    return q0, falls, bool(abs(q0 - c_star**2) <= step + 1e-12)


def repeats_verdict(ratios, H):
    """(onset ratio per R, max relative change of H across R above the threshold)."""
    H = np.asarray(H)
    onset = np.array([ratios[np.flatnonzero(h > 0)[0]] if np.any(h > 0) else np.inf for h in H])
    above = ratios > 1.0
    ref = np.maximum(np.abs(H[0, above]), 1e-300)
    change = float(np.max(np.abs(H[:, above] - H[0, above]) / ref)) if above.any() else 0.0
    return onset, change


def growth_verdict(dims, gammas, H):
    """(γ*(d) = smallest swept γ with H > 0, fitted exponent of γ* in d)."""
    H = np.asarray(H)
    gs = np.array([gammas[np.flatnonzero(h > 0)[0]] if np.any(h > 0) else np.inf for h in H])
    ok = np.isfinite(gs)
    slope = float(np.polyfit(np.log(dims[ok]), np.log(gs[ok]), 1)[0]) if ok.sum() >= 2 else np.nan
    return gs, slope


def deception_verdict(rho, H):
    """ρ* = argmax_ρ H (the AI's total misaligned push) per deployment length (rows)."""
    H = np.asarray(H)
    return rho[np.argmax(H, axis=-1)]


def monotone_increasing(x, tol=0.0):
    """Non-decreasing (within `tol`)."""
    x = np.asarray(x, float)
    return bool(np.all(np.diff(x) >= -tol))


def relative_spread(x):
    x = np.asarray(x, float)
    return float((np.max(x) - np.min(x)) / np.max(np.abs(x))) if np.max(np.abs(x)) > 0 else 0.0


def claims(data, cfg) -> list[Claim]:
    out = []
    fmt = lambda xs: ", ".join(f"{x:.3g}" for x in np.ravel(xs))  # noqa: E731
    # 1. sandbox
    cov = data["sandbox.axis1"]
    q0, falls, at_c2 = sandbox_verdict(cov, data["sandbox.H"], cfg.c_star)
    H = data["sandbox.H"]
    out.append(Claim(SOURCE, "Sandboxing: harm falls with coverage cos²φ and, with a large sandbox budget, vanishes "
                             "once the sandbox alone can reach c* (cos²φ > c*²)",
                     f"H at coverage 0..1, {cfg.sandbox_budgets[-1]:g} sandbox rounds: {fmt(H[-1, ::max(1, len(cov) // 5)])}; "
                     f"zero from coverage {q0:.3g} (c*² = {cfg.c_star**2:.3g}); with no sandbox H = {H[0, 0]:.3g}",
                     HOLDS if falls and at_c2 else FAILS))
    over = H[-1, 0] > H[0, 0]
    out.append(Claim(SOURCE, "Sandboxing never increases harm",
                     f"coverage 0: H = {H[0, 0]:.3g} without sandbox, {H[-1, 0]:.3g} after {cfg.sandbox_budgets[-1]:g} "
                     "sandbox rounds",
                     FAILS if over else HOLDS,
                     "a law concentrated on the sandbox direction must be out-tilted by the rounds after it"))
    # 2. repeats
    onset, change = repeats_verdict(data["repeats.axis1"], data["repeats.H"])
    same_onset = bool(np.all(onset == onset[0]))
    out.append(Claim(SOURCE, "Repeating actions for more information does not move the harm threshold (β_H binds)",
                     f"onset β_A/β_H for R = {fmt(cfg.repeats)}: {fmt(onset)}; max relative change of H above the "
                     f"threshold across R: {change:.3g}", HOLDS if same_onset and change < 1e-6 else FAILS,
                     "with the cap δ = min(R·β_A, β_H) = β_H past the threshold, and the threshold T(β_A, β_H) has no R"))
    # 3. growth
    gs, slope = growth_verdict(data["growth.axis0"], data["growth.axis1"], data["growth.H"])
    cf = data["growth.critical_closed_form"]
    g = data["growth.axis1"]
    ratio = g[1] / g[0]
    agree = bool(np.all((cf <= gs * (1 + 1e-6)) & (gs <= cf * ratio * (1 + 1e-6)) | ~np.isfinite(gs)))
    out.append(Claim(SOURCE, "Power growth: a critical growth rate γ*(d) turns a harmless run (β₀ = β_H/2) harmful, "
                             "falling with d (a critical dimension for each γ)",
                     f"γ* for d = {fmt(cfg.dims)}: {fmt(gs)} (closed form {fmt(cf)}); γ* ∝ d^{slope:.2f}",
                     HOLDS if (np.isfinite(slope) and slope < 0 and agree and monotone_increasing(-gs)) else FAILS))
    # 4. deception
    rho = data["deception.axis2"]
    best = deception_verdict(rho, data["deception.H"])  # (dims, T)
    out.append(Claim(SOURCE, "A deceptive AI's best mimicry ρ* rises with the deployment length T",
                     f"ρ* for T = {fmt(cfg.deployments)}: d = {data['deception.axis0'][0]:g}: {fmt(best[0])}; "
                     f"d = {data['deception.axis0'][-1]:g}: {fmt(best[-1])}",
                     HOLDS if all(monotone_increasing(b) and b[-1] > b[0] for b in best) else FAILS,
                     "the AI's objective is its total misaligned push (training + deployment harm)"))
    dep = data["deception.deployment"]
    mid = len(rho) // 2
    out.append(Claim(SOURCE, "Deployment harm of a deceptive AI grows with ρ and with d",
                     f"deployment harm at T = {cfg.deployments[-1]:g}, ρ = {rho[mid]:.2g}: {fmt(dep[:, -1, mid])} "
                     f"(d = {fmt(data['deception.axis0'])})",
                     HOLDS if all(monotone_increasing(dep[i, -1]) for i in range(dep.shape[0]))
                     and monotone_increasing(dep[:, -1, mid]) else FAILS))
    # 5. left turn
    rounds = data["left_turn.rounds"]
    Ht = data["left_turn.H"]
    extra = rounds - rounds[0:1]
    out.append(Claim(SOURCE, "A sharp left turn d₁ → d₂ costs extra rounds and harm growing with d₂/d₁",
                     f"d₂/d₁ = {fmt(cfg.turn_ratios)}: extra rounds (turn at n₀ = {cfg.turn_rounds[-1]:g}) "
                     f"{fmt(extra[:, -1])}; H {fmt(Ht[:, -1])}",
                     HOLDS if all(monotone_increasing(Ht[:, j]) for j in range(Ht.shape[1])) and extra[-1, -1] > 0 else FAILS))
    spread = relative_spread(Ht[-1])
    out.append(Claim(SOURCE, "The harm of a sharp left turn depends on when it happens (n₀)",
                     f"H at d₂/d₁ = {cfg.turn_ratios[-1]:g} for n₀ = {fmt(cfg.turn_rounds)}: {fmt(Ht[-1])} "
                     f"(relative spread {spread:.2g})", HOLDS if spread > 0.05 else FAILS))
    # 6. goodharting
    lam = data["goodharting.axis0"]
    fm = data["goodharting.final_mean"]
    i = int(np.argmax(lam))
    bz = 2.0 * fm[i, :, -1] ** 2 / lam[i] ** 2 if lam[i] > 0 else np.full(fm.shape[1], np.inf)
    Hg = data["goodharting.H"]
    dep_g = data["goodharting.deployment"]
    resid = bool(np.all(dep_g[i, :, -1] > 0))
    out.append(Claim(SOURCE, "Real goodharting adds a d-independent threshold β_A = 2c²/λ² past which even an aligned "
                             "AI harms, and a deployment harm alignment cannot remove",
                     f"λ = {lam[i]:g}: β_zero at the end of training for d = {fmt(cfg.dims)}: {fmt(bz)} "
                     f"(relative spread {relative_spread(bz):.2g}); deployment harm at β_A/β_H = "
                     f"{data['goodharting.axis2'][-1]:g}: {fmt(dep_g[i, :, -1])} (λ = 0: {fmt(dep_g[0, :, -1])})",
                     HOLDS if relative_spread(bz) < 0.05 and resid else FAILS,
                     "β_zero from the final E[c] of each run; the threshold depends on c, not on d"))
    # 7. fragility
    Hf = data["fragility.H"]
    Hd = data["fragility_dprime.H"]
    rel = float(np.max(np.abs(Hf - Hd) / np.maximum(np.abs(Hd), 1e-30)))
    out.append(Claim(SOURCE, "Fragility (the cosine law to the power k) acts exactly as the dimension d' = k(d − 3) + 3",
                     f"max relative difference of H over k = {fmt(cfg.ks)}, d = {fmt(cfg.dims)}: {rel:.2g}",
                     HOLDS if rel < 1e-4 else FAILS))
    return out


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5))
    ax = axes[0, 0]
    for i, nb in enumerate(data["sandbox.axis0"]):
        ax.plot(data["sandbox.axis1"], data["sandbox.H"][i], marker=".", label=f"{nb:g} sandbox rounds")
    ax.axvline(cfg.c_star**2, color="gray", lw=0.8, ls="--", label="c*²")
    ax.set(xlabel="coverage cos²φ", ylabel="total harm H", title="(a) sandboxing")
    ax = axes[0, 1]
    for i, R in enumerate(data["repeats.axis0"]):
        ax.plot(data["repeats.axis1"], data["repeats.H"][i], ls=["-", "--", ":"][i % 3], label=f"R = {R:g}")
    ax.set(xlabel="β_A/β_H", ylabel="H", title="(b) repeated actions (cap on)")
    ax = axes[0, 2]
    for i, d in enumerate(data["growth.axis0"]):
        ax.semilogx(data["growth.axis1"], data["growth.H"][i], marker=".", label=f"d = {d:g}")
        ax.axvline(data["growth.critical_closed_form"][i], color=f"C{i}", lw=0.8, ls="--")
    ax.set(xlabel="growth γ of β_A per round (β₀ = β_H/2)", ylabel="H", title="(c) power growth; dashed: γ*(d)")
    ax = axes[0, 3]
    for i, T in enumerate(data["deception.axis1"]):
        ax.plot(data["deception.axis2"], data["deception.H"][-1, i], label=f"T = {T:g}")
    ax.set(xlabel="mimicry ρ", ylabel="training + deployment harm", yscale="log",
           title=f"(d) deception, d = {data['deception.axis0'][-1]:g}")
    ax = axes[1, 0]
    for j, n0 in enumerate(data["left_turn.axis1"]):
        ax.plot(data["left_turn.axis0"], data["left_turn.H"][:, j], marker="o", label=f"n₀ = {n0:g}")
    ax.set(xlabel="d₂/d₁", ylabel="H", xscale="log", title=f"(e) sharp left turn, d₁ = {cfg.d:g}")
    ax = axes[1, 1]
    for i, lam in enumerate(data["goodharting.axis0"]):
        ax.plot(data["goodharting.axis2"], data["goodharting.H"][i, -1], label=f"λ = {lam:g}")
    ax.set(xlabel="β_A/β_H", ylabel="H (with 10 deployment rounds)",
           title=f"(f) goodharting, d = {data['goodharting.axis1'][-1]:g}")
    ax = axes[1, 2]
    for i, k in enumerate(data["fragility.axis0"]):
        ax.loglog(data["fragility.axis1"], data["fragility.H"][i], marker="o", label=f"k = {k:g}")
        ax.loglog(data["fragility.axis1"], data["fragility_dprime.H"][i], "k+", ms=10)
    ax.set(xlabel="d", ylabel="H", title="(g) fragility k; +: loop at d' = k(d−3)+3")
    axes[1, 3].axis("off")
    for a in axes.ravel()[:-1]:
        a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
