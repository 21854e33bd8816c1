"""SUM, fragility: "I tried to simulate this by transforming the distribution to a narrower one, but
polynomially-scaling [it] had the same effect as increasing d" — in two readings
(docs/model.md, "Fragility").

Literal: narrow the law of the cosine, p_d(c) → p_d(c)^k; this is exactly the cosine law of
d' = k(d − 3) + 3 (checked here by quadrature of the narrowed, tilted law against the vMF closed
forms at d'). Covariance: narrow the world N(0, Σ): isotropically (Σ = σ²I, no effect at all) or
along the human direction only (Σ = diag(σ², 1, …), d_eff = 1 + (d − 1)/σ², a large-d
approximation).
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "fragility"
TITLE = "Fragility: narrowing the law of the cosine vs narrowing the world's covariance"
SOURCE = "SUM"
CAPTION = (
    "Left: effective dimension against the narrowing exponent: literal reading (p_d(c)^k: d' = k(d − 3) + 3), "
    "covariance narrowed along h (σ² = ξ^−k: d_eff = 1 + (d − 1)ξ^k, ξ = 2) and isotropically (no change). "
    "Right: total harm (default reading, β_A/β_H = 2) relative to the un-narrowed loop."
)


@dataclasses.dataclass(frozen=True)
class Config:
    dims: tuple[float, ...] = (10.0, 100.0)
    exponents: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    xi: float = 2.0  # covariance narrowing σ² = ξ^−k along h
    c_star: float = 0.9
    ratio: float = 2.0
    check_kappas: tuple[float, ...] = (0.5, 5.0, 50.0)
    quad_nodes: int = 4000


FULL = {"dims": (5.0, 10.0, 100.0, 1000.0), "exponents": tuple(np.linspace(0.25, 6.0, 24)), "quad_nodes": 20000}


def requires() -> None:
    require("sumjax.alignment", "narrowed_dimension", "narrowed_total_harm", "fragile_total_harm", "effective_dimension",
            "vmf_mean", "vmf_kl")


def _narrowed_tilt_check(d, k, kappas, n):
    """E[c] and KL(tilt ‖ base) of the tilt e^{κc}·p_d(c)^k/Z, by a midpoint rule in θ (c = cos θ), in
    NumPy — independent of the package's Bessel functions."""
    th = (np.arange(n) + 0.5) * np.pi / n
    c = np.cos(th)
    logbase = k * (d - 3.0) / 2.0 * np.log(np.sin(th) ** 2) + np.log(np.sin(th))  # dc = sin θ dθ
    logbase -= np.max(logbase)
    base = np.exp(logbase)
    base /= base.sum()
    out_mean, out_kl = [], []
    for kap in kappas:
        lw = kap * c + logbase
        lw -= lw.max()
        w = np.exp(lw) * (base > 0)
        w /= w.sum()
        out_mean.append(np.sum(w * c))
        ok = w > 0
        out_kl.append(np.sum(w[ok] * (np.log(w[ok]) - np.log(base[ok]))))
    return np.array(out_mean), np.array(out_kl)


def compute(ctx) -> dict:
    import jax.numpy as jnp

    from .. import alignment as A

    cfg = ctx.cfg
    f = lambda x: ctx.asarray(np.asarray(x, float))
    dims = np.asarray(cfg.dims, float)
    ks = np.asarray(cfg.exponents, float)
    kap = np.asarray(cfg.check_kappas, float)
    d_lit = np.asarray(A.narrowed_dimension(f(dims[:, None]), f(ks[None, :])))
    # The literal reading is exact: quadrature of the narrowed tilted law vs the vMF forms at d'.
    qm, qk = np.zeros((len(dims), len(ks), len(kap))), np.zeros((len(dims), len(ks), len(kap)))
    for i, d in enumerate(dims):
        for j, k in enumerate(ks):
            qm[i, j], qk[i, j] = _narrowed_tilt_check(d, k, kap, cfg.quad_nodes)
    cm = np.asarray(A.vmf_mean(f(kap), f(d_lit[..., None])))
    ckl = np.asarray(A.vmf_kl(f(kap), f(d_lit[..., None])))
    bh = 1.0
    H0 = np.asarray(A.total_harm(f(cfg.c_star), f(dims), f(cfg.ratio * bh), f(bh)))
    H_lit = np.asarray(A.narrowed_total_harm(f(cfg.c_star), f(dims[:, None]), f(ks[None, :]), f(cfg.ratio * bh), f(bh)))
    H_h, H_iso, d_h, d_iso = (np.zeros((len(dims), len(ks))) for _ in range(4))
    for i, d in enumerate(dims):
        n = int(d)
        h = jnp.zeros(n, ctx.dtype).at[0].set(1.0)
        for j, k in enumerate(ks):
            s2 = cfg.xi ** (-k)
            cov_h = jnp.ones(n, ctx.dtype).at[0].set(s2)
            cov_iso = jnp.full(n, s2, ctx.dtype)
            d_h[i, j] = float(A.effective_dimension(cov_h, h))
            d_iso[i, j] = float(A.effective_dimension(cov_iso, h))
            H_h[i, j] = float(A.fragile_total_harm(f(cfg.c_star), cov_h, h, f(cfg.ratio * bh), f(bh)))
            H_iso[i, j] = float(A.fragile_total_harm(f(cfg.c_star), cov_iso, h, f(cfg.ratio * bh), f(bh)))
    return dict(dims=dims, exponents=ks, kappas=kap, d_literal=d_lit, d_along_h=d_h, d_isotropic=d_iso,
                quad_mean=qm, quad_kl=qk, closed_mean=cm, closed_kl=ckl, H0=H0, H_literal=H_lit, H_along_h=H_h,
                H_isotropic=H_iso)


def table(data) -> dict:
    dd, kk = np.meshgrid(data["dims"], data["exponents"], indexing="ij")
    return {"d": dd.ravel(), "k": kk.ravel(), "d_literal": data["d_literal"].ravel(),
            "d_cov_along_h": data["d_along_h"].ravel(), "d_cov_isotropic": data["d_isotropic"].ravel(),
            "H_literal_over_H0": (data["H_literal"] / data["H0"][:, None]).ravel(),
            "H_cov_along_h_over_H0": (data["H_along_h"] / data["H0"][:, None]).ravel(),
            "H_cov_isotropic_over_H0": (data["H_isotropic"] / data["H0"][:, None]).ravel()}


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    k = data["exponents"]
    for i, d in enumerate(data["dims"]):
        color = plt.cm.viridis(i / max(1, len(data["dims"]) - 1) * 0.9)
        axes[0].plot(k, data["d_literal"][i], "o-", color=color, label=f"d = {d:g}: literal p_d(c)^k")
        axes[0].plot(k, data["d_along_h"][i], "s--", color=color, label=f"d = {d:g}: covariance along h")
        axes[0].plot(k, data["d_isotropic"][i], ":", color=color, label=f"d = {d:g}: covariance isotropic")
        for key, style in (("H_literal", "o-"), ("H_along_h", "s--"), ("H_isotropic", ":")):
            axes[1].plot(k, data[key][i] / data["H0"][i], style, color=color)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("narrowing exponent k")
    axes[0].set_ylabel("effective dimension")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("narrowing exponent k")
    axes[1].set_ylabel("H / H(un-narrowed)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def literal_verdict(quad_mean, closed_mean, quad_kl, closed_kl, d_literal, exponents, tol=1e-6) -> str:
    """Holds when the narrowed law's tilt matches the vMF forms at d' (relative tol) and d' grows with k."""
    err = max(float(np.max(np.abs(quad_mean - closed_mean) / np.abs(closed_mean))),
              float(np.max(np.abs(quad_kl - closed_kl) / np.abs(closed_kl))))
    order = np.argsort(exponents)
    grows = bool(np.all(np.diff(np.asarray(d_literal)[..., order], axis=-1) > 0))
    return HOLDS if err <= tol and grows else FAILS


def covariance_verdict(H_isotropic, H_along_h, H0, tol=1e-6) -> str:
    """Isotropic narrowing changes H by less than tol (relative) while narrowing along h raises it:
    the remark holds only for narrowing along h (CAVEAT); FAILS if neither raises H; HOLDS if both do."""
    H0 = np.asarray(H0)[:, None]
    iso_moves = bool(np.any(np.abs(np.asarray(H_isotropic) / H0 - 1) > tol))
    along_moves = bool(np.all(np.asarray(H_along_h) > H0))
    if iso_moves and along_moves:
        return HOLDS
    return CAVEAT if along_moves else FAILS


def claims(data, cfg) -> list[Claim]:
    tol = 1e-6 if data["closed_mean"].dtype == np.float64 else 1e-4
    err = max(float(np.max(np.abs(data["quad_mean"] - data["closed_mean"]) / np.abs(data["closed_mean"]))),
              float(np.max(np.abs(data["quad_kl"] - data["closed_kl"]) / np.abs(data["closed_kl"]))))
    rel_iso = float(np.max(np.abs(data["H_isotropic"] / data["H0"][:, None] - 1)))
    return [
        Claim(SOURCE, "Narrowing the distribution polynomially has the same effect as increasing d (literal: the law of c)",
              f"p_d(c)^k is the cosine law of d' = k(d − 3) + 3: tilted E[c] and KL by quadrature vs vMF at d', max "
              f"relative difference {err:.1e} (d = {', '.join(f'{d:g}' for d in data['dims'])}, "
              f"k = {data['exponents'][0]:g}…{data['exponents'][-1]:g}); H grows to "
              f"{np.max(data['H_literal'] / data['H0'][:, None]):.3g}× at the largest k",
              literal_verdict(data["quad_mean"], data["closed_mean"], data["quad_kl"], data["closed_kl"],
                              data["d_literal"], data["exponents"], tol)),
        Claim(SOURCE, "Narrowing the distribution polynomially has the same effect as increasing d (covariance of the world)",
              f"isotropic Σ = σ²I: max relative change of H {rel_iso:.1e}; along h (σ² = ξ^−k): d_eff up to "
              f"{np.max(data['d_along_h']):.3g}, H up to {np.max(data['H_along_h'] / data['H0'][:, None]):.3g}×",
              covariance_verdict(data["H_isotropic"], data["H_along_h"], data["H0"], tol),
              "only narrowing along the human direction acts like a larger d, and only to large-d accuracy"),
    ]


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
