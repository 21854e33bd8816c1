"""GPU-sized sweeps of the seven scenarios (≥ 10⁶ scenario points each, d up to 10⁶), sharded over every device.

    python experiments/scenario_sweeps.py --out sweeps/ [--scenarios sandbox,growth] [--points 1000000]
        [--max-rounds N] [--chunk 65536] [--float64]

Each scenario's grid crosses its own parameters with d ∈ [10, 10⁶] (log-spaced) and β_A/β_H; the powers
scale with d (β_H = d/50) so that every run needs O(50) rounds whatever d (the default reading is
scale-free: H depends on the powers only through β_A/β_H). Points are evaluated with
`sumjax.sharding.sharded_vmap` in pieces of ``--chunk`` rows, each saved atomically under
OUT/<scenario>/.pieces-*; an interrupted run resumes from the last finished piece. Results:
OUT/<scenario>/<scenario>.npz with the grid and (H, rounds, final E[c], aligned) per point; points that
did not align within ``--max-rounds`` are flagged (aligned = 0), never silently counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

GRIDS = ("sandbox", "repeats", "growth", "deception", "left_turn", "goodharting", "fragility")
# Rounds the grids need (measured at small size: a turn to d₂ = 100·d₁ needs thousands). The scan always runs
# all of them (frozen after alignment), so the cost per point is proportional to this.
ROUNDS = {"sandbox": 1024, "left_turn": 4096}


def grid(name: str, points: int):
    """(rows dict, axes dict) with ≈ `points` rows for scenario `name`."""
    from sumjax.experiments.scenarios import NEUTRAL

    n_d = 13
    dims = np.geomspace(10.0, 1e6, n_d)
    per = max(2, int(round((points / n_d) ** 0.5)))
    ratio = np.linspace(0.5, 4.0, per)
    if name == "sandbox":
        axes = {"d": dims, "coverage": np.linspace(0.0, 1.0, per), "sandbox_rounds": np.linspace(0.0, 100.0, per)}
    elif name == "repeats":
        axes = {"d": dims, "repeats": np.geomspace(1.0, 100.0, per), "ratio": ratio}
    elif name == "growth":
        axes = {"d": dims, "growth": np.geomspace(1e-4, 1.0, per), "ratio": np.linspace(0.1, 1.0, per)}
    elif name == "deception":
        axes = {"d": dims, "rho": np.linspace(0.0, 1.0, per), "deployment": np.geomspace(1.0, 1e4, per)}
    elif name == "left_turn":
        axes = {"d": dims, "d_ratio": np.geomspace(1.0, 100.0, per), "turn_round": np.linspace(0.0, 60.0, per)}
    elif name == "goodharting":
        axes = {"d": dims, "lam": np.geomspace(1e-3, 1.0, per), "ratio": ratio}
    elif name == "fragility":
        axes = {"d": dims, "k_frag": np.geomspace(1.0, 100.0, per), "ratio": ratio}
    else:
        raise ValueError(f"argument `scenarios` entries must be in {GRIDS}; got {name!r}")
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    flat = {k: m.ravel() for k, m in zip(axes, mesh)}
    n = flat["d"].size
    rows = {k: np.full(n, float(v)) for k, v in NEUTRAL.items()}
    rows.update(c_star=np.full(n, 0.8), d=flat["d"])
    rows["beta_h"] = flat["d"] / 50.0
    rows["beta_a"] = flat.get("ratio", np.full(n, 2.0)) * rows["beta_h"]
    for k, v in flat.items():
        if k in rows and k not in ("d",):
            rows[k] = v
    if name == "sandbox":
        rows["beta_s"] = rows["beta_h"]
    if name == "left_turn":
        rows["d_after"] = flat["d_ratio"] * flat["d"]
    if name in ("goodharting",):
        rows["deployment"] = np.full(n, 10.0)
        rows["lam"] = flat["lam"] / np.sqrt(rows["beta_h"])  # λ√β_H fixed across d
    return rows, axes


def _point(p, static):
    from sumjax.alignment import scenarios as S
    from sumjax.experiments.scenarios import EFFECT_FIELDS

    e = S.Effects(**{k: p[k] for k in EFFECT_FIELDS})
    out = S.simulate(e, p["c_star"], p["d"], p["beta_a"], p["beta_h"], max_rounds=int(static["max_rounds"].shape[0]))
    return {"H": out.total, "rounds": out.rounds, "final_mean": out.final_mean,
            "aligned": out.aligned.astype(out.total.dtype)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="scenario-sweeps")
    ap.add_argument("--scenarios", default=",".join(GRIDS))
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--max-rounds", type=int, default=None, help="default 512 (1024 sandbox, 4096 left_turn)")
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.points < 1 or (args.max_rounds is not None and args.max_rounds < 1) or args.chunk < 1:
        raise ValueError("arguments `--points`, `--max-rounds`, `--chunk` must be positive")
    import jax

    from sumjax.experiments import _io
    from sumjax.experiments._base import Context

    with jax.enable_x64(args.float64):
        import jax.numpy as jnp

        dtype = jnp.float64 if args.float64 else jnp.float32
        for name in args.scenarios.split(","):
            rows, axes = grid(name, args.points)
            max_rounds = args.max_rounds or ROUNDS.get(name, 512)
            folder = os.path.join(args.out, name)
            os.makedirs(folder, exist_ok=True)
            ctx = Context(None, seed=0, dtype=dtype, folder=folder, progress=not args.quiet,
                          tag=f"{args.points}-{max_rounds}-{np.dtype(dtype).name}")
            static = {"max_rounds": np.zeros(max_rounds, np.dtype(dtype))}
            t0 = time.perf_counter()
            out = ctx.sweep(name, _point, {k: v.astype(np.dtype(dtype)) for k, v in rows.items()}, chunk=args.chunk,
                            static=static)
            wall = time.perf_counter() - t0
            shape = tuple(len(v) for v in axes.values())
            data = {k: v.reshape(shape) for k, v in out.items()}
            data.update({f"axis.{k}": v for k, v in axes.items()})
            _io.save_npz(os.path.join(folder, f"{name}.npz"), data)
            bad = int(np.sum(out["aligned"] <= 0))
            print(f"{name}: {out['H'].size} points in {wall:.1f}s on {jax.device_count()} device(s); "
                  f"{bad} did not align within --max-rounds {max_rounds}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
