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
    first_s: float | None = None  # the first call (the peer's "one call"), on the measured points


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
    limit: str = ""  # what the limit column measured (a bare pass of the work the kernel cannot avoid)
    limit_s: float | None = None  # its best time on the same machine, in the same run
    first_call: dict = dataclasses.field(default_factory=dict)  # fresh-process first call, cold / warm cache

    @property
    def limit_fraction(self) -> float | None:
        """limit time / kernel time: 1 means the kernel runs at the measured bound."""
        if self.limit_s is None or not self.sumjax_s or not math.isfinite(self.sumjax_s):
            return None
        return self.limit_s / self.sumjax_s


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
    min_time: float = 0.0,
) -> PeerTiming:
    """Time `fn(sel)`, where `sel` is a slice of the problem's points (`None` = all).

    Runs once on the full problem if a pilot on `subset_points` predicts it fits in `budget_s`; otherwise times
    the subset only and extrapolates linearly per point. Repeats (best of) `repeats` times and, like `time_jax`,
    until `min_time` seconds are spent (at most 200 calls), only while within budget: a fast peer gets as many
    tries at a quiet moment as sumjax does, so the best-of ratio is not biased towards sumjax on a busy machine.
    """
    if subset_points is not None and subset_points < total_points:
        t0 = time.perf_counter()
        out = fn(slice(0, subset_points))
        pilot = time.perf_counter() - t0
        predicted = pilot * total_points / subset_points
        if predicted > budget_s:
            best, spent = pilot, pilot
            first = pilot * total_points / subset_points
            for _ in range(repeats - 1):
                if spent + best > budget_s:
                    break
                t0 = time.perf_counter()
                fn(slice(0, subset_points))
                dt = time.perf_counter() - t0
                best, spent = min(best, dt), spent + dt
            return PeerTiming(best * total_points / subset_points, subset_points, total_points, True, out, first)
    times = []
    out = None
    spent = 0.0
    first = None
    while len(times) < 200:
        t0 = time.perf_counter()
        out = fn(None)
        dt = time.perf_counter() - t0
        times.append(dt)
        first = dt if first is None else first
        spent += dt
        if spent + dt > budget_s or (len(times) >= repeats and spent >= min_time):
            break
    return PeerTiming(min(times), total_points, total_points, False, out, first)


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
        "tfp": _tfp_version(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "x64": bool(jax.config.jax_enable_x64),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _tfp_version():
    from .peers import tfp_version

    return tfp_version()


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


def _first_call_cell(fc: dict) -> str:
    if not fc:
        return "—"
    if "error" in fc:
        return f"failed: {fc['error']}"

    def one(x):
        if not x or "error" in x:
            return "failed" if x else "—"
        return f"{_fmt_s(x['first_call_s'])} ({_fmt_s(x['compile_s'])} compiling)"

    peer = fc.get("peer_one_call_s")
    ratio = fc.get("warm_over_peer")
    tail = "" if ratio is None else f" = {ratio:.1f}× peer"
    if fc.get("peer_warm") is not None:  # a jitted peer: its own fresh processes, cold / warm cache
        peer_cell = f"{one(fc.get('peer_cold'))} cold, {one(fc.get('peer_warm'))} warm"
    elif fc.get("peer_fresh_s"):  # a NumPy/SciPy peer: the median of fresh processes, like sumjax's warm column
        runs = fc["peer_fresh_s"]
        peer_cell = (f"{_fmt_s(peer)} (median of {len(runs)} fresh processes: {_fmt_s(runs[0])}–{_fmt_s(runs[-1])}; "
                     f"in the benchmark process {_fmt_s(fc.get('peer_in_process_s'))})")
    else:
        peer_cell = _fmt_s(peer) + (" (in the benchmark process)" if peer is not None else "")
    warm = one(fc.get("warm"))
    runs = fc.get("warm_first_calls_s") or []
    if len(runs) > 1:  # the median of several warm processes, and their spread
        warm += f" (median of {len(runs)}: {_fmt_s(runs[0])}–{_fmt_s(runs[-1])})"
    return f"{one(fc.get('cold'))} / {warm} / {peer_cell}{tail}"


def to_markdown(rows: list[Row], env: dict, command: str = "") -> str:
    lines = []
    if command:
        lines.append(f"Command: `{command}`  ")
    lines.append(
        f"Device: {env['device']} ({env['cpu_count']} CPU cores, load {env['loadavg_1_5_15']}), "
        f"jax {env['jax']}, numpy {env['numpy']}, scipy {env['scipy']}, "
        f"TFP {env.get('tfp') or 'not installed'}, float64={env['x64']}, {env['utc']}"
    )
    lines.append("")
    lines.append(
        "| kernel | problem | sumjax compile | sumjax run (best / median) | peer | peer run | speed-up "
        "| limit (bare pass) | limit / run | first call: cold / warm cache / peer one call "
        "| max abs diff | max rel diff | peer failures |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        peer_s = _fmt_s(r.peer_s) + (" (extrap.)" if r.peer_extrapolated and r.peer_s is not None else "")
        speed = "—" if r.speedup is None else f"{r.speedup:.1f}×"
        lim = f"{r.limit}: {_fmt_s(r.limit_s)}" if r.limit else "—"
        frac = "—" if r.limit_fraction is None else f"{r.limit_fraction:.0%}"
        lines.append(
            f"| {r.kernel} | {r.problem} | {_fmt_s(r.compile_s)} | {_fmt_s(r.sumjax_s)} / {_fmt_s(r.sumjax_median_s)} "
            f"| {r.peer} | {peer_s} | {speed} | {lim} | {frac} | {_first_call_cell(r.first_call)} "
            f"| {_fmt_g(r.max_abs_diff)} | {_fmt_g(r.max_rel_diff)} | {r.peer_failures or 'none'} |"
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
    out["limit_fraction"] = r.limit_fraction
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


_FIRST_CALL_CHILD = """
import json, time
t0 = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", {x64!r})
cache = {cache!r}
if cache:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from experiments.bench import kernels
from experiments.bench.harness import _CompileClock
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
call = kernels.first_call_setup({name!r}, {size!r}, **json.loads({params!r}))
t_setup = time.perf_counter() - t0
with _CompileClock() as clock:
    t0 = time.perf_counter()
    jax.block_until_ready(call())
    first = time.perf_counter() - t0
t0 = time.perf_counter()
jax.block_until_ready(call())
second = time.perf_counter() - t0
print(json.dumps(dict(import_s=t_import, setup_s=t_setup, first_call_s=first, compile_s=clock.seconds,
                      second_call_s=second)))
"""


def first_call(name: str, size: str, peer_one_call_s: float | None, timeout: float = 300.0,
               warm_runs: int = 3, params: dict | None = None) -> dict:
    """The first call of a kernel's public API in fresh Pythons on one persistent compilation cache.

    `cold`: an empty cache (the run fills it); `warm`: the median (by first-call time) of `warm_runs` further
    fresh processes reading it (`jax_compilation_cache_dir`, min compile time 0, min entry size 0); each one's
    first-call time is kept in `warm_first_calls_s`. Each reports the import time (jax + sumjax), the first
    call's wall time (trace + lower + compile or cache load + run), its compile share (JAX's trace/lower/XLA-
    compile events) and the second call (steady state). The peer's one call is its first call in the
    benchmark process (imports excluded on both sides). `params` (JSON-able) go to `first_call_setup`.

    A NumPy/SciPy peer is timed by the same function (its setup named ``peer_<kernel>``): there is nothing to
    cache, so its "warm" runs are simply fresh processes after a first one, as sumjax's are.
    """
    import shutil
    import tempfile

    cache = tempfile.mkdtemp(prefix="sumjax-bench-cache-")
    try:
        x64 = bool(jax.config.jax_enable_x64)
        code = _FIRST_CALL_CHILD.format(name=name, size=size, cache=cache, x64=x64, params=json.dumps(params or {}))
        cold = run_in_fresh_process(code, timeout)
        warms = [run_in_fresh_process(code, timeout) for _ in range(max(1, warm_runs))]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    timed = sorted((w for w in warms if "first_call_s" in w), key=lambda w: w["first_call_s"])
    warm = timed[(len(timed) - 1) // 2] if timed else warms[0]  # the median run (lower middle of an even count)
    out = {"cold": cold, "warm": warm, "warm_first_calls_s": [w["first_call_s"] for w in timed],
           "peer_one_call_s": peer_one_call_s}
    if peer_one_call_s and "first_call_s" in warm:
        out["warm_over_peer"] = warm["first_call_s"] / peer_one_call_s
    return out
