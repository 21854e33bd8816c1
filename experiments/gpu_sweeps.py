"""GPU-size sweeps: every experiment at paper size, sharded over all devices, resumable.

    python experiments/gpu_sweeps.py --list                         # configurations and sizes, no JAX work
    python experiments/gpu_sweeps.py --out results/gpu              # all of them (float64), then a report
    python experiments/gpu_sweeps.py --out results/gpu --only harm_vs_dim cosine_mean
    python experiments/gpu_sweeps.py --out results/gpu --set harm_vs_dim.mc_trials=100000
    python experiments/gpu_sweeps.py --out results/gpu --max-minutes 20   # stop after ~20 min; rerun to go on

Each configuration is an experiment's `FULL` sizes (the paper-sized sweeps) plus the overrides
in `GPU` below. Every sweep goes through `Context.sweep`, i.e. `sumjax.sharding.sharded_vmap`:
the points are split over a 1-D mesh of every visible device (8 GPUs are used unchanged), in
pieces saved atomically under `OUT/NAME/.pieces-*`. Rerunning the same command after an
interruption (or a `--max-minutes` stop) verifies and skips finished experiments and resumes a
sweep from its saved pieces. Several hosts: start the same command on every host with
`--distributed` and `--out` on a shared file system. `sumjax report --out OUT` rebuilds the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

# Overrides on top of each experiment's FULL sizes: larger pieces (a GPU is fed in big
# batches) and, where the text's claim is about a limit, a wider range than FULL.
GPU: dict[str, dict] = {
    "cosine_mean": {"chunk": 1024},
    "required_divergence": {"chunk": 4096},
    "harm_vs_dim": {"chunk": 2048, "mc_chunk": 1},
    "harm_vs_power": {"chunk": 4096},
    "scaling": {"chunk": 8192},
    "two_utilities": {},
    "simplex_penalty": {"chunk": 4096},
    "sensitivity": {"chunk": 512},
    "baselines": {"chunk": 256},
}


class _SetError(ValueError):
    pass


def _parse_set(items, names):
    from sumjax.experiments._base import _parse_value

    from sumjax.experiments import get

    out: dict[str, dict] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot or name not in names:
            raise _SetError(f"--set {item!r}: expected NAME.FIELD=VALUE with NAME one of {', '.join(names)}")
        fields = {f.name: f for f in dataclasses.fields(get(name).Config)}
        if field not in fields:
            raise _SetError(f"--set {item!r}: {name} has no field {field!r}; fields: {', '.join(fields)}")
        try:
            out.setdefault(name, {})[field] = _parse_value(text, fields[field].default)
        except argparse.ArgumentTypeError as exc:
            raise _SetError(f"--set {item!r}: {exc}") from None
    return out


def configurations(names, extra=None) -> dict:
    """name -> validated Config: FULL, then GPU, then `extra` overrides."""
    from sumjax.experiments import config_from, get

    extra = extra or {}
    return {name: config_from(get(name), full=True, **{**GPU.get(name, {}), **extra.get(name, {})}) for name in names}


def main(argv=None) -> int:
    from sumjax.experiments import EXPERIMENTS, get
    from sumjax.experiments._base import (ConfigError, ConfigMismatch, OutputError, _io, check_existing,
                                          run_experiment, setup_from_flags)

    parser = argparse.ArgumentParser(prog="gpu_sweeps.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="sumjax-gpu", help="output folder (default sumjax-gpu)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(EXPERIMENTS), help="run only these")
    parser.add_argument("--set", action="append", metavar="NAME.FIELD=VALUE", help="override one size (repeatable)")
    parser.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="recompute finished experiments / replace another configuration")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="start no new experiment after this many minutes (rerun to continue)")
    parser.add_argument("--list", action="store_true", help="print the configurations and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache")
    parser.add_argument("--distributed", action="store_true", help="several hosts: jax.distributed.initialize() first")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.only or EXPERIMENTS))
    float64 = not args.float32
    try:
        cfgs = configurations(names, _parse_set(args.set, list(EXPERIMENTS)))
    except (ConfigError, _SetError) as exc:
        print(f"gpu_sweeps.py: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for name, cfg in cfgs.items():
            small = get(name).Config()
            changed = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(small, f.name)}
            print(f"{name:20s} " + ", ".join(f"{k}={v}" for k, v in changed.items()))
        return 0
    try:
        _io.check_writable(args.out)
        if not args.force:
            for name in names:
                check_existing(get(name), cfgs[name], args.out, seed=args.seed, float64=float64)
    except (ConfigMismatch, OutputError) as exc:
        print(f"gpu_sweeps.py: error: {exc}", file=sys.stderr)
        return 2
    setup_from_flags(args)
    import jax

    from sumjax.sharding import sweep_mesh

    mesh = sweep_mesh()
    print(f"sharding every sweep over {mesh.devices.size} device(s): {', '.join(sorted({d.device_kind for d in mesh.devices.flat}))}",
          file=sys.stderr)
    t0, status = time.perf_counter(), {}
    for name in names:
        if args.max_minutes is not None and time.perf_counter() - t0 > 60 * args.max_minutes:
            print(f"--max-minutes reached; not started: {', '.join(n for n in names if n not in status)}. "
                  "Rerun the same command to continue.", file=sys.stderr)
            break
        meta = run_experiment(get(name), cfgs[name], args.out, seed=args.seed, float64=float64, force=args.force,
                              progress=not args.quiet)
        status[name] = "skipped" if meta.get("skipped") else meta["status"]
        print(f"{name:20s} {status[name]:12s} {meta.get('wall_compute_s', float('nan')):9.1f} s", flush=True)
    if jax.process_index() == 0 and status:
        from sumjax.report import build_report

        print(f"report: {build_report(args.out, title='sumjax GPU sweeps')}")
    return 0 if all(s in ("complete", "skipped") for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
