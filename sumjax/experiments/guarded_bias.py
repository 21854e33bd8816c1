"""Guarded learning's aim, searched: does any biased value update beat every unbiased one?

The text's first sentence asks for "an incentive to learn its values, but not to bias the direction
in which it learns". For a value map and U_t (the barycentre of n + 1 utilities) an optax search over
lotteries (up to n_max outcomes on Δⁿ, probabilities) maximises the incentive A − C(U_t): the action
value minus the full-information value, the best any unbiased lottery can do (f convex). Families:
finite (random value table), soft (same table, temperature τ) and parametric (V(θ) = a⊙θ − ½|θ|²·1,
π_w by optax ascent; f(w) = ½|a⊙w|²), n + 1 from 2 to 16, all padded to one shape (one compile per
family). The README map (policies (1, .9), (0, 1), (1.2, .8), U_t = ½v₀ + ½v₁) gives the landscape,
the text's green point and the penalty variants (`sumjax.guarded.bias`).
"""

from __future__ import annotations

import dataclasses
import functools
import sys

import numpy as np

from ._base import FAILS, HOLDS, Claim, require

NAME = "guarded_bias"
TITLE = "Guarded learning's aim, searched: the most profitable bias of a value update"
SOURCE = "Guarded learning"
CAPTION = (
    "Left: largest incentive to bias found, A − C(U_t) (action value minus the best unbiased value, full "
    "information), against n + 1, per policy family (text's penalty, solid) and per penalty variant (finite "
    "family, dashed); > 0 means a biased update beats all learning. Middle: action value of the lottery "
    "{v₀ w.p. p, (1−x)v₀ + x v₁ w.p. 1−p} on the README map; white: unbiased lotteries; contour: C(U_t); "
    "★ best biased, ● green point (0.51/0.49), ▲ 0.68/0.32. Right: value of the lottery v₀ w.p. p, v₁ w.p. "
    "1 − p under each penalty variant."
)

FAMILIES = ("finite", "soft", "parametric")
KINDS = ("text", "bregman", "chord", "recentred")
README_VALUES = np.array([[1.0, 0.9], [0.0, 1.0], [1.2, 0.8]])


@dataclasses.dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...] = (2, 3, 4, 8, 16)  # n + 1
    n_policies: int = 24  # rows of the random value table (finite, soft)
    temperature: float = 0.05  # soft family
    parametric_steps: int = 40  # optax steps finding θ_w (sgd 0.5: error 2^-40)
    n_starts: int = 24  # random starts of the search
    steps: int = 250  # Adam steps per start
    learning_rate: float = 0.05
    landscape_resolution: int = 81
    n_forced: int = 128  # random forced targets w' per size (plus the vertices)


FULL = {"sizes": (2, 3, 4, 6, 8, 12, 16, 24, 32), "n_starts": 256, "steps": 1000, "landscape_resolution": 301,
        "n_forced": 4096}


def requires() -> None:
    require("sumjax.guarded", "search_bias", "lottery_value", "full_information_value", "FinitePolicies",
            "SoftPolicies", "ParametricPolicies")


@functools.cache
def _quadratic_map():
    """The class, made once: a fresh class per call would be a new pytree type (a recompile per size)."""
    import equinox as eqx
    import jax.numpy as jnp

    class QuadraticValueMap(eqx.Module):
        """V(θ) = a⊙θ − ½|θ|²·1: w·V(θ) is maximised at θ = a⊙w, f(w) = ½|a⊙w|² (for w ∈ Δⁿ)."""

        a: object

        def __call__(self, theta):
            return self.a * theta - 0.5 * jnp.sum(theta**2)

    return QuadraticValueMap


def families(size: int, n_max: int, cfg, dtype, seed: int, optimiser=None):
    """The three families for n + 1 = `size`, padded to `n_max` utilities (extra columns unused)."""
    import jax.numpy as jnp
    import optax

    from ..guarded import ParametricPolicies, SoftPolicies

    rng = np.random.default_rng([seed, size])
    table = rng.uniform(0.0, 1.0, (cfg.n_policies, n_max))
    table[:, size:] = 0.0
    a = np.zeros(n_max)
    a[:size] = rng.uniform(0.5, 1.5, size)
    qmap = _quadratic_map()(jnp.asarray(a, dtype))
    optimiser = optax.sgd(0.5) if optimiser is None else optimiser
    # The finite family as SoftPolicies at τ = 0 (exactly the finite family, documented there): one
    # pytree structure for both table families, so one compiled search serves them.
    return {
        "finite": SoftPolicies(jnp.asarray(table, dtype), jnp.zeros((), dtype)),
        "soft": SoftPolicies(jnp.asarray(table, dtype), jnp.asarray(cfg.temperature, dtype)),
        "parametric": ParametricPolicies(qmap, jnp.zeros(n_max, dtype), optimiser, cfg.parametric_steps),
    }


def readme_family(cfg, n_max: int, dtype):
    """The README map padded to the search's shape (rows repeated: ties among equal rows are harmless)."""
    import jax.numpy as jnp

    from ..guarded import SoftPolicies

    reps = -(-cfg.n_policies // 3)
    table = np.zeros((cfg.n_policies, n_max))
    table[:, :2] = np.tile(README_VALUES, (reps, 1))[: cfg.n_policies]
    return SoftPolicies(jnp.asarray(table, dtype), jnp.zeros((), dtype))  # τ = 0: the finite family


def _same_support(f_rows, fam, u, outcomes):
    """B(O) by a linear programme (scipy HiGHS); −inf if U_t is outside the outcomes' hull."""
    from scipy.optimize import linprog

    fs = np.asarray(f_rows(fam, outcomes), dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    a_eq = np.vstack([o.T, np.ones((1, o.shape[0]))])
    b_eq = np.concatenate([np.asarray(u, dtype=np.float64), [1.0]])
    res = linprog(-fs, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    return float(-res.fun) if res.status == 0 else float("-inf")


def compute(ctx) -> dict:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    from ..guarded.bias import _full_information, _lottery_value, _search

    cfg, dt = ctx.cfg, ctx.dtype
    sizes = tuple(int(s) for s in cfg.sizes)
    n_max = max(sizes)
    opt = optax.sgd(0.5)  # one object: equal static fields, one compile for every size
    rng0 = np.random.default_rng([ctx.seed, 7])

    def starts():  # the search's random starts (as `bias._initial_logits`, drawn in NumPy: no compile)
        return (jnp.asarray(3.0 * rng0.normal(size=(cfg.n_starts, n_max, n_max)), dt),
                jnp.asarray(rng0.normal(size=(cfg.n_starts, n_max)), dt))

    kid = {k: jnp.asarray(i) for i, k in enumerate(KINDS)}  # traced variant index: one compile for all
    R = cfg.landscape_resolution
    batch = R * R  # every batch of two-outcome lotteries is padded to this length: one compile

    # Values of a batch of two-outcome lotteries (o: (B, 2, n), p: (B, 2)) under a traced variant.
    lot = eqx.filter_jit(lambda fam, u, o, p, kind: jax.vmap(lambda o, p: _lottery_value(fam, u, o, p, kind))(o, p))
    f_at = eqx.filter_jit(lambda fam, w: fam.f(w))
    f_rows = eqx.filter_jit(lambda fam, o: jax.vmap(fam.f)(o))

    def forced_values(fam, u, pts, kind):
        """A(U_t, [w'], [1]) for every row w' of pts, as lotteries (w' w.p. 1, w' w.p. 0), in padded batches."""
        vals = []
        for i in range(0, len(pts), batch):
            chunk = pts[i : i + batch]
            pad = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
            o = jnp.asarray(np.stack([pad, pad], 1), dt)
            p = jnp.asarray(np.tile([1.0, 0.0], (batch, 1)), dt)
            vals.append(np.asarray(lot(fam, u, o, p, kind))[: len(chunk)])
        return np.concatenate(vals)

    shape = (len(FAMILIES), len(sizes))
    out = {k: np.zeros(shape) for k in ("incentive", "slope", "max_slope", "recentred_min", "same_support",
                                        "info_value", "inside_max")}
    out_n = {"n_inside": np.zeros(len(sizes), dtype=np.int64)}
    kshape = (len(KINDS), len(sizes))
    kout = {k: np.zeros(kshape) for k in ("kind_incentive", "kind_max_slope", "kind_forced_gain")}
    best_lottery = {}
    for si, size in enumerate(sizes):
        u = np.zeros(n_max)
        u[:size] = 1.0 / size
        u = jnp.asarray(u, dt)
        active = jnp.arange(n_max) < size
        lo, lp = starts()
        fams = families(size, n_max, cfg, dt, ctx.seed, opt)
        rng = np.random.default_rng([ctx.seed, size, 1])
        pts = np.zeros((cfg.n_forced + size, n_max))
        pts[: cfg.n_forced, :size] = rng.dirichlet(np.ones(size), cfg.n_forced)
        pts[cfg.n_forced :] = np.eye(n_max)[:size]  # the vertices of the face
        # Random two-outcome lotteries, many near the face's boundary; kept where the recentred outcomes
        # U^i + U_t − EU stay in Δⁿ (where the text's penalty provably cannot pay).
        ro = np.zeros((batch, 2, n_max))
        ro[..., :size] = rng.dirichlet(np.full(size, 0.5), (batch, 2))
        rp = rng.dirichlet(np.ones(2), batch)
        rec = ro + (np.asarray(u) - np.einsum("bk,bkj->bj", rp, ro))[:, None, :]
        rand_ok = np.all(rec >= 0, axis=(1, 2))
        rand_o, rand_p = jnp.asarray(ro, dt), jnp.asarray(rp, dt)
        out_n["n_inside"][si] = int(rand_ok.sum())
        results = {}
        for fi, name in enumerate(FAMILIES):
            fam = fams[name]
            # Parametric: a static variant (one branch compiled); the table families share one program.
            kind = "text" if name == "parametric" else kid["text"]
            r = results[name] = _search(fam, u, active, lo, lp, cfg.steps, cfg.learning_rate, kind)
            out["incentive"][fi, si] = float(r.incentive)
            out["slope"][fi, si] = float(r.slope)
            out["max_slope"][fi, si] = float(r.max_slope)
            out["recentred_min"][fi, si] = float(r.recentred_min)
            out["info_value"][fi, si] = float(r.full_information - f_at(fam, u))
            inside = np.asarray(r.recentred_mins) >= 0
            best_inside = float(np.max(np.asarray(r.incentives)[inside])) if inside.any() else -np.inf
            if name != "parametric":  # random two-outcome lotteries with recentred outcomes in Δⁿ (shared compile)
                vals = np.asarray(lot(fam, u, rand_o, rand_p, kid["text"]))[rand_ok]
                best_inside = max(best_inside, float(np.max(vals)) - float(r.full_information))
            out["inside_max"][fi, si] = best_inside
            out["same_support"][fi, si] = float(r.action_value) - _same_support(f_rows, fam, u, r.outcomes)
            best_lottery[f"best_outcomes_{name}_{size}"] = np.asarray(r.outcomes)
            best_lottery[f"best_probs_{name}_{size}"] = np.asarray(r.probs)
        fam = fams["finite"]
        f_ut = float(f_at(fam, u))
        for ki, kind in enumerate(KINDS):
            r = results["finite"] if kind == "text" else _search(fam, u, active, lo, lp, cfg.steps, cfg.learning_rate, kid[kind])
            kout["kind_incentive"][ki, si] = float(r.incentive)
            kout["kind_max_slope"][ki, si] = float(r.max_slope)
            kout["kind_forced_gain"][ki, si] = float(np.max(forced_values(fam, u, pts, kid[kind]))) - f_ut

    # The README map: counterexample, green point, landscape, search, variants.
    fam = readme_family(cfg, n_max, dt)
    u = jnp.asarray(np.r_[0.5, 0.5, np.zeros(n_max - 2)], dt)
    active = jnp.arange(n_max) < 2
    lo, lp = starts()
    full = float(_full_information(fam, u))
    f_ut = float(f_at(fam, u))
    pgrid = np.linspace(0.0, 1.0, R)
    xs = np.linspace(0.0, 1.0, R)
    # Landscape: {v₀ w.p. p, (1 − x)v₀ + x v₁ w.p. 1 − p} over (x, p); x = 1 is the vertex lottery.
    X, P = np.meshgrid(xs, pgrid, indexing="xy")
    outs = np.zeros(X.shape + (2, n_max))
    outs[..., 0, 0] = 1.0
    outs[..., 1, 0], outs[..., 1, 1] = 1 - X, X
    outs = jnp.asarray(outs.reshape(-1, 2, n_max), dt)
    probs = jnp.asarray(np.stack([P, 1 - P], -1).reshape(-1, 2), dt)
    segment = np.zeros((R, n_max))
    segment[:, 0], segment[:, 1] = 1 - pgrid, pgrid
    readme = {}
    for ki, kind in enumerate(KINDS):
        r = _search(fam, u, active, lo, lp, cfg.steps, cfg.learning_rate, kid[kind])
        readme[f"readme_{kind}_incentive"] = float(r.incentive)
        readme[f"readme_{kind}_max_slope"] = float(r.max_slope)
        readme[f"readme_{kind}_forced_gain"] = float(np.max(forced_values(fam, u, segment, kid[kind]))) - f_ut
        surface = np.asarray(lot(fam, u, outs, probs, kid[kind])).reshape(X.shape)
        readme[f"readme_{kind}_curve"] = surface[:, -1]  # x = 1: v₀ w.p. p, v₁ w.p. 1 − p
        if kind == "text":
            land = surface
            readme["readme_best_outcomes"] = np.asarray(r.outcomes)[:, :2]
            readme["readme_best_probs"] = np.asarray(r.probs)
            readme["readme_best_value"] = float(r.action_value)
            readme["readme_slope"] = float(r.slope)
    # The three named vertex lotteries, exactly (not read off the grid).
    named = np.zeros((batch, 2, n_max))
    named[:, 0, 0] = named[:, 1, 1] = 1.0
    pn = np.tile([0.5, 0.5], (batch, 1))
    pn[:3, 0] = [0.68, 0.51, 0.5]
    pn[:3, 1] = 1 - pn[:3, 0]
    counter, green, half = np.asarray(lot(fam, u, jnp.asarray(named, dt), jnp.asarray(pn, dt), kid["text"]))[:3]
    ib = np.unravel_index(np.argmax(land), land.shape)

    data = {
        "sizes": np.asarray(sizes),
        **out,
        **out_n,
        **kout,
        **best_lottery,
        **{k: np.asarray(v) for k, v in readme.items()},
        "readme_full_information": np.asarray(full),
        "readme_f_ut": np.asarray(f_ut),
        "readme_counter_value": np.asarray(counter),
        "readme_green_value": np.asarray(green),
        "readme_half_value": np.asarray(half),
        "land_x": xs,
        "land_p": pgrid,
        "land_value": land,
        "land_best": np.asarray([xs[ib[1]], pgrid[ib[0]], land[ib]]),
        "eps": np.asarray(np.finfo(np.dtype(dt)).eps),
    }
    return data


def table(data) -> dict:
    sizes = data["sizes"]
    cols = {"n_utilities": sizes.astype(float)}
    for fi, name in enumerate(FAMILIES):
        cols[f"incentive_{name}"] = data["incentive"][fi]
        cols[f"max_slope_{name}"] = data["max_slope"][fi]
        cols[f"same_support_incentive_{name}"] = data["same_support"][fi]
    for ki, kind in enumerate(KINDS):
        cols[f"finite_incentive_{kind}"] = data["kind_incentive"][ki]
        cols[f"finite_forced_gain_{kind}"] = data["kind_forced_gain"][ki]
    return cols


def plot(data, cfg):
    import matplotlib.pyplot as plt

    sizes = data["sizes"]
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4.6))
    for fi, name in enumerate(FAMILIES):
        ax.plot(sizes, data["incentive"][fi], "o-", label=f"{name} (text's penalty)")
    for ki, kind in enumerate(KINDS[1:], start=1):
        ax.plot(sizes, data["kind_incentive"][ki], "s--", ms=4, label=f"finite, penalty '{kind}'")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n + 1 utilities")
    ax.set_ylabel("largest A − C(U_t) found")
    ax.set_title("Incentive to bias (> 0: a biased update beats all learning)")
    ax.legend(fontsize=7)

    xs, ps, land = data["land_x"], data["land_p"], data["land_value"]
    cs = bx.pcolormesh(xs, ps, land, shading="auto", cmap="viridis")
    fig.colorbar(cs, ax=bx, shrink=0.85, label="action value")
    full = float(data["readme_full_information"])
    if land.min() < full < land.max():
        bx.contour(xs, ps, land, levels=[full], colors="w", linestyles=":", linewidths=1)
    pu = ps[ps <= 0.5]
    bx.plot(0.5 / (1 - pu), pu, color="w", lw=2, label="unbiased (EU = U_t)")
    x, p, v = data["land_best"]
    bx.plot(x, p, "*", color="gold", mec="k", ms=14, label=f"best biased ({v:.4g})")
    bx.plot(1.0, 0.51, "o", color="limegreen", mec="k", ms=8, label="green point 0.51/0.49")
    bx.plot(1.0, 0.68, "^", color="red", mec="k", ms=8, label="0.68/0.32")
    bx.set_xlabel("second outcome x (weight on $v_1$)")
    bx.set_ylabel("probability p of $v_0$")
    bx.set_title(f"README map, $U_t$ = ½v₀+½v₁; C($U_t$) = {full:.4g}")
    bx.legend(fontsize=7, loc="lower left")

    for kind in KINDS:
        cx.plot(ps, data[f"readme_{kind}_curve"], label=kind)
    cx.axhline(full, color="k", ls=":", label="C(U_t): best unbiased")
    cx.axvline(0.5, color="gray", lw=0.6)
    cx.plot(0.51, float(data["readme_green_value"]), "o", color="limegreen", mec="k")
    cx.set_xlabel("p (lottery v₀ w.p. p, v₁ w.p. 1 − p)")
    cx.set_ylabel("action value")
    cx.set_title("Penalty variants on the README map")
    cx.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- verdicts: pure functions of arrays ---------------------------------------------------------


def tolerance(eps, scale=1.0) -> float:
    """Rounding allowance for values of size `scale` computed in a dtype with machine epsilon `eps`."""
    return 1e3 * float(eps) * max(1.0, float(np.max(np.abs(scale))))


def verdict_no_profitable_bias(incentives, tol: float) -> str:
    """The aim holds iff no searched lottery beats the best unbiased one: max(A − C) ≤ tol."""
    return HOLDS if float(np.max(incentives)) <= tol else FAILS


def verdict_no_first_order_incentive(slopes, tol: float) -> str:
    """Holds iff no bias direction gains at first order at the full-information lottery."""
    return HOLDS if float(np.max(slopes)) <= tol else FAILS


def verdict_green_not_preferred(green_value, unbiased_value, tol: float) -> str:
    """Holds iff the green point is worth no more than the unbiased ½/½ update."""
    return HOLDS if float(green_value) - float(unbiased_value) <= tol else FAILS


def verdict_only_by_leaving_simplex(inside_max, tol: float) -> str:
    """Holds iff every lottery whose recentred outcomes stay in Δⁿ is worth ≤ C(U_t)."""
    return HOLDS if float(np.max(inside_max)) <= tol else FAILS


def passing_kinds(kind_incentive, kind_forced_gain, tol: float) -> list[int]:
    """Indices of penalty variants with no profitable bias and no profitable forcing (every size)."""
    ok = (np.max(kind_incentive, axis=-1) <= tol) & (np.max(kind_forced_gain, axis=-1) <= tol)
    return [int(i) for i in np.flatnonzero(ok)]


def _same_support_note(same_support) -> str:
    finite = np.isfinite(same_support)
    text = f"largest {np.max(same_support[finite]):.3g}" if finite.any() else "none finite"
    if (~finite).any():
        text += f"; on {int(np.sum(~finite))} of {same_support.size} found supports no unbiased lottery exists (U_t outside their hull)"
    return text


def claims(data, cfg) -> list[Claim]:
    tol = tolerance(data["eps"], data["readme_full_information"])
    sizes = [int(s) for s in data["sizes"]]
    out = []
    inc = data["incentive"]
    fi, si = np.unravel_index(np.argmax(inc), inc.shape)
    per_family = "; ".join(f"{n}: {np.max(inc[i]):.3g}" for i, n in enumerate(FAMILIES))
    readme_gain = float(data["readme_counter_value"]) - float(data["readme_half_value"])
    out.append(Claim(
        SOURCE, "Incentive to learn, \"but not to bias the direction in which it learns\": no biased update beats "
        "the best unbiased one (text's penalty)",
        f"largest A − C(U_t) over n+1 ∈ {sizes}: {per_family} (max at {FAMILIES[fi]}, n+1 = {sizes[si]}, "
        f"{inc[fi, si] / max(data['info_value'][fi, si], 1e-300):.2g}× the information value); README map: "
        f"0.68/0.32 worth {float(data['readme_counter_value']):.5g} vs 50/50 {float(data['readme_half_value']):.5g} "
        f"(+{readme_gain:.4g})",
        verdict_no_profitable_bias(np.r_[inc.ravel(), readme_gain], tol),
        "A − C(U_t) ≤ A − B(O), the incentive against the best unbiased lottery on the found lottery's own support: "
        + _same_support_note(data["same_support"])))
    slopes = np.r_[data["max_slope"].ravel(), float(data["readme_text_max_slope"])]
    out.append(Claim(
        SOURCE, "No first-order incentive to bias at the best unbiased (full-information) update",
        f"largest right derivative of A along a bias direction at the full-information lottery: "
        f"{np.max(slopes):.3g} (README map {float(data['readme_text_max_slope']):.3g}, along the found bias "
        f"{float(data['readme_slope']):.3g})",
        verdict_no_first_order_incentive(slopes, tol),
        "text's penalty: slope Σ_j q_j [f(v_j) − λ_j], λ = Σ_j U_t,j V(π_{v_j}); zero only if f(v_j) − λ_j is the same for all j"))
    green_inc = float(data["readme_green_value"]) - float(data["readme_half_value"])
    info = float(data["readme_full_information"]) - float(data["readme_f_ut"])
    out.append(Claim(
        SOURCE, "The green point (v₀ 0.51, v₁ 0.49: \"we probably wouldn't mind\") is tolerated, not preferred to the "
        "unbiased ½/½ update",
        f"README map: green {float(data['readme_green_value']):.5g} vs ½/½ {float(data['readme_half_value']):.5g}: "
        f"incentive {green_inc:+.3g} ({100 * green_inc / info:.2g}% of the information value {info:.3g})",
        verdict_green_not_preferred(data["readme_green_value"], data["readme_half_value"], tol)))
    inside = data["inside_max"]
    out.append(Claim(
        "Beyond the texts", "The text's penalty pays for bias only when recentred outcomes U^i + U_t − EU leave the simplex",
        f"largest A − C(U_t) over lotteries whose recentred outcomes stay in Δⁿ ({int(np.sum(data['n_inside']))} random "
        f"two-outcome lotteries on the finite and soft maps, and the search's ends): {np.max(inside):.3g}; "
        f"the best lotteries' min recentred coordinate: {np.min(data['recentred_min']):.3g}",
        verdict_only_by_leaving_simplex(inside, tol),
        "A = Σ p_i g_{U^i}(U^i + U_t − EU) ≤ Σ p_i f(U^i + U_t − EU) ≤ C(U_t) when every U^i + U_t − EU ∈ Δⁿ"))
    ki, kf = data["kind_incentive"], data["kind_forced_gain"]
    ok = passing_kinds(ki, kf, tol)
    detail = "; ".join(f"{k}: bias {np.max(ki[i]):.3g}, forcing {np.max(kf[i]):.3g}, slope {np.max(data['kind_max_slope'][i]):.3g}"
                       for i, k in enumerate(KINDS))
    out.append(Claim(
        "Beyond the texts", "A simple change to the penalty removes the incentive to bias without rewarding forced updates",
        f"finite family, largest over n+1 of (A − C(U_t); forced gain g − f(U_t); first-order slope): {detail}",
        HOLDS if ok else FAILS,
        (("passes: " + ", ".join(KINDS[i] for i in ok) + ". ") if ok else "") +
        "'chord' (λ_j = f(v_j)) bounds every lottery by C(U_t) but makes forcing a vertex worth C(U_t); "
        "'recentred' evaluates f at the recentred outcomes contracted into Δⁿ"))
    return out


def main(argv=None) -> int:
    from ._base import experiment_main

    return experiment_main(sys.modules[__name__], argv)
