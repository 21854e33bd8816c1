"""SUM, information per round: the text takes δ = β_A ("the expected amount of information we get
... is just the KL-divergence"); the humans' observation x = √(2β_A)·a + z carries I(a; x) ≤ β_A
about a, computed exactly through the vMF log-normaliser (docs/model.md, "Information per round").

I/β_A over (d, β_A) for the un-aligned (uniform) law of a and along the loop, and how total harm
changes when the loop gains δ = I(a; x) per round instead of β_A (default reading, rectified, with
the cap δ ≤ β_H, and unrectified).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import FAILS, HOLDS, Claim, require

NAME = "information"
TITLE = "Information per round: I(a; x) against the text's δ = β_A, and its effect on total harm"
SOURCE = "SUM"
CAPTION = (
    "Left: I(a; x)/β_A for a uniform on the sphere, against β_A, per d. Middle: I/β_A along the loop (E[c] from 0 to c*) "
    "at β_A = 1. Right: total harm with δ = I(a; x) over total harm with δ = β_A against β_A/β_H (β_H = 1)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    dims: tuple[float, ...] = (2.0, 10.0, 100.0, 1000.0)
    betas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
    n_cos: int = 9
    c_star: float = 0.9
    harm_dims: tuple[float, ...] = (10.0, 100.0)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    num_nodes: int = 16
    tolerance: float = 0.01  # |I/β_A − 1| that still counts as "δ = β_A"


FULL = {"dims": (2.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5), "betas": tuple(np.geomspace(1e-3, 1e3, 25)),
        "n_cos": 33, "harm_dims": (10.0, 100.0, 1e3), "ratios": tuple(np.linspace(0.25, 8.0, 32)), "num_nodes": 48}


def requires() -> None:
    require("sumjax.alignment", "mutual_information", "total_harm", "kappa_from_mean")


def compute(ctx) -> dict:
    from .. import alignment as A

    cfg = ctx.cfg
    f = lambda x: ctx.asarray(np.asarray(x, float))
    dims = np.asarray(cfg.dims, float)
    betas = np.asarray(cfg.betas, float)
    cos = np.linspace(0.0, cfg.c_star, cfg.n_cos)
    kappa = np.asarray(A.kappa_from_mean(f(np.maximum(cos, 1e-12)[None, :]), f(dims[:, None])))
    # One call (one compilation) for the uniform grid (κ = 0) and the points along the loop (β_A = 1).
    uni = np.broadcast_arrays(0.0, dims[:, None], betas[None, :])
    loop = np.broadcast_arrays(kappa, dims[:, None], 1.0)
    flat = [np.concatenate([u.ravel(), v.ravel()]) for u, v in zip(uni, loop)]
    both = np.asarray(A.information_ratio(f(flat[0]), f(flat[1]), f(flat[2])))
    ratio_uniform = both[: uni[0].size].reshape(uni[0].shape)
    ratio_loop = both[uni[0].size:].reshape(loop[0].shape)
    hd = np.asarray(cfg.harm_dims, float)[:, None]
    r = np.asarray(cfg.ratios, float)[None, :]
    H = {}
    for info in ("beta", "mutual"):
        H[f"H_{info}"] = np.asarray(A.total_harm(f(cfg.c_star), f(hd), f(r), f(1.0), information=info,
                                                 num_nodes=cfg.num_nodes))
        H[f"H_unrect_{info}"] = np.asarray(A.total_harm(f(cfg.c_star), f(hd), f(r), rectify=False, information=info,
                                                        num_nodes=cfg.num_nodes))
    return dict(dims=dims, betas=betas, ratio_uniform=ratio_uniform, cos=cos, ratio_loop=ratio_loop,
                harm_dims=hd[:, 0], ratios=r[0], **H)


def table(data) -> dict:
    dd, bb = np.meshgrid(data["dims"], data["betas"], indexing="ij")
    return {"d": dd.ravel(), "beta_a": bb.ravel(), "I_over_beta_uniform": data["ratio_uniform"].ravel()}


def harm_change(H_mutual, H_beta):
    """H(δ = I)/H(δ = β_A) where both are positive (NaN elsewhere)."""
    H_mutual, H_beta = np.asarray(H_mutual, float), np.asarray(H_beta, float)
    ok = (H_beta > 0) & (H_mutual > 0)
    return np.where(ok, H_mutual / np.where(ok, H_beta, 1.0), np.nan)


def information_verdict(ratios, tolerance) -> str:
    """'δ = β_A' holds when I/β_A is within `tolerance` of 1 everywhere measured."""
    return HOLDS if float(np.nanmax(np.abs(np.asarray(ratios) - 1.0))) <= tolerance else FAILS


def zero_below_verdict(ratios, H) -> str:
    """Zero harm for β_A ≤ β_H (exactly) and positive above."""
    ratios, H = np.asarray(ratios), np.asarray(H)
    below = ratios <= 1.0
    ok = np.all(H[..., below] == 0) and np.all(H[..., ~below] > 0)
    return HOLDS if ok else FAILS


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for i, d in enumerate(data["dims"]):
        color = plt.cm.viridis(i / max(1, len(data["dims"]) - 1) * 0.9)
        axes[0].semilogx(data["betas"], data["ratio_uniform"][i], "o-", color=color, label=f"d = {d:g}")
        axes[1].plot(data["cos"], data["ratio_loop"][i], "o-", color=color, label=f"d = {d:g}")
    for j, d in enumerate(data["harm_dims"]):
        color = plt.cm.plasma(j / max(1, len(data["harm_dims"]) - 1) * 0.8)
        axes[2].plot(data["ratios"], harm_change(data["H_mutual"][j], data["H_beta"][j]), "o-", color=color,
                     label=f"d = {d:g}, rectified (δ ≤ β_H)")
        axes[2].plot(data["ratios"], harm_change(data["H_unrect_mutual"][j], data["H_unrect_beta"][j]), "s--",
                     color=color, label=f"d = {d:g}, unrectified")
    axes[0].set_xlabel("β_A")
    axes[0].set_ylabel("I(a; x) / β_A  (uniform a)")
    axes[1].set_xlabel("E[c] of the current law of a")
    axes[1].set_ylabel("I(a; x) / β_A  (β_A = 1)")
    axes[2].set_xlabel("β_A / β_H")
    axes[2].set_ylabel("H(δ = I) / H(δ = β_A)")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.axhline(1.0, color="gray", lw=0.8)
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    ru = data["ratio_uniform"]
    dims, betas = data["dims"], data["betas"]
    pick = ", ".join(f"{ru[i, j]:.2f} (d = {dims[i]:g}, β_A = {betas[j]:g})"
                     for i, j in ((int(np.argmin(np.abs(dims - 10))), int(np.argmin(np.abs(betas - 1)))),
                                  (int(np.argmin(np.abs(dims - 10))), int(np.argmin(np.abs(betas - 10)))),
                                  (0, len(betas) - 1)))
    out = [Claim(
        SOURCE, "The information humans get about a per round is β_A (the KL of the AI's action)",
        f"I(a; x)/β_A for uniform a: {pick}; from {np.min(ru):.3g} to {np.max(ru):.3g}; along the loop at β_A = 1 "
        f"down to {np.min(data['ratio_loop']):.3g}",
        information_verdict(np.concatenate([ru.ravel(), data["ratio_loop"].ravel()]), cfg.tolerance),
        "β_A is an upper bound: I → β_A only for small β_A in high d; it falls as the law of a concentrates")]
    ch = harm_change(data["H_mutual"], data["H_beta"])
    chu = harm_change(data["H_unrect_mutual"], data["H_unrect_beta"])
    out.append(Claim(
        SOURCE, "With δ = I(a; x), rectified harm is still zero for β_A ≤ β_H and positive above",
        f"H(δ = I)/H(δ = β_A): rectified {np.nanmin(ch):.3g} to {np.nanmax(ch):.3g}, unrectified {np.nanmin(chu):.3g} "
        f"to {np.nanmax(chu):.3g} (d = {', '.join(f'{d:g}' for d in data['harm_dims'])})",
        zero_below_verdict(data["ratios"], data["H_mutual"]),
        "harm grows when δ < β_A (more rounds); the cap δ ≤ β_H hides most of the difference when rectifying"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
