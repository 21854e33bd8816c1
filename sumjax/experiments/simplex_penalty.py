"""Guarded learning, three utilities: f_t, the penalty and the action value over Δ².

Value map: m policies whose value vectors fill the positive octant of the ellipsoid
V = (a·x, b·y, c·z), |(x, y, z)| = 1. At a fixed U_t, for every w' of a barycentric grid:
forcing U_{t+1} = w' (value g_{w'}(U_t), penalty g_{w'}(U_t) − f(w')), and the informative
but possibly biased update that lands on vertex v_i with probability w'_i (EU = w'; value
Σ w'_i f(v_i) + penalty). The grid is a parameter sweep sharded over the devices.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "simplex_penalty"
TITLE = "Guarded learning with three utilities: penalty and action value over the 2-simplex"
SOURCE = "Guarded learning"
CAPTION = (
    "Over Δ² (vertices v₀, v₁, v₂; ★ = U_t): f_t; the value g_{w'}(U_t) of forcing U_{t+1} = w' (largest at w' = U_t); "
    "the penalty of that forcing (zero contour dashed; positive in places); the value of the informative update that "
    "lands on v_i with probability w'_i (dashed contour: f(U_t); only w' near U_t beat it, and exactly w' = U_t is unbiased)."
)


@dataclasses.dataclass(frozen=True)
class Config:
    policy_resolution: int = 30  # policies: directions from a barycentric grid of this resolution
    grid_resolution: int = 40  # points of Δ² swept
    axes: tuple[float, ...] = (1.0, 0.7, 0.4)  # ellipsoid semi-axes a, b, c
    u_t: tuple[float, ...] = (0.4, 0.35, 0.25)
    chunk: int = 256  # sweep piece size


# The supporting-line check is all pairs (grid²·policies): 150 → 11 476 points, 1891 policies.
FULL = {"policy_resolution": 60, "grid_resolution": 150, "chunk": 2048}


def requires() -> None:
    require("sumjax.guarded", "f", "g", "penalty", "action_value", "forced_update_value")


def barycentric(resolution: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(resolution + 1), np.arange(resolution + 1), indexing="ij")
    keep = i + j <= resolution
    i, j = i[keep], j[keep]
    return np.stack([i, j, resolution - i - j], -1).astype(np.float64) / resolution


def cartesian(w: np.ndarray) -> np.ndarray:
    return np.stack([w[..., 1] + 0.5 * w[..., 2], np.sqrt(3) / 2 * w[..., 2]], -1)


def value_map(resolution: int, axes) -> np.ndarray:
    d = barycentric(resolution)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return d * np.asarray(axes)


def _kernels(family):
    """f, g, forced_update_value, penalty, action_value of `sumjax.guarded` on a checked `family`,
    from its unchecked cores: the weights are not re-checked with `error_if` (a host callback), so
    the compiled program is stored in the persistent cache. Callers pass points on the simplex."""
    import types

    import jax.numpy as jnp

    from ..guarded import learning as L

    def action(core):
        def fn(u_t, outcomes, probs):
            batch = jnp.broadcast_shapes(u_t.shape[:-1], outcomes.shape[:-2], probs.shape[:-1])
            return L._run_action(core, family, u_t, outcomes, probs, batch)
        return fn

    return types.SimpleNamespace(
        f=lambda w: L._run(L._op_f, family, w),
        g=lambda v, w: L._run(L._op_g, family, v, w),
        forced_update_value=lambda u_t, w_prime: L._run(L._op_forced, family, u_t, w_prime),
        penalty=action(L._core_penalty),
        action_value=action(L._core_action_value),
    )


def _point(p, static):
    import jax
    import jax.numpy as jnp

    G = _kernels(static["values"])
    grid, u_t = static["grid"], static["u_t"]
    w = p["w"]
    dt = w.dtype
    one = jnp.ones((1,), dt)
    verts = jnp.eye(3, dtype=dt)
    f_w = G.f(w)
    forced = G.forced_update_value(u_t, w)
    return {
        "f": f_w,
        "forced_value": forced,
        "forced_penalty": G.penalty(u_t, w[None], one),
        "info_value": G.action_value(u_t, verts, w),
        "info_penalty": G.penalty(u_t, verts, w),
        # f(w) − g_v(w) for every v of the grid: the supporting-line gap at this w.
        "min_gap": jnp.min(jax.vmap(lambda v: f_w - G.g(v, w))(grid)),
    }


def compute(ctx) -> dict:
    cfg = ctx.cfg
    grid = barycentric(cfg.grid_resolution)
    u_t = np.asarray(cfg.u_t, dtype=np.float64)
    u_t = u_t / u_t.sum()
    # Append U_t itself: there the informative update is exactly unbiased.
    points = np.concatenate([grid, u_t[None]], 0)
    from ..guarded import FinitePolicies

    static = {
        # Checked once here, eagerly; the compiled point then runs the unchecked cores.
        "values": FinitePolicies(ctx.asarray(value_map(cfg.policy_resolution, cfg.axes))),
        "grid": ctx.asarray(grid),
        "u_t": ctx.asarray(u_t),
    }
    out = ctx.sweep("grid", _point, {"w": np.asarray(points, dtype=np.dtype(ctx.dtype))}, chunk=cfg.chunk, static=static)
    import jax

    f_ut = np.asarray(jax.jit(lambda u, fam: _kernels(fam).f(u))(static["u_t"], static["values"]))
    data = {k: v[:-1] for k, v in out.items()}
    data.update({f"at_ut_{k}": v[-1] for k, v in out.items()})
    data.update(w=grid, u_t=u_t, f_ut=f_ut, eps=np.finfo(out["f"].dtype).eps)
    return data


def table(data) -> dict:
    cols = {"w0": data["w"][:, 0], "w1": data["w"][:, 1], "w2": data["w"][:, 2]}
    for k in ("f", "forced_value", "forced_penalty", "info_value", "info_penalty", "min_gap"):
        cols[k] = data[k]
    return cols


def plot(data, cfg):
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri

    xy = cartesian(data["w"])
    tri = mtri.Triangulation(xy[:, 0], xy[:, 1])
    star = cartesian(data["u_t"])
    f_ut = float(data["f_ut"])
    panels = [
        ("f", "$f_t(w)$", "viridis", None, "$f_t(w)$ (expected utility)"),
        ("forced_value", "forcing $U_{t+1}=w'$: $g_{w'}(U_t)$", "viridis", f_ut, "value of forcing $w'$ (expected utility)"),
        ("forced_penalty", "penalty of forcing $w'$", "RdBu_r", 0.0, "penalty (expected utility)"),
        ("info_value", "update to $v_i$ w.p. $w'_i$: value", "viridis", f_ut, "value of the update (expected utility)"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for ax, (key, title, cmap, level, unit) in zip(axes, panels):
        z = data[key]
        kw = {}
        if cmap == "RdBu_r" and np.min(z) < 0 < np.max(z):
            from matplotlib.colors import TwoSlopeNorm

            kw = dict(norm=TwoSlopeNorm(vmin=float(np.min(z)), vcenter=0.0, vmax=float(np.max(z))))
        cs = ax.tricontourf(tri, z, levels=24, cmap=cmap, **kw)
        if level is not None and np.min(z) < level < np.max(z):
            ax.tricontour(tri, z, levels=[level], colors="k", linestyles="--", linewidths=1)
        cbar = fig.colorbar(cs, ax=ax, shrink=0.8)
        cbar.set_label(unit, fontsize=8)
        ax.plot(*star, "*", color="white", mec="k", mew=1.5, ms=15)  # visible on every colour map, and in greyscale
        for (x, y), lab in zip(cartesian(np.eye(3)), ("$v_0$", "$v_1$", "$v_2$")):
            ax.annotate(lab, (x, y), textcoords="offset points", xytext=(0, -12 if y == 0 else 4), ha="center")
        ax.set_title(title, fontsize=10, pad=16)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(f"Three utilities, value ellipsoid axes {tuple(cfg.axes)}, ★ U_t = ({', '.join(f'{x:.3g}' for x in data['u_t'])})")
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    tol = 64 * float(data["eps"])
    n = len(data["f"])
    out = []
    gap = float(np.min(data["min_gap"]))
    out.append(Claim(SOURCE, "f_t is convex: above every line g_v (3 utilities)",
                     f"min f(w) − g_v(w) over {n}² grid pairs = {gap:.3g} (tol {tol:.1g})",
                     HOLDS if gap >= -tol else FAILS))
    f_ut = float(data["f_ut"])
    fmax = float(np.max(data["forced_value"]))
    out.append(Claim(SOURCE, "Forcing U_{t+1} = w' is worth g_{w'}(U_t) ≤ f(U_t) (3 utilities)",
                     f"max over {n} grid w' of g_{{w'}}(U_t) − f(U_t) = {fmax - f_ut:.3g}",
                     HOLDS if fmax - f_ut <= tol else FAILS))
    pen0 = float(data["at_ut_info_penalty"])
    gain = float(data["at_ut_info_value"]) - f_ut
    out.append(Claim(SOURCE, "Penalty 0 and value ≥ f(U_t) for the unbiased informative update (3 utilities)",
                     f"update to v_i w.p. U_t,i: penalty {pen0:.3g}, value − f(U_t) = {gain:.4g}",
                     HOLDS if abs(pen0) <= tol and gain >= -tol else FAILS))
    frac = float(np.mean(data["forced_penalty"] > tol))
    beat = float(np.mean(data["info_value"] > f_ut + tol))
    n_forced_beat = int(np.sum(data["forced_value"] > f_ut + tol))
    # Biased informative updates against the unbiased one (w' = U_t): does bias itself pay?
    bias_gain = float(np.max(data["info_value"])) - float(data["at_ut_info_value"])
    if n_forced_beat > 0:
        verdict = FAILS
    else:
        verdict = HOLDS if frac > 0 else CAVEAT
    out.append(Claim(SOURCE, "The penalty can be positive, yet biased updates gain only with information (3 utilities)",
                     f"forced penalty > 0 on {100 * frac:.1f}% of Δ²; informative biased updates beating f(U_t): "
                     f"{100 * beat:.1f}% of Δ²; forced updates beating f(U_t): {n_forced_beat} of {n}; "
                     f"best biased informative update − unbiased one: {bias_gain:+.3g}",
                     verdict,
                     ("" if frac > 0 else "no positive penalty on this value map; ") +
                     "whether a biased update beats the unbiased one is the guarded_bias experiment's search"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
