"""The `sumjax` command: `sumjax list`, `sumjax run NAME`, `sumjax reproduce`, `sumjax report`.

`sumjax --help` and `sumjax --version` import neither JAX nor the experiments. Every usage
error (an unknown experiment, a flag value outside its range, a changed configuration
without `--force`, an output folder that cannot be written, a report folder without
results) is one line on stderr and exit status 2, before anything is computed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

__all__ = ["main"]

_DESCRIPTION = "Statistical Utility Mechanics and guarded learning: run the experiments behind every figure."


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def _version() -> str:
    from . import __version__

    return __version__


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _cmd_list(args) -> int:
    from .experiments import EXPERIMENTS, get

    for name in EXPERIMENTS:
        module = get(name)
        print(f"{name:22s} {module.SOURCE:17s} {module.TITLE}")
    return 0


def _run_help() -> str:
    from .experiments import EXPERIMENTS, get

    lines = ["usage: sumjax run NAME [flags]   (`sumjax run NAME --help` shows NAME's flags and their ranges)",
             "", "Run one experiment and print its claims. Experiments:"]
    for name in EXPERIMENTS:
        lines.append(f"  {name:22s} {get(name).TITLE}")
    return "\n".join(lines)


def _cmd_run(argv) -> int:
    from .experiments import EXPERIMENTS, experiment_main, get

    if not argv or argv[0] in ("-h", "--help"):
        print(_run_help(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name = argv[0]
    if name not in EXPERIMENTS:
        return _fail("sumjax run", f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return experiment_main(get(name), argv[1:], prog=f"sumjax run {name}")


def _cmd_reproduce(args) -> int:
    from .experiments import EXPERIMENTS, _io, config_from, get, run_experiment
    from .experiments._base import (ConfigError, ConfigMismatch, OutputError, _is_writer, check_existing,
                                    setup_from_flags)
    from .report import build_report

    prog = "sumjax reproduce"
    names = list(EXPERIMENTS) if not args.only else list(dict.fromkeys(args.only))
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        return _fail(prog, f"unknown experiment(s) {', '.join(map(repr, unknown))}; choose from {', '.join(EXPERIMENTS)}")
    try:
        # Everything that can be refused is refused before the first computation.
        configs = {name: config_from(get(name), full=args.full) for name in names}
        _io.check_writable(args.out)
        if not args.force:
            for name in names:
                check_existing(get(name), configs[name], args.out, seed=args.seed, float64=args.float64)
        setup_from_flags(args)
        t0 = time.perf_counter()
        rows = []
        for name in names:
            meta = run_experiment(get(name), configs[name], args.out, seed=args.seed, float64=args.float64,
                                  force=args.force, progress=not args.quiet)
            rows.append((name, meta))
        total = time.perf_counter() - t0
        if not _is_writer():  # pragma: no cover - several hosts: process 0 writes the report
            return 0
        command = "sumjax " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else None
        # Every experiment in the folder, not only those of this command.
        path = build_report(args.out, command=command, total_wall_s=total)
    except (ConfigError, ConfigMismatch, OutputError) as exc:
        return _fail(prog, str(exc))
    except OSError as exc:
        return _fail(prog, f"cannot write to {exc.filename or args.out!r}: {exc.strerror or exc}")
    print(f"{'experiment':22s} {'status':12s} {'compute s':>9s}")
    for name, meta in rows:
        status = "skipped" if meta.get("skipped") else meta["status"]
        print(f"{name:22s} {status:12s} {meta.get('wall_compute_s', float('nan')):9.2f}"
              + (f"  ({meta['reason']})" if meta.get("reason") else ""))
    print(f"total {total:.1f} s; report: {path}")
    failed = [n for n, m in rows if m["status"] == "failed"]
    return 1 if failed else 0


def _cmd_report(args) -> int:
    from .report import NoResults, build_report, claims_markdown, collect_claims, update_readme

    try:
        print(build_report(args.out))
        if args.readme:
            with open(args.readme, encoding="utf-8") as fh:
                text = fh.read()
            try:
                text = update_readme(text, claims_markdown(collect_claims(args.out)[0],
                                                           command=f"sumjax reproduce --out {args.out}"))
            except ValueError as exc:
                return _fail("sumjax report", str(exc))
            with open(args.readme, "w", encoding="utf-8") as fh:
                fh.write(text)
            print(f"updated the claims section of {args.readme}")
    except NoResults as exc:
        return _fail("sumjax report", str(exc))
    except OSError as exc:
        return _fail("sumjax report", f"cannot write to {exc.filename or args.out!r}: {exc.strerror or exc}")
    return 0


def _parser(with_flags: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(prog="sumjax", description=_DESCRIPTION,
                     epilog="`sumjax run --help` lists the experiments; `sumjax COMMAND --help` shows a command's flags.")
    parser.add_argument("--version", action="version", version=f"sumjax {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    sub.add_parser("list", help="list the experiments (one per figure)")
    rep = sub.add_parser("reproduce", help="run every experiment and write an HTML report with the claims table")
    if with_flags:  # the common flags live with the experiments; `sumjax --help` does not need them
        from .experiments._base import add_common_flags

        add_common_flags(rep)
    rep.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    sub.add_parser("run", help="run one experiment with its own size flags (`sumjax run --help` lists them)",
                   add_help=False)
    rp = sub.add_parser("report", help="rebuild report.html from every experiment already in --out")
    rp.add_argument("--out", default="sumjax-out", help="output folder (default sumjax-out)")
    rp.add_argument("--readme", metavar="FILE", help="also rewrite FILE's generated claims section from these results")
    return parser


def main(argv=None) -> int:
    """Entry point of the `sumjax` console script (and of `python -m sumjax`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return _cmd_run(argv[1:])
    # Top-level help and version without importing the experiments (nor JAX).
    top_only = not argv or argv[0].startswith("-")
    args = _parser(with_flags=not top_only).parse_args(argv)
    if args.command == "list":
        return _cmd_list(args)
    if args.command == "reproduce":
        return _cmd_reproduce(args)
    return _cmd_report(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
