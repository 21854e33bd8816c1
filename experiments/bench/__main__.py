"""`python -m experiments.bench [--size tiny|small|full] [--only KERNEL ...] [--out FILE.json]`

Times each sumjax kernel against its best peer (SciPy/NumPy written as a competent user would, and TFP-JAX where it
serves) in the same process, on the same inputs, and prints one table: sumjax compile time, steady state (best /
median), peer time, speed-up, a limit column (a bare pass of the work the kernel cannot avoid, measured in the same
run, and the kernel's fraction of it), the first call in a fresh process (cold and with a warm persistent
compilation cache) against the peer's one call, and the largest difference between the two on points where the
peer is finite. Writes the table as JSON and markdown (same stem).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--size", choices=["tiny", "small", "full", "gpu"], default="full")
    parser.add_argument("--only", action="append", metavar="KERNEL", help="run only this kernel (repeatable)")
    parser.add_argument("--out", default="results/bench/bench.json", help="JSON path; markdown beside it (.md)")
    parser.add_argument("--float32", action="store_true", help="run sumjax in float32 (default: float64)")
    parser.add_argument("--list", action="store_true", help="list the kernels and exit")
    parser.add_argument("--skip-memory", action="store_true",
                        help="skip the fresh-process Monte Carlo memory probe (d = 1e5, N = 1e4 at --size full)")
    parser.add_argument("--skip-first-call", action="store_true",
                        help="skip the fresh-process first-call probes (two subprocesses per kernel)")
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", not args.float32)

    from . import harness, kernels

    kernels.OPTIONS["memory_probe"] = not args.skip_memory
    kernels.OPTIONS["first_call"] = not args.skip_first_call
    if args.list:
        for name, fn in kernels.KERNELS.items():
            print(f"{name:22s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0
    names = args.only or list(kernels.KERNELS)
    unknown = [n for n in names if n not in kernels.KERNELS]
    if unknown:
        parser.error(f"unknown kernel(s) {unknown}; choose from {list(kernels.KERNELS)}")

    env = harness.environment()
    command = "python -m experiments.bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    print(f"device: {env['device']}  devices: {env['devices']}  backend: {env['backend']}", flush=True)
    print(f"cpu cores: {env['cpu_count']}  load (1/5/15 min): {env['loadavg_1_5_15']}  float64: {env['x64']}",
          flush=True)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        print(f"[{name}] running at size {args.size} ...", flush=True)
        for row in kernels.run_kernel(name, args.size):
            rows.append(row)
            print(f"[{row.kernel}] done in {time.perf_counter() - t0:.1f} s: " + _summary(row), flush=True)
        harness.write_outputs(rows, env, args.out, command)  # after each kernel: a cut-short run keeps its rows
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(harness.to_markdown(rows, env, command))
    json_path, md_path = harness.write_outputs(rows, env, args.out, command)
    print(f"wrote {json_path} and {md_path}")
    return 0


def _summary(row) -> str:
    if row.peer_s is None and row.max_abs_diff is None and row.points == 0:
        return row.notes
    sp = "—" if row.speedup is None else f"{row.speedup:.1f}x"
    frac = "—" if row.limit_fraction is None else f"{row.limit_fraction:.0%}"
    warm = (row.first_call.get("warm") or {}).get("first_call_s")
    return (f"compile {row.compile_s:.2f} s, run {row.sumjax_s:.4g} s, peer {row.peer_s if row.peer_s is None else f'{row.peer_s:.4g} s'}"
            f", speed-up {sp}, limit/run {frac}, warm first call {warm}, max abs diff {row.max_abs_diff}, "
            f"max rel diff {row.max_rel_diff}")


if __name__ == "__main__":
    raise SystemExit(main())
