"""Cold against warm persistent compilation cache: CPU time of `sumjax reproduce` in new processes.

    python experiments/cache_check.py                        # all experiments (several minutes)
    python experiments/cache_check.py --only simplex_penalty required_divergence

Runs `sumjax reproduce` four times, each in a new process writing to a new output folder:
cold (empty cache), warm (the same cache), then both again with `EQX_ON_ERROR=nan`, which
compiles `equinox.error_if` checks without their host callback, so those programs can be
cached too (the ceiling the cache can reach). Prints the CPU time (user + system of the
child process), the wall time, the cache entries written (JAX's, and the sweeps sumjax stores
so that a warm run skips tracing them, `sumjax._program_cache`), the programs JAX refused to
cache (host callbacks), and whether every run produced the same claims table and bit-identical
result arrays.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _claims(report: str) -> list[tuple[str, ...]]:
    text = open(report, encoding="utf-8").read()
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td class='\w+'>(.*?)</td>", text)
    return [tuple(html.unescape(c) for c in row) for row in rows]


def _data(out: str) -> dict:
    """Every result array of a run (path relative to its output folder, name) → (dtype, shape, bytes)."""
    import numpy as np

    found = {}
    for root, _, files in os.walk(out):
        for name in files:
            if name.endswith(".npz") and not name.startswith("."):
                path = os.path.join(root, name)
                with np.load(path, allow_pickle=False) as z:
                    for key in z.files:
                        a = z[key]
                        found[(os.path.relpath(path, out), key)] = (str(a.dtype), a.shape, a.tobytes())
    return found


def _run(label: str, work: str, cache: str, only: list[str], eqx_nan: bool) -> dict:
    out = os.path.join(work, f"out-{label}")
    # JAX_EXPLAIN_CACHE_MISSES makes JAX say which programs it does not store, and why.
    env = dict(os.environ, SUMJAX_CACHE_DIR=cache, TQDM_DISABLE="1", JAX_EXPLAIN_CACHE_MISSES="true",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("EQX_ON_ERROR", None)
    if eqx_nan:
        env["EQX_ON_ERROR"] = "nan"
    cmd = [sys.executable, "-m", "sumjax", "reproduce", "--out", out, "--quiet"] + (["--only", *only] if only else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit(f"{label}: `{' '.join(cmd)}` failed ({res.returncode}):\n{res.stderr[-3000:]}")
    entries = sum(len(files) for _, _, files in os.walk(cache))
    programs = os.path.join(cache, "programs")
    stored = len(os.listdir(programs)) if os.path.isdir(programs) else 0
    return {
        "label": label,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "wall": wall,
        "entries": entries - stored,
        "programs": stored,
        "data": _data(out),
        "refused": sorted(set(re.findall(r"entry for '([^']+)' because it uses host callbacks", res.stderr))),
        "claims": _claims(os.path.join(out, "report.html")),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="experiments to reproduce (default: all)")
    parser.add_argument("--skip-nan", action="store_true", help="only the cold and warm runs (no EQX_ON_ERROR=nan pair)")
    parser.add_argument("--work", help="folder for the caches and outputs (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="sumjax-cache-check-")
    os.makedirs(work, exist_ok=True)
    only = args.only or []
    rows = []
    try:
        for eqx_nan in (False,) if args.skip_nan else (False, True):
            cache = os.path.join(work, "cache-nan" if eqx_nan else "cache")
            shutil.rmtree(cache, ignore_errors=True)
            for phase in ("cold", "warm"):
                label = phase + ("-eqx-nan" if eqx_nan else "")
                rows.append(_run(label, work, cache, only, eqx_nan))
                r = rows[-1]
                print(f"{label:14s} cpu {r['cpu']:7.1f} s  wall {r['wall']:7.1f} s  JAX cache entries {r['entries']:4d}  stored programs {r['programs']:3d}  "
                      f"not cached (host callbacks): {len(r['refused'])} {' '.join(r['refused'])}", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    by = {r["label"]: r for r in rows}
    print()
    print("| run | CPU s | wall s | warm/cold CPU |")
    print("|---|---|---|---|")
    for label, cold in (("warm", "cold"),) + ((("warm-eqx-nan", "cold-eqx-nan"),) if not args.skip_nan else ()):
        for name in (cold, label):
            r = by[name]
            ratio = f"{by[label]['cpu'] / by[cold]['cpu']:.0%}" if name == label else ""
            print(f"| {name} | {r['cpu']:.1f} | {r['wall']:.1f} | {ratio} |")
    same = all(r["claims"] == rows[0]["claims"] for r in rows)
    print(f"\nclaims tables identical across the runs: {same} ({len(rows[0]['claims'])} claims)")
    same_data = all(r["data"] == rows[0]["data"] for r in rows)
    print(f"result arrays bit-identical across the runs: {same_data} ({len(rows[0]['data'])} arrays)")
    same = same and same_data
    print("command: python experiments/cache_check.py" + (" --skip-nan" if args.skip_nan else "")
          + (f" --only {' '.join(only)}" if only else ""))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
