"""Beyond the texts: how sensitive is total harm to each parameter? (`jax.grad`)

Along the scaling path of the `scaling` experiment (d = d₀ + d₁ log ξ, β_A = β₀ξ^α, rectified),
the elasticities ∂log H/∂log θ for θ = β_H, α, c*, and d (through d₀: ∂H/∂d₀ = ∂H/∂d), by
reverse-mode autodiff through the whole model (root solves, special functions, quadrature),
checked against Richardson-extrapolated central finite differences computed in the same run.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import FAILS, HOLDS, Claim, require

NAME = "sensitivity"
TITLE = "Gradient sensitivity of total harm to β_H, α, c* and d"
SOURCE = "Beyond the texts"
CAPTION = (
    "Elasticities ∂log H/∂log θ of the rectified total harm along the scaling path, by jax.grad (lines) and central "
    "finite differences (markers). |elasticity| = how many % H changes per 1% change of θ."
)

PARAMS = ("beta_h", "alpha", "c_star", "d")
LABELS = {"beta_h": "β_H", "alpha": "α", "c_star": "c*", "d": "d"}


@dataclasses.dataclass(frozen=True)
class Config:
    xi_min_over_threshold: float = 1.05  # start just past β_A = β_H
    xi_max_over_threshold: float = 1e4
    n_points: int = 48
    d0: float = 100.0
    d1: float = 10.0
    beta0: float = 0.01
    alpha: float = 1.0
    beta_h: float = 1.0
    c_star: float = 0.9
    fd_step: float = 1e-3  # relative step of the finite differences
    chunk: int = 48


FULL = {"n_points": 2000, "chunk": 2000}


def requires() -> None:
    require("sumjax.alignment", "harm_vs_scale")


def _log_harm(theta, xi, static):
    import jax.numpy as jnp

    from .. import alignment as A
    from .harm_vs_power import _integral_harm

    d_xi = static["d0"] + static["d1"] * jnp.log(xi)
    # θ["d"] multiplies d(ξ): d log H/d log θ_d at θ_d = 1 is the elasticity in d.
    # `harm_vs_scale` (d = d0 + d1·log ξ, β_A = β0·ξ^α, total harm) from the unchecked loop kernels:
    # no error_if callbacks, so the compiled sweep is stored in the persistent cache.
    d0 = static["d0"] + (theta["d"] - 1.0) * d_xi
    d = d0 + static["d1"] * jnp.log(xi)
    beta_a = static["beta0"] * jnp.exp(theta["alpha"] * jnp.log(xi))
    H = _integral_harm(theta["c_star"], d, beta_a, theta["beta_h"], A.DEFAULT_READING, True)
    return jnp.log(H)


def _point(p, static):
    import jax
    import jax.numpy as jnp

    theta = {"beta_h": static["beta_h"], "alpha": static["alpha"], "c_star": static["c_star"],
             "d": jnp.ones_like(static["alpha"])}
    logH, grads = jax.value_and_grad(_log_harm)(theta, p["xi"], static)
    out = {"H": jnp.exp(logH)}
    h = static["fd_step"]

    def central(name, step):
        up = dict(theta, **{name: theta[name] * (1 + step)})
        dn = dict(theta, **{name: theta[name] * (1 - step)})
        return (_log_harm(up, p["xi"], static) - _log_harm(dn, p["xi"], static)) / (2 * step)

    for name in PARAMS:
        out[f"ad_{name}"] = grads[name] * theta[name]  # elasticity = θ ∂log H/∂θ
        # Richardson-extrapolated central differences: truncation O(step⁴) even near the threshold.
        out[f"fd_{name}"] = (4 * central(name, h / 2) - central(name, h)) / 3
    return out


def compute(ctx) -> dict:
    cfg = ctx.cfg
    fdt = np.dtype(ctx.dtype)
    threshold = (cfg.beta_h / cfg.beta0) ** (1 / cfg.alpha)
    xi = threshold * np.geomspace(cfg.xi_min_over_threshold, cfg.xi_max_over_threshold, cfg.n_points)
    static = {k: np.asarray(getattr(cfg, k), fdt) for k in ("d0", "d1", "beta0", "alpha", "beta_h", "c_star", "fd_step")}
    out = ctx.sweep("path", _point, {"xi": xi.astype(fdt)}, chunk=cfg.chunk, static=static)
    out.update(xi=xi, ratio=xi / threshold, d=cfg.d0 + cfg.d1 * np.log(xi), eps=np.finfo(fdt).eps)
    return out


def table(data) -> dict:
    cols = {"xi": data["xi"], "d": data["d"], "H": data["H"]}
    for name in PARAMS:
        cols[f"elasticity_{name}_autodiff"] = data[f"ad_{name}"]
        cols[f"elasticity_{name}_finite_diff"] = data[f"fd_{name}"]
    return cols


def plot(data, cfg):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    x = data["ratio"]
    for i, name in enumerate(PARAMS):
        color = f"C{i}"
        ax.plot(x, data[f"ad_{name}"], "-", color=color, label=f"θ = {LABELS[name]} (jax.grad)")
        ax.plot(x[::3], data[f"fd_{name}"][::3], "o", mfc="none", color=color, ms=4)
    ax.plot([], [], "o", mfc="none", color="k", label="finite differences")
    ax.axhline(0, color="gray", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("AI scale ξ relative to the threshold (β_A/β_H = (ξ/ξ₀)^α)")
    ax.set_ylabel("elasticity ∂log H/∂log θ")
    ax.set_title("Sensitivity of rectified total harm along the scaling path")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    errs = []
    for name in PARAMS:
        ad, fd = data[f"ad_{name}"], data[f"fd_{name}"]
        errs.append(float(np.max(np.abs(ad - fd) / np.maximum(np.abs(fd), 1e-3))))
    # Richardson central differences: truncation ~ step⁴, rounding ~ eps/step (in log H).
    tol = 50 * (cfg.fd_step**4 + float(data["eps"]) / cfg.fd_step) + 1e-3
    out = [Claim(
        SOURCE, "Gradients of total harm by autodiff (through root solves and special functions) match finite differences",
        "max relative difference, " + ", ".join(f"{LABELS[n]}: {e:.2g}" for n, e in zip(PARAMS, errs)) + f" (tol {tol:.2g})",
        HOLDS if max(errs) <= tol else FAILS)]
    ed = data["ad_d"]
    far = data["ratio"] >= 10
    out.append(Claim(
        SOURCE, "Harm is proportional to d along the scaling path (elasticity in d ≈ 1)",
        f"∂log H/∂log d ∈ [{ed[far].min():.3f}, {ed[far].max():.3f}] for β_A/β_H ≥ 10 (d = {data['d'][far].min():.0f}…{data['d'][far].max():.0f})",
        HOLDS if np.all(np.abs(ed[far] - 1) <= 0.05) else FAILS))
    eb = data["ad_beta_h"]
    out.append(Claim(
        SOURCE, "More human power lowers harm, most strongly near the threshold (elasticity in β_H)",
        f"∂log H/∂log β_H from {eb[0]:.3g} just past the threshold to {eb[-1]:.3g} at β_A/β_H = {data['ratio'][-1]:.3g}",
        HOLDS if np.all(eb < 0) and abs(eb[0]) > abs(eb[-1]) else FAILS))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
