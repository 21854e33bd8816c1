"""Compile time of `jax.grad(total_harm)` on a 20×20 grid: this checkout against a baseline commit.

    python experiments/compile_check.py                  # baseline 45391cc (the tree issue 11 measured)
    python experiments/compile_check.py --base HEAD~3 --reps 5

Exports the baseline commit with `git archive` into a temporary folder and, alternating the two
trees in fresh processes (so neither has a warm in-memory cache and both share the machine's
load), times `jax.jit(jax.grad(loss)).lower(...)` (tracing + lowering) and `.compile()` (XLA:
wall time, and the process's CPU time, which a shared machine's load disturbs less) with the
persistent compilation cache off. loss = Σ total_harm(c*, d, β_A, β_H = 1) in float64
over β_A ∈ linspace(0.5, 8, 20) × d ∈ geomspace(2, 1e5, 20), c* = 0.5, differentiated in
(c*, d, β_A) together and in each alone. Prints medians and the ratio this/baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = "45391cc"  # main when issue 11 (check once at the boundary) was filed

PROBE = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)
import jax.numpy as jnp
from sumjax.alignment import total_harm
r = jnp.linspace(0.5, 8.0, 20)[:, None]
d = jnp.geomspace(2.0, 1e5, 20)[None, :]
c = jnp.full((20, 20), 0.5)
loss = lambda c, d, r: jnp.sum(total_harm(c, d, r, 1.0))
out = {}
for name, argnums in (("c*, d, beta_a", (0, 1, 2)), ("c*", 0), ("d", 1), ("beta_a", 2)):
    f = jax.jit(jax.grad(loss, argnums=argnums))
    t0 = time.perf_counter(); low = f.lower(c, d, r); t1 = time.perf_counter()
    p1 = time.process_time(); exe = low.compile(); p2 = time.process_time(); t2 = time.perf_counter()
    jax.block_until_ready(exe(c, d, r))
    out[name] = (t1 - t0, t2 - t1, p2 - p1)
print("RESULT " + json.dumps(out))
"""


def _probe(tree: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd=tree)
    if res.returncode != 0:
        sys.exit(f"probe failed in {tree}:\n{res.stderr[-3000:]}")
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BASELINE, help=f"baseline commit (default {BASELINE})")
    parser.add_argument("--reps", type=int, default=3, help="fresh processes per tree (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sumjax-compile-check-") as base_tree:
        archive = subprocess.run(["git", "-C", ROOT, "archive", args.base], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", base_tree], input=archive, check=True)
        runs = {"this": [], "base": []}
        for i in range(args.reps):
            for label, tree in (("this", ROOT), ("base", base_tree)):
                runs[label].append(_probe(tree))
                print(f"rep {i + 1}/{args.reps} {label}: " + ", ".join(
                    f"{k}: {v[0]:.2f}+{v[1]:.2f} s (cpu {v[2]:.2f})" for k, v in runs[label][-1].items()), flush=True)
    print(f"\nmedian of {args.reps} fresh processes each, alternating; seconds")
    print(f"| grad in | trace+lower {args.base} / this | XLA compile wall {args.base} / this | this/base "
          f"| XLA compile CPU {args.base} / this | this/base |")
    print("|---|---|---|---|---|---|")
    for name in runs["this"][0]:
        b, t = ([statistics.median(r[name][j] for r in runs[lab]) for j in range(3)] for lab in ("base", "this"))
        print(f"| {name} | {b[0]:.2f} / {t[0]:.2f} | {b[1]:.2f} / {t[1]:.2f} | {t[1] / b[1]:.0%} "
              f"| {b[2]:.2f} / {t[2]:.2f} | {t[2] / b[2]:.0%} |")
    print(f"command: python experiments/compile_check.py --base {args.base} --reps {args.reps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
