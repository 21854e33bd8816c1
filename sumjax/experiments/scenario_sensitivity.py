"""Beyond the texts: which assumption matters most? Elasticities of total harm in every scenario parameter.

All seven effects switched on at once at a reference point (moderate values), total harm of the
rectified loop (default reading, with deployment rounds), and its gradient by autodiff (forward mode) through the
whole loop (`lax.scan`, root solves, special functions) in every parameter: the text's own (d, β_A, β_H)
and each effect's. Elasticity ∂log H/∂log θ = θ·∂H/∂θ / H; ranked at the reference point and followed
along a sweep of β_A/β_H. Central finite differences at the reference point check the gradients.
Round counts and sandbox/turn round indices are integers (zero gradient): they are not ranked.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import FAILS, HOLDS, Claim, require

NAME = "scenario_sensitivity"
TITLE = "Which assumption matters most: elasticities of total harm in every scenario parameter"
SOURCE = "Beyond the texts"
CAPTION = (
    "Left: |∂log H/∂log θ| at the reference point (all seven effects on), by forward-mode autodiff, jax.jacfwd (bars) and central finite "
    "differences (markers), ranked. Right: the elasticities along β_A/β_H."
)

TEXT_PARAMS = ("d", "beta_a", "beta_h")
EFFECT_PARAMS = ("k_frag", "growth", "repeats", "coverage", "beta_s", "rho", "deployment", "d_after", "lam")
PARAMS = TEXT_PARAMS + EFFECT_PARAMS
LABELS = {"d": "d", "beta_a": "β_A", "beta_h": "β_H", "k_frag": "fragility k", "growth": "growth γ",
          "repeats": "repeats R", "coverage": "sandbox coverage", "beta_s": "sandbox β_S", "rho": "deception ρ",
          "deployment": "deployment T", "d_after": "left-turn d₂", "lam": "goodharting λ"}


@dataclasses.dataclass(frozen=True)
class Config:
    c_star: float = 0.8
    d: float = 30.0
    beta_a: float = 2.0
    beta_h: float = 1.0
    k_frag: float = 1.2
    growth: float = 0.01
    repeats: float = 2.0
    coverage: float = 0.5
    beta_s: float = 0.5
    sandbox_rounds: float = 4.0
    rho: float = 0.2
    deployment: float = 10.0
    d_after: float = 45.0
    turn_round: float = 8.0
    lam: float = 0.1
    ratio_min: float = 1.2
    ratio_max: float = 4.0
    n_ratios: int = 8
    fd_step: float = 1e-3  # relative: larger steps cross round-count jumps (β_H, d₂ at ±1%)
    max_rounds: int = 256
    chunk: int = 8


FULL = {"n_ratios": 4096, "chunk": 1024, "max_rounds": 1024}


def requires() -> None:
    require("sumjax.alignment.scenarios", "simulate", "neutral_effects")


def _harm(theta, fixed, max_rounds):
    from ..alignment import scenarios as S

    e = S.neutral_effects(**{k: theta[k] for k in EFFECT_PARAMS},
                          sandbox_rounds=fixed["sandbox_rounds"], turn_round=fixed["turn_round"])
    return S.simulate(e, fixed["c_star"], theta["d"], theta["beta_a"], theta["beta_h"], max_rounds=max_rounds).total


def _point(p, static):
    """H and ∂H/∂θ for every θ at one row (θ = the row's values)."""
    import jax

    max_rounds = int(static["max_rounds"].shape[0])
    theta = {k: p[k] for k in PARAMS}
    fixed = {k: p[k] for k in ("c_star", "sandbox_rounds", "turn_round")}
    # Forward mode (one tangent per parameter, 12): reverse mode through the scanned loop took XLA
    # minutes and GBs to compile (the transposed scan keeps every round's residuals).
    g, H = jax.jacfwd(lambda th: (_harm(th, fixed, max_rounds),) * 2, has_aux=True)(theta)
    return {"H": H, **{f"grad.{k}": g[k] for k in PARAMS}}


def _rows(cfg, ratios):
    n = len(ratios)
    base = {k: getattr(cfg, k) for k in PARAMS + ("c_star", "sandbox_rounds", "turn_round")}
    rows = {k: np.full(n, float(v)) for k, v in base.items()}
    rows["beta_a"] = np.asarray(ratios, float) * cfg.beta_h
    return rows


def compute(ctx) -> dict:
    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    ref_ratio = cfg.beta_a / cfg.beta_h
    ratios = np.concatenate([[ref_ratio], np.linspace(cfg.ratio_min, cfg.ratio_max, cfg.n_ratios)])
    rows = _rows(cfg, ratios)
    # central finite differences at the reference point: two more rows per parameter, same program
    ref = {k: v[:1] for k, v in _rows(cfg, [ref_ratio]).items()}
    fd_rows = []
    for k in PARAMS:
        for sign in (1.0, -1.0):
            r = {kk: vv.copy() for kk, vv in ref.items()}
            r[k] = r[k] * (1.0 + sign * cfg.fd_step)
            fd_rows.append(r)
    rows = {k: np.concatenate([rows[k]] + [r[k] for r in fd_rows]).astype(fdt) for k in rows}
    static = {"max_rounds": np.zeros(cfg.max_rounds, fdt)}
    out = ctx.sweep("grad", _point, rows, chunk=cfg.chunk, static=static)
    n = len(ratios)
    H = out["H"].astype(float)
    data = {"ratio": ratios[1:], "H": H[1:n], "H_ref": H[:1]}
    for i, k in enumerate(PARAMS):
        g = out[f"grad.{k}"][:n].astype(float)
        x = rows[k][:n].astype(float)
        data[f"el.{k}"] = x[1:] * g[1:] / H[1:n]
        data[f"el_ref.{k}"] = np.array([x[0] * g[0] / H[0]])
        up, dn = H[n + 2 * i], H[n + 2 * i + 1]
        data[f"fd_ref.{k}"] = np.array([(up - dn) / (2 * cfg.fd_step) / H[0]])
    return data


def table(data) -> dict:
    return {"parameter": np.array(PARAMS), "elasticity": np.array([data[f"el_ref.{k}"][0] for k in PARAMS]),
            "finite_difference": np.array([data[f"fd_ref.{k}"][0] for k in PARAMS])}


def ranking(elasticities: dict) -> list[str]:
    """Parameter names by decreasing |elasticity|."""
    return sorted(elasticities, key=lambda k: -abs(float(elasticities[k])))


def gradient_check(el, fd, rtol=0.05, atol=1e-2):
    """(max |grad − FD| / (|FD| + atol), whether all agree within rtol)."""
    el, fd = np.asarray(el, float), np.asarray(fd, float)
    err = np.abs(el - fd) / (np.abs(fd) + atol)
    return float(np.max(err)), bool(np.all(err <= rtol))


def claims(data, cfg) -> list[Claim]:
    el = {k: float(data[f"el_ref.{k}"][0]) for k in PARAMS}
    fd = {k: float(data[f"fd_ref.{k}"][0]) for k in PARAMS}
    order = ranking(el)
    top_text = max(abs(el[k]) for k in TEXT_PARAMS)
    top_eff = max(abs(el[k]) for k in EFFECT_PARAMS)
    out = [Claim(SOURCE, "The text's own parameters (d, β_A, β_H) matter more than any of the effects it leaves out",
                 "ranking by |∂log H/∂log θ| at the reference point: "
                 + ", ".join(f"{LABELS[k]} {el[k]:+.3g}" for k in order),
                 HOLDS if top_text > top_eff else FAILS,
                 "all seven effects on at once at moderate values (Config); elasticities are local")]
    err, ok = gradient_check([el[k] for k in PARAMS], [fd[k] for k in PARAMS])
    out.append(Claim(SOURCE, "Forward-mode autodiff (jax.jacfwd) through the whole scenario loop agrees with finite differences",
                     f"max relative disagreement over {len(PARAMS)} parameters: {err:.2g}", HOLDS if ok else FAILS,
                     "central differences (relative step fd_step) in the run's dtype; |error| / (|FD| + 0.01): float32 FD resolves elasticities to ~1e-3 only"))
    return out


def plot(data, cfg):
    import matplotlib.pyplot as plt

    el = {k: float(data[f"el_ref.{k}"][0]) for k in PARAMS}
    order = ranking(el)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(14, 5))
    y = np.arange(len(order))
    a0.barh(y, [abs(el[k]) for k in order], color=["C0" if k in TEXT_PARAMS else "C1" for k in order])
    a0.plot([abs(float(data[f"fd_ref.{k}"][0])) for k in order], y, "k+", ms=10, label="finite differences")
    a0.set_yticks(y, [LABELS[k] for k in order])
    a0.invert_yaxis()
    a0.set(xscale="log", xlabel="|∂log H/∂log θ|", title="reference point (blue: the text's parameters)")
    a0.legend(fontsize=8)
    for k in PARAMS:
        a1.plot(data["ratio"], data[f"el.{k}"], label=LABELS[k], ls="-" if k in TEXT_PARAMS else "--")
    a1.set(xlabel="β_A/β_H", ylabel="∂log H/∂log θ", yscale="symlog", title="along β_A/β_H")
    a1.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
