"""Guarded learning, two utilities: f_t, its chord, the lines g_{v0}, g_{v1}, and the updates.

The text's picture on Δ¹ = [0, 1] (x = weight on v₁): the convex f_t (green), the chord
between f_t(v₀) and f_t(v₁) (blue), E(v|π_{v₀}) and E(v|π_{v₁}) (purple, yellow), and at
U_t = ½v₀ + ½v₁ the unbiased informative update (on the chord), the slightly biased
0.51/0.49 update, the forced updates to v₀ and to ¼v₀ + ¾v₁ without (red) and with (orange)
the penalty. The value map: m policies with V(θ) = (cos θ, b·sin θ), θ ∈ [0, π/2] — an
elliptic arc (b < 1 makes v₁ harder to satisfy, which is where the text's positive penalty
appears; with b = 1 the same point gets a negative penalty, which is also measured).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._base import CAVEAT, FAILS, HOLDS, Claim, require

NAME = "two_utilities"
TITLE = "Guarded learning with two utilities: f_t, chords, forced and penalised updates"
SOURCE = "Guarded learning"
CAPTION = (
    "Left: f_t (green) over Δ¹, the chord (blue), g_{v0} (purple) and g_{v1} (yellow); at U_t = ½v₀+½v₁: the "
    "informative unbiased update (blue dot), the 0.51/0.49 update (green dot), forced updates to v₀ and ¼v₀+¾v₁ "
    "without (red) and with (orange) the penalty. Right: value of forcing U_{t+1} = w' without penalty f(w') and "
    "with it g_{w'}(U_t) ≤ f(U_t), and the penalty itself."
)


@dataclasses.dataclass(frozen=True)
class Config:
    n_policies: int = 513  # points on the elliptic arc of value vectors
    n_grid: int = 201  # points of Δ¹ for the curves and the pairwise checks
    ellipse_b: float = 0.4  # V(θ) = (cos θ, b sin θ)
    n_random_actions: int = 2000  # random unbiased actions for the penalty / information checks
    n_outcomes: int = 4  # possible U_{t+1} per random action


FULL = {"n_policies": 8193, "n_grid": 2001, "n_random_actions": 200_000}


def requires() -> None:
    require("sumjax.guarded", "f", "g", "penalty", "action_value", "forced_update_value", "FinitePolicies")


def value_map(n_policies: int, b: float) -> np.ndarray:
    theta = np.linspace(0.0, np.pi / 2, n_policies)
    return np.stack([np.cos(theta), b * np.sin(theta)], axis=-1)


def compute(ctx) -> dict:
    import jax

    cfg = ctx.cfg
    p = np.linspace(0.0, 1.0, cfg.n_grid)
    # One compiled program for everything (eager calls would compile hundreds of small ones).
    from ..guarded import FinitePolicies

    # The families are checked here, eagerly; the compiled program runs the unchecked cores.
    out = jax.jit(_core, static_argnums=(3,))(
        FinitePolicies(ctx.asarray(value_map(cfg.n_policies, cfg.ellipse_b))),
        FinitePolicies(ctx.asarray(value_map(cfg.n_policies, 1.0))),
        ctx.asarray(np.stack([1 - p, p], -1)),
        (cfg.n_random_actions, cfg.n_outcomes),
        ctx.key,
    )
    out = {k: np.asarray(v) for k, v in out.items()}
    out["p"] = p
    out["eps"] = np.finfo(out["f"].dtype).eps
    return out


def _core(family, sym_family, w, sizes, key) -> dict:
    import jax
    import jax.numpy as jnp

    from .simplex_penalty import _kernels  # unchecked guarded cores (no error_if: cacheable)

    G, G_sym = _kernels(family), _kernels(sym_family)
    values = family.values
    n_random_actions, n_outcomes = sizes
    dt = values.dtype
    v0, v1 = jnp.asarray([1.0, 0.0], dt), jnp.asarray([0.0, 1.0], dt)
    u_t = jnp.asarray([0.5, 0.5], dt)
    quarter = jnp.asarray([0.25, 0.75], dt)

    f_w = G.f(w)
    f_v0, f_v1, f_ut = G.f(v0), G.f(v1), G.f(u_t)
    chord = (1 - w[:, 1]) * f_v0 + w[:, 1] * f_v1
    g0, g1 = G.g(v0, w), G.g(v1, w)

    # Forced update to every w' of the grid: value without penalty f(w'), with it g_{w'}(U_t).
    forced = G.forced_update_value(u_t, w)
    forced_pen = jax.vmap(lambda wp: G.penalty(u_t, wp[None], jnp.ones((1,), wp.dtype)))(w)

    # f above every g_v: all grid pairs (v, w) at once.
    gap_lines = jax.vmap(lambda v: f_w - G.g(v, w))(w)
    # Second differences of f on the uniform grid (convexity).
    second_diff = f_w[:-2] - 2 * f_w[1:-1] + f_w[2:]

    def informative(probs):
        outcomes = jnp.stack([v0, v1])
        return G.action_value(u_t, outcomes, jnp.asarray(probs, dt)), G.penalty(u_t, outcomes, jnp.asarray(probs, dt))

    info_value, info_pen = informative([0.5, 0.5])
    green_value, green_pen = informative([0.51, 0.49])
    one = jnp.ones((1,), values.dtype)
    pen_q = G.penalty(u_t, quarter[None], one)
    pen_q_sym = G_sym.penalty(u_t, quarter[None], one)
    pen_v0 = G.penalty(u_t, v0[None], one)

    # Random actions made unbiased by construction: U_t := EU of random outcomes/probs.
    k1, k2 = jax.random.split(key)
    outs = jax.random.dirichlet(k1, jnp.ones(2, values.dtype), (n_random_actions, n_outcomes)).astype(values.dtype)
    probs = jax.random.dirichlet(k2, jnp.ones(n_outcomes, values.dtype), (n_random_actions,)).astype(values.dtype)
    u_rand = jnp.einsum("ak,akj->aj", probs, outs)
    u_rand = u_rand / jnp.sum(u_rand, -1, keepdims=True)
    rand_pen = G.penalty(u_rand, outs, probs)
    rand_gain = G.action_value(u_rand, outs, probs) - G.f(u_rand)
    # Forced updates from random U_t to random w': g_{w'}(U_t) - f(U_t) must be <= 0.
    forced_gap = jax.vmap(lambda u: G.forced_update_value(u, w) - G.f(u))(w)

    return {
        "f": f_w,
        "chord": chord,
        "g_v0": g0,
        "g_v1": g1,
        "forced_value": forced,
        "forced_penalty": forced_pen,
        "f_ut": f_ut,
        "f_v0": f_v0,
        "f_v1": f_v1,
        "info_value": info_value,
        "info_penalty": info_pen,
        "green_value": green_value,
        "green_penalty": green_pen,
        "forced_v0_value": G.forced_update_value(u_t, v0),
        "penalty_v0": pen_v0,
        "f_quarter": G.f(quarter),
        "forced_quarter_value": G.forced_update_value(u_t, quarter),
        "penalty_quarter": pen_q,
        "penalty_quarter_symmetric": pen_q_sym,
        "min_f_minus_lines": jnp.min(gap_lines),
        "max_f_minus_chord": jnp.max(f_w - chord),
        "min_second_difference": jnp.min(second_diff),
        "max_abs_unbiased_penalty": jnp.max(jnp.abs(rand_pen)),
        "min_unbiased_info_gain": jnp.min(rand_gain),
        "max_forced_minus_f": jnp.max(forced_gap),
    }


def table(data) -> dict:
    keys = ("p", "f", "chord", "g_v0", "g_v1", "forced_value", "forced_penalty")
    return {k: data[k] for k in keys}


def plot(data, cfg):
    import matplotlib.pyplot as plt

    p = data["p"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 6.2))
    # Line styles and marker shapes carry the meaning too, so the figure reads in greyscale.
    ax.plot(p, data["f"], color="green", lw=2.5, label="$f_t(w)$")
    ax.plot(p, data["chord"], color="tab:blue", ls="--", label="chord $f_t(v_0)$–$f_t(v_1)$")
    ax.plot(p, data["g_v0"], color="purple", ls="-.", label=r"$g_{v_0}(w) = E(w|\pi_{v_0})$")
    ax.plot(p, data["g_v1"], color="darkgoldenrod", ls=":", lw=2, label=r"$g_{v_1}(w) = E(w|\pi_{v_1})$")
    # g_{w'} is affine on Δ¹ and passes through (w', f(w')) and (U_t, g_{w'}(U_t)): draw it from those two points.
    x_q, x_u = 0.75, 0.5
    slope = (float(data["f_quarter"]) - float(data["forced_quarter_value"])) / (x_q - x_u)
    ax.plot(p, float(data["forced_quarter_value"]) + slope * (p - x_u), color="0.45", lw=1, ls=(0, (5, 2, 1, 2)),
            label=r"$g_{w'}(w)$, $w' = ¼v_0+¾v_1$")
    ax.axvline(x_u, color="0.7", lw=0.6, zorder=0)
    ax.annotate("", xy=(x_u, float(data["info_value"])), xytext=(x_u, float(data["f_ut"])),
                arrowprops=dict(arrowstyle="->", color="green"))
    ax.plot(x_u, data["f_ut"], "ko", label="$f(U_t)$, $U_t=½v_0+½v_1$")
    ax.plot(x_u, data["info_value"], "D", color="tab:blue", mec="k", ms=7, label="unbiased informative update")
    ax.plot(0.49, data["green_value"], "^", color="limegreen", mec="k", ms=7, label="(v₀, 0.51), (v₁, 0.49)")
    ax.plot(0.0, data["f_v0"], "o", color="red", mec="k", ms=8, label="forced to $v_0$: $f(v_0)$")
    ax.plot(x_u, data["forced_v0_value"], "o", color="orange", mec="k", ms=8, label=r"same, with penalty: $g_{v_0}(U_t)$")
    ax.plot(x_q, data["f_quarter"], "s", color="red", mec="k", ms=8, label="forced to $w'$: $f(w')$")
    ax.plot(x_u, data["forced_quarter_value"], "s", color="orange", mec="k", ms=8,
            label=r"same, with penalty: $g_{w'}(U_t)$")
    ax.set_xlabel("weight on $v_1$ (Δ¹: $v_0$ at 0, $v_1$ at 1)")
    ax.set_ylabel("expected utility")
    ax.set_title(f"Two utilities, value arc V(θ)=(cos θ, {cfg.ellipse_b:g} sin θ)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    bx.plot(p, data["f"], color="red", label="forced $U_{t+1}=w'$, no penalty: $f(w')$")
    bx.plot(p, data["forced_value"], color="darkorange", ls="--", lw=2, label="with penalty: $g_{w'}(U_t)$")
    bx.axhline(float(data["f_ut"]), color="k", ls=":", label="$f(U_t)$")
    bx.plot(p, data["forced_penalty"], color="gray", ls="-.", label="penalty")
    bx.axhline(0, color="gray", lw=0.5)
    bx.axvline(0.5, color="k", lw=0.5)
    bx.set_xlabel("forced target $w'$ (weight on $v_1$)")
    bx.set_ylabel("value of the forced update (expected utility)")
    bx.set_title("Forcing the update from $U_t=½v_0+½v_1$")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def claims(data, cfg) -> list[Claim]:
    tol = 64 * float(data["eps"])
    out = []
    lines, chord, d2 = float(data["min_f_minus_lines"]), float(data["max_f_minus_chord"]), float(data["min_second_difference"])
    ok = lines >= -tol and chord <= tol and d2 >= -tol
    out.append(Claim(
        SOURCE, "f_t is convex: above every line g_v, below the chord between two utilities (2 utilities)",
        f"min f−g_v over {cfg.n_grid}² pairs = {lines:.3g}; max f−chord = {chord:.3g}; min 2nd difference = {d2:.3g} (tol {tol:.1g})",
        HOLDS if ok else FAILS))
    pen = float(data["max_abs_unbiased_penalty"])
    out.append(Claim(SOURCE, "The penalty is 0 for an unbiased action (EU_{t+1} = U_t)",
                     f"max |penalty| over {cfg.n_random_actions} random unbiased actions = {pen:.3g}; "
                     f"at the ½/½ informative update {float(data['info_penalty']):.3g}",
                     HOLDS if pen <= tol and abs(float(data["info_penalty"])) <= tol else FAILS))
    gap = float(data["max_forced_minus_f"])
    out.append(Claim(SOURCE, "Forcing U_{t+1} = w' is worth g_{w'}(U_t) ≤ f(U_t) (with the penalty)",
                     f"max g_{{w'}}(U_t) − f(U_t) over {cfg.n_grid}² (U_t, w') pairs = {gap:.3g}",
                     HOLDS if gap <= tol else FAILS))
    pq, pqs = float(data["penalty_quarter"]), float(data["penalty_quarter_symmetric"])
    out.append(Claim(SOURCE, "The penalty can be positive: U_t = ½v₀+½v₁, forced to ¼v₀+¾v₁",
                     f"penalty = {pq:.4g} on the arc with b = {cfg.ellipse_b:g}; {pqs:.4g} on the symmetric arc (b = 1)",
                     (CAVEAT if pqs <= 0 else HOLDS) if pq > tol else FAILS,
                     "its sign depends on the value map: positive where f still decreases at w' towards U_t"))
    gain = float(data["min_unbiased_info_gain"])
    out.append(Claim(SOURCE, "An unbiased informative update is worth Σ p_i f(U^i) ≥ f(U_t)",
                     f"min (action value − f(U_t)) over {cfg.n_random_actions} random unbiased actions = {gain:.3g}",
                     HOLDS if gain >= -tol else FAILS))
    loophole = float(data["info_value"]) - float(data["f_ut"])
    out.append(Claim(SOURCE, "Subagent loophole: at U_t = ½v₀+½v₁, forcing v₀ or v₁ at random (½ each) is unbiased and scores as information",
                     f"action value {float(data['info_value']):.4g} vs f(U_t) = {float(data['f_ut']):.4g} (gain {loophole:.3g}); "
                     f"penalty {float(data['info_penalty']):.2g}",
                     HOLDS if loophole > tol and abs(float(data["info_penalty"])) <= tol else FAILS,
                     "the random forcing is the same lottery over U_{t+1} as an informative update, so the penalty cannot tell them apart"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    import sys

    return experiment_main(sys.modules[__name__], argv)
