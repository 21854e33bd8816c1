"""Timing, comparison and reporting for the side-by-side benchmark.

sumjax side: compile time is `jax.jit(fn).lower(*args).compile()` timed on its own; steady state is the best and
the median of `repeats` calls of the compiled executable, each ended by `block_until_ready`. Peer side: the best
of a few calls, or — for a peer too slow to run in full — a run on a subset, extrapolated per point (flagged).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = [
    "JaxTiming",
    "PeerTiming",
    "Row",
    "time_jax",
    "time_calls",
    "time_peer",
    "compare",
    "environment",
    "to_markdown",
    "write_outputs",
]


@dataclasses.dataclass
class JaxTiming:
    compile_s: float
    best_s: float
    median_s: float
    repeats: int
    output: Any


@dataclasses.dataclass
class PeerTiming:
    best_s: float  # for the whole problem (extrapolated when `extrapolated`)
    measured_points: int
    total_points: int
    extrapolated: bool
    output: Any  # on the measured points only


@dataclasses.dataclass
class Row:
    """One kernel's line of the table."""

    kernel: str
    problem: str
    points: int
    compile_s: float
    sumjax_s: float
    sumjax_median_s: float
    peer: str
    peer_s: float | None
    peer_extrapolated: bool
    speedup: float | None
    max_abs_diff: float | None
    max_rel_diff: float | None
    compared_points: int
    peer_failures: str
    notes: str = ""
    extra: dict = dataclasses.field(default_factory=dict)


def _block(x):
    return jax.block_until_ready(x)


def time_jax(fn: Callable, *args, repeats: int = 5, min_time: float = 0.0, max_time: float = 30.0,
             warmup: bool = True) -> JaxTiming:
    """Compile `jax.jit(fn)` for `args` (timed), then time `repeats` steady-state calls.

    Keeps calling past `repeats` until `min_time` seconds have been spent, so that very fast kernels get a
    stable best; the best is what the ratio uses, the median is reported beside it.
    """
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    times = []
    spent = 0.0
    if warmup:
        out = _block(compiled(*args))  # first execution may allocate buffers
    else:  # slow kernels: the first execution is one of the timed ones
        t0 = time.perf_counter()
        out = _block(compiled(*args))
        times.append(time.perf_counter() - t0)
        spent = times[0]
    # Repeat until `repeats` and `min_time` are met, but stop once `max_time` is spent (slow kernels).
    while (len(times) < repeats or spent < min_time) and not (times and spent > max_time) and len(times) < 200:
        t0 = time.perf_counter()
        _block(compiled(*args))
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return JaxTiming(compile_s, min(times), statistics.median(times), len(times), out)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class _CompileClock:
    """Sums JAX's own tracing/lowering/compilation event durations while active."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self, event, duration, **_):
        if event in _COMPILE_EVENTS:
            self.seconds += duration

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def time_calls(fn: Callable[[int], Any], *, repeats: int = 3) -> JaxTiming:
    """Time an API that cannot be wrapped in one `jax.jit` (it needs concrete arguments): `fn(i)` per call.

    Each call's time is split with JAX's compile events (tracing + lowering + XLA compilation, from
    `jax.monitoring`): `compile_s` is the compile share of the FIRST call; `best_s`/`median_s` are the
    later calls' wall time MINUS their own compile share (what a cached executable would cost). The raw
    per-call wall and compile seconds go to `output[1]` so a caller can report a per-call recompilation.
    """
    walls, compiles, out = [], [], None
    for i in range(repeats + 1):
        with _CompileClock() as clock:
            t0 = time.perf_counter()
            out = _block(fn(i))
            walls.append(time.perf_counter() - t0)
        compiles.append(clock.seconds)
    later = slice(1, None) if repeats > 0 else slice(0, 1)  # repeats=0: one call, its compile share removed
    runs = [max(w - c, 0.0) for w, c in zip(walls[later], compiles[later])]
    return JaxTiming(compiles[0], min(runs), statistics.median(runs), repeats, (out, {"wall_s": walls, "compile_s": compiles}))


def time_peer(
    fn: Callable[[slice | None], Any],
    total_points: int,
    *,
    repeats: int = 3,
    budget_s: float = 30.0,
    subset_points: int | None = None,
) -> PeerTiming:
    """Time `fn(sel)`, where `sel` is a slice of the problem's points (`None` = all).

    Runs once on the full problem if a pilot on `subset_points` predicts it fits in `budget_s`; otherwise times
    the subset only and extrapolates linearly per point. Repeats (best of) only while within budget.
    """
    if subset_points is not None and subset_points < total_points:
        t0 = time.perf_counter()
        out = fn(slice(0, subset_points))
        pilot = time.perf_counter() - t0
        predicted = pilot * total_points / subset_points
        if predicted > budget_s:
            best, spent = pilot, pilot
            for _ in range(repeats - 1):
                if spent + best > budget_s:
                    break
                t0 = time.perf_counter()
                fn(slice(0, subset_points))
                dt = time.perf_counter() - t0
                best, spent = min(best, dt), spent + dt
            return PeerTiming(best * total_points / subset_points, subset_points, total_points, True, out)
    times = []
    out = None
    spent = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(None)
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if spent + dt > budget_s:
            break
    return PeerTiming(min(times), total_points, total_points, False, out)


def compare(ours, peer, *, rel_floor: float = 1e-300):
    """Largest |ours − peer| and relative difference over points where the peer is finite.

    Returns (max_abs, max_rel, n_compared, n_peer_nonfinite, mask_nonfinite). Relative difference is
    |ours − peer| / max(|peer|, rel_floor).
    """
    ours = np.asarray(ours, float).reshape(-1)
    peer = np.asarray(peer, float).reshape(-1)
    ours = ours[: peer.size]
    ok = np.isfinite(peer)
    if not ok.any():
        return None, None, 0, int(peer.size), ~ok
    diff = np.abs(ours[ok] - peer[ok])
    rel = diff / np.maximum(np.abs(peer[ok]), rel_floor)
    return float(diff.max()), float(rel.max()), int(ok.sum()), int((~ok).sum()), ~ok


def environment() -> dict:
    """Device, versions, CPU and load at the time of the run."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (math.nan,) * 3
    dev = jax.devices()[0]
    return {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "devices": [str(d) for d in jax.devices()],
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "x64": bool(jax.config.jax_enable_x64),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _fmt_s(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e6:.1f} µs"


def _fmt_g(x) -> str:
    return "—" if x is None else f"{x:.1e}"


def to_markdown(rows: list[Row], env: dict, command: str = "") -> str:
    lines = []
    if command:
        lines.append(f"Command: `{command}`  ")
    lines.append(
        f"Device: {env['device']} ({env['cpu_count']} CPU cores, load {env['loadavg_1_5_15']}), "
        f"jax {env['jax']}, numpy {env['numpy']}, scipy {env['scipy']}, float64={env['x64']}, {env['utc']}"
    )
    lines.append("")
    lines.append(
        "| kernel | problem | sumjax compile | sumjax run (best / median) | peer | peer run | speed-up "
        "| max abs diff | max rel diff | peer failures |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        peer_s = _fmt_s(r.peer_s) + (" (extrap.)" if r.peer_extrapolated and r.peer_s is not None else "")
        speed = "—" if r.speedup is None else f"{r.speedup:.1f}×"
        lines.append(
            f"| {r.kernel} | {r.problem} | {_fmt_s(r.compile_s)} | {_fmt_s(r.sumjax_s)} / {_fmt_s(r.sumjax_median_s)} "
            f"| {r.peer} | {peer_s} | {speed} | {_fmt_g(r.max_abs_diff)} | {_fmt_g(r.max_rel_diff)} "
            f"| {r.peer_failures or 'none'} |"
        )
    notes = [(r.kernel, r.notes) for r in rows if r.notes]
    if notes:
        lines.append("")
        for k, n in notes:
            lines.append(f"- **{k}**: {n}")
    return "\n".join(lines) + "\n"


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _row_dict(r: Row) -> dict:
    """A row as JSON-able dict, without the raw outputs (private `_` keys of `extra`)."""
    out = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    out["extra"] = {k: v for k, v in r.extra.items() if not k.startswith("_")}
    return _jsonable(out)


def write_outputs(rows: list[Row], env: dict, out: str, command: str = "") -> tuple[str, str]:
    """Write `out` (JSON) and the same stem with `.md` (markdown table); atomic via `os.replace`."""
    stem, ext = os.path.splitext(out)
    json_path = out if ext == ".json" else out + ".json"
    md_path = (stem if ext == ".json" else out) + ".md"
    payload = {"command": command, "environment": env, "rows": [_row_dict(r) for r in rows]}
    for path, text in ((json_path, json.dumps(payload, indent=2)), (md_path, to_markdown(rows, env, command))):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return json_path, md_path


def run_in_fresh_process(code: str, timeout: float = 600.0) -> dict:
    """Run `code` in a fresh Python (repo root on the path) and parse the JSON of its last stdout line.

    Used for peak-memory probes: a fresh process so that `ru_maxrss` is not inflated by whatever the benchmark
    allocated before. The child should print `json.dumps({...})` last.
    """
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=root,
                          env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])
