"""The `sumjax` command: `sumjax list`, `sumjax run NAME`, `sumjax reproduce`, `sumjax report`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

__all__ = ["main"]


def _cmd_list(args) -> int:
    from .experiments import EXPERIMENTS, get

    for name in EXPERIMENTS:
        module = get(name)
        print(f"{name:22s} {module.SOURCE:17s} {module.TITLE}")
    return 0


def _cmd_run(args, rest) -> int:
    from .experiments import experiment_main, get

    return experiment_main(get(args.name), rest)


def _cmd_reproduce(args) -> int:
    from .experiments import EXPERIMENTS, config_from, get, run_experiment
    from .report import build_report

    from .experiments._base import _is_writer, maybe_initialize_distributed

    maybe_initialize_distributed(args)
    names = list(EXPERIMENTS) if not args.only else list(dict.fromkeys(args.only))
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        print(f"unknown experiment(s): {', '.join(unknown)}; `sumjax list` shows them", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = []
    for name in names:
        module = get(name)
        meta = run_experiment(module, config_from(module, full=args.full), args.out, seed=args.seed,
                              float64=args.float64, force=args.force, progress=not args.quiet)
        rows.append((name, meta))
    total = time.perf_counter() - t0
    if not _is_writer():  # pragma: no cover - several hosts: process 0 writes the report
        return 0
    command = "sumjax " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None
    path = build_report(args.out, names, command=command, total_wall_s=total)
    print(f"{'experiment':22s} {'status':12s} {'compute s':>9s}")
    for name, meta in rows:
        status = "skipped" if meta.get("skipped") else meta["status"]
        print(f"{name:22s} {status:12s} {meta.get('wall_compute_s', float('nan')):9.2f}"
              + (f"  ({meta['reason']})" if meta.get("reason") else ""))
    print(f"total {total:.1f} s; report: {path}")
    failed = [n for n, m in rows if m["status"] == "failed"]
    return 1 if failed else 0


def _cmd_report(args) -> int:
    from .report import build_report

    print(build_report(args.out))
    return 0


def _parser() -> argparse.ArgumentParser:
    from .experiments._base import add_common_flags

    parser = argparse.ArgumentParser(
        prog="sumjax",
        description="Statistical Utility Mechanics and guarded learning: run the experiments behind every figure.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("list", help="list the experiments (one per figure)")
    rep = sub.add_parser("reproduce", help="run every experiment and write an HTML report with the claims table")
    add_common_flags(rep)
    rep.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    run = sub.add_parser("run", help="run one experiment with its own size flags (`sumjax run NAME --help`)",
                         add_help=False)
    run.add_argument("name", help="experiment name (see `sumjax list`)")
    rp = sub.add_parser("report", help="rebuild report.html from the outputs already in --out")
    rp.add_argument("--out", default="sumjax-out", help="output folder (default sumjax-out)")
    return parser


def main(argv=None) -> int:
    """Entry point of the `sumjax` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv[:1] == ["run"]:
        if len(argv) < 2 or argv[1].startswith("-"):
            print("usage: sumjax run NAME [flags]   (`sumjax list` shows the names)", file=sys.stderr)
            return 2
        args = argparse.Namespace(name=argv[1])
        return _cmd_run(args, argv[2:])
    args = parser.parse_args(argv)
    if args.command == "list":
        return _cmd_list(args)
    if args.command == "reproduce":
        return _cmd_reproduce(args)
    return _cmd_report(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
