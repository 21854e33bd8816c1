"""The experiment runner: configuration, reruns, sweeps in pieces, outputs and claims.

An experiment is a module with

- `NAME`, `TITLE`, `SOURCE` ("SUM", "Guarded learning" or "Beyond the texts"), `CAPTION`;
- `Config`, a frozen dataclass of sizes (defaults sized for a 2-core CPU) and `FULL`, a dict
  of overrides for paper-sized sweeps meant for a GPU;
- `requires()`, raising `Unavailable` while a function it needs does not exist yet;
- `compute(ctx) -> dict[str, array]`, `plot(data, cfg) -> Figure`,
  `table(data) -> dict[str, 1-D array]` (the CSV), and `claims(data, cfg) -> list[Claim]`.

`run_experiment` writes `OUT/NAME/NAME.{npz,csv,png,svg,json}`; the JSON (metadata:
versions, device, configuration, seed, dtype, timestamps, wall times and the sha256 and size
of every other file) is written last and marks the run finished. A rerun with the same
configuration, seed and dtype skips it only after checking every file against its recorded
checksum; a damaged or missing file is named and the experiment recomputed. A finished run
with a *different* configuration is refused (`ConfigMismatch`, naming the differing keys)
unless `force`: one folder holds one configuration per experiment, so the report never mixes
them. Sweeps run in pieces (`Context.sweep`); each finished piece is saved atomically and
reused by a rerun, so an interrupted sweep loses at most one piece.

Every `Config` field has an allowed range (`Range`), found by `field_range`: a field's
`metadata["range"]`, else the module's `RANGES[name]`, else a rule from the field's name
(`_NAME_RULES`: cosines in (0, 1), dimensions ≥ 2, counts ≥ 1, powers > 0, …), else
"finite". `config_from` checks every field (and every `x_min < x_max` pair) before anything
is computed and raises `ConfigError` naming the command-line flag and its range.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import hashlib
import importlib
import json
import math
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping

import numpy as np

from . import _io
from ..distributed import add_distributed_flags, maybe_initialize_distributed  # noqa: F401 - the --distributed path
from ..distributed import barrier as _sync, from_writer as _from_writer, is_writer as _is_writer
from ..distributed import load_shared as _load_shared

__all__ = [
    "Claim",
    "Unavailable",
    "Context",
    "require",
    "config_from",
    "run_experiment",
    "experiment_main",
    "load_outputs",
    "config_from_meta",
    "Range",
    "field_range",
    "validate_config",
    "ConfigError",
    "ConfigMismatch",
    "check_existing",
    "verify_outputs",
    "OutputError",
    "enable_compilation_cache",
    "compilation_cache_dir",
    "OneLineParser",
    "HOLDS",
    "FAILS",
    "CAVEAT",
]

HOLDS = "holds"
FAILS = "does not hold"
CAVEAT = "holds with caveat"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a text, with what was measured and the verdict computed from it.

    Attributes:
        source: the text the claim comes from (e.g. ``"SUM"``).
        claim: the claim, in words.
        measured: what was measured, with numbers.
        verdict: `HOLDS`, `FAILS` or `CAVEAT`, computed from the data.
        note: an optional remark (default ``""``).
    """

    source: str
    claim: str
    measured: str
    verdict: str
    note: str = ""

    def __post_init__(self):
        if self.verdict not in (HOLDS, FAILS, CAVEAT):
            raise ValueError(f"argument `verdict` must be one of {HOLDS!r}, {FAILS!r}, {CAVEAT!r}; got {self.verdict!r}")


class Unavailable(RuntimeError):
    """A function an experiment needs is not implemented (yet) in this checkout."""


def require(module: str, *names: str) -> None:
    """Raise `Unavailable` unless `module` defines every one of `names`.

    Args:
        module: dotted name of the module to import.
        *names: the names it must define.

    Raises:
        Unavailable: naming the first missing module or name.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - our own package always imports
        raise Unavailable(f"cannot import {module}: {exc}") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Unavailable(f"needs {', '.join(f'{module}.{n}' for n in missing)}, not available in this checkout")


class ConfigError(ValueError):
    """A configuration value outside its allowed range (the message names the flag)."""


class ConfigMismatch(ValueError):
    """The output folder holds a finished run of another configuration (pass `force` to replace it)."""


OutputError = _io.OutputError


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of one configuration field: lo ≤ x ≤ hi (`*_open`: strict), finite.

    Attributes:
        lo: the lower bound (default −inf).
        hi: the upper bound (default +inf).
        lo_open: exclude `lo` (default False).
        hi_open: exclude `hi` (default False).
        integer: values must be integers (default False).
        what: a description used in messages (default ``""``).
    """

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    what: str = ""

    def ok(self, x) -> bool:
        """Whether `x` is an allowed value of the field.

        Args:
            x: a value (bools always pass; non-numbers fail).

        Returns:
            True when `x` is finite, in the range, and an integer if required.
        """
        if isinstance(x, bool):
            return True
        try:
            x = float(x)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(x) or (self.integer and x != int(x)):
            return False
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below

    def describe(self) -> str:
        """The range in words, for error messages and --help.

        Returns:
            A short human-readable form, e.g. ``"an integer ≥ 1"`` or ``"a finite number in (0, 1)"``.
        """
        kind = "an integer" if self.integer else "a finite number"
        lo, hi = math.isfinite(self.lo), math.isfinite(self.hi)
        g = lambda v: f"{v:g}"  # noqa: E731
        if lo and hi:
            text = f"{kind} in {'(' if self.lo_open else '['}{g(self.lo)}, {g(self.hi)}{')' if self.hi_open else ']'}"
        elif lo:
            text = f"{kind} {'>' if self.lo_open else '≥'} {g(self.lo)}"
        elif hi:
            text = f"{kind} {'<' if self.hi_open else '≤'} {g(self.hi)}"
        else:
            text = kind
        return f"{text} ({self.what})" if self.what else text


_COUNT = Range(1, integer=True, what="a count")
_GRID = Range(2, integer=True)
_POSITIVE = Range(0, lo_open=True)
# Ranges from field names, so every experiment's flags are checked without editing its module.
# First match wins: exact names, then prefixes/suffixes.
_NAME_RULES: dict[str, Range] = {
    "c_star": Range(0, 1, True, True, what="a cosine c*"),
    "c_stars": Range(0, 1, True, True, what="cosines c*"),
    "mc_c_star": Range(0, 1, True, True, what="a cosine c*"),
    "d_min": Range(2, what="a dimension"),
    "d_max": Range(2, what="a dimension"),
    "dims": Range(2, what="dimensions"),
    "mc_dims": Range(2, what="dimensions"),
    "d0": Range(2, what="a dimension"),
    "d1": Range(0, what="dimensions per unit log-scale"),
    "fit_from": Range(2, what="a dimension"),
    "tolerance": Range(0, 1, True, True),
    "fd_step": Range(0, 0.5, True, True, what="a relative step"),
    "catchup_ratio": Range(1, lo_open=True),
    "n_max": Range(1),
    "u_t": Range(0, 1, what="simplex weights"),
    "chunk": _COUNT,
    "mc_chunk": _COUNT,
    "mc_trials": _COUNT,
    "n_mc": _COUNT,
    "n_random_actions": _COUNT,
    "n_trials": _COUNT,
}
_PREFIX_RULES = (("n_", _GRID), ("beta", _POSITIVE), ("ratio_", _POSITIVE), ("xi_", _POSITIVE), ("t_", _POSITIVE))
_SUFFIX_RULES = (("_resolution", _GRID), ("_chunk", _COUNT), ("_trials", _COUNT))
_POSITIVE_NAMES = ("alpha", "growth", "ellipse_b", "axes", "beta_a", "beta_h", "beta0")


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def field_range(module, field: dataclasses.Field) -> Range:
    """The allowed range of one `Config` field (see the module docstring for the lookup order).

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        field: a field of the module's `Config` (from `dataclasses.fields`).

    Returns:
        The field's `Range`.
    """
    if "range" in field.metadata:
        return field.metadata["range"]
    custom = getattr(module, "RANGES", {})
    if field.name in custom:
        return custom[field.name]
    name = field.name
    if name in _NAME_RULES:
        return _NAME_RULES[name]
    if name in _POSITIVE_NAMES:
        return _POSITIVE
    for prefix, rng in _PREFIX_RULES:
        if name.startswith(prefix):
            return rng
    for suffix, rng in _SUFFIX_RULES:
        if name.endswith(suffix):
            return rng
    default = field.default
    if isinstance(default, int) and not isinstance(default, bool):
        return Range(0, integer=True)
    return Range()


def validate_config(module, cfg) -> None:
    """Raise `ConfigError` (naming the flag and its range) unless every field of `cfg` is allowed.

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        cfg: an instance of the module's `Config`.

    Raises:
        ConfigError: naming the flag and its allowed range.
    """
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    for name, field in fields.items():
        value = getattr(cfg, name)
        rng = field_range(module, field)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if isinstance(value, (tuple, list)) and not values:
            raise ConfigError(f"{flag_name(name)} must list at least one value ({rng.describe()}); got none")
        for v in values:
            if not rng.ok(v):
                each = " (each comma-separated value)" if isinstance(value, (tuple, list)) else ""
                raise ConfigError(f"{flag_name(name)} must be {rng.describe()}{each}; got {v!r}")
    for name in fields:
        if name.endswith("_min") and name[:-4] + "_max" in fields:
            lo, hi = getattr(cfg, name), getattr(cfg, name[:-4] + "_max")
            if not lo < hi:
                raise ConfigError(f"{flag_name(name)} must be below {flag_name(name[:-4] + '_max')}; got {lo!r} ≥ {hi!r}")
        if "_min_" in name and name.replace("_min_", "_max_") in fields:
            other = name.replace("_min_", "_max_")
            lo, hi = getattr(cfg, name), getattr(cfg, other)
            if not lo < hi:
                raise ConfigError(f"{flag_name(name)} must be below {flag_name(other)}; got {lo!r} ≥ {hi!r}")


def config_from(module, *, full: bool = False, **overrides):
    """The module's `Config`, with `FULL` applied when `full`, then `overrides` (None ignored).

    Every field is checked against its range first (`ConfigError` names the flag).

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        full: apply the module's `FULL` overrides first (default False).
        **overrides: field values to set; None values are ignored.

    Returns:
        An instance of the module's `Config`.

    Raises:
        ConfigError: naming the flag, for a value outside its range.
    """
    base = dict(getattr(module, "FULL", {})) if full else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    cfg = module.Config(**base)
    validate_config(module, cfg)
    return cfg


def _config_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def _tag(cfg_dict: dict, seed: int, dtype: str) -> str:
    blob = json.dumps({"config": cfg_dict, "seed": seed, "dtype": dtype}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class _Heartbeat:
    """While a step without a bar of its own runs longer than `delay` s, show its elapsed time.

    A thread refreshes a tqdm line once a second; `Context.sweep` pauses it while its own bar
    is up. Nothing is shown for steps shorter than `delay`.
    """

    def __init__(self, desc: str, *, enabled: bool, delay: float = 2.0, interval: float = 1.0):
        self.desc, self.enabled, self.delay, self.interval = desc, enabled, delay, interval
        self._paused = 0
        self._bar = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t0 = time.time()
        self._thread = None

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name="sumjax-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _loop(self):
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._paused:
                    continue
                if self._bar is None and time.time() - self._t0 >= self.delay:
                    self._bar = _io.progress_bar(None, self.desc, bar_format="{desc}: {elapsed} elapsed{postfix}")
                    self._bar.start_t = self._t0
                if self._bar is not None:
                    self._bar.refresh()

    def pause(self):
        with self._lock:
            self._paused += 1
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def resume(self):
        with self._lock:
            self._paused -= 1
            self._t0 = time.time()

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
        return False


class Context:
    """What `compute` receives: the configuration, a PRNG key, the dtype, sharded sweeps.

    Args:
        cfg: an instance of the module's `Config`.
        seed: the run's PRNG seed, an int ≥ 0 (keyword-only).
        dtype: the float dtype of the run (float32 or float64).
        folder: the experiment's output folder (pieces of sweeps are saved under it).
        progress: show tqdm progress bars (default True).
        tag: a name for the run used in piece files (default ``"run"``).
    """

    # Sweeps are split into at least this many pieces so that progress (and resuming) has
    # a useful granularity: the first piece compiles, the rest give the rate and ETA.
    MIN_PIECES = 8

    def __init__(self, cfg, *, seed: int, dtype, folder: str, progress: bool = True, tag: str = "run"):
        import jax

        self.cfg = cfg
        self.seed = int(seed)
        self.key = jax.random.key(self.seed)
        self.dtype = dtype
        self.folder = folder
        self.progress = progress
        self.pieces_dir = os.path.join(folder, f".pieces-{tag}")
        self.label = os.path.basename(folder)
        self._heartbeat = None

    def asarray(self, x):
        """`x` as a JAX array in the run's dtype.

        Args:
            x: array-like.

        Returns:
            A JAX array of `x` in the run's dtype.
        """
        import jax.numpy as jnp

        return jnp.asarray(x, dtype=self.dtype)

    def bar(self, total=None, desc: str = "", **kwargs):
        """A tqdm progress bar for a loop inside `compute` (silenced by --quiet or TQDM_DISABLE).

        Args:
            total: expected number of updates (None: unknown).
            desc: the bar's label (default ``""``).
            **kwargs: further `tqdm.tqdm` arguments.

        Returns:
            A `tqdm.tqdm` bar (use as a context manager).
        """
        return _io.progress_bar(total, f"{self.label}:{desc}" if desc else self.label,
                                enabled=self.progress and _is_writer(), **kwargs)

    def sweep(self, name: str, fn: Callable, params: Mapping[str, object], *, chunk: int = 256, static=None) -> dict:
        """Evaluate `fn(point)` at every row of `params`, sharded over the devices, in pieces.

        `params` maps names to arrays sharing their leading length n; `fn` receives a dict
        of the same names holding one row each (plus `static`, replicated, if given) and
        returns a dict of arrays. Pieces of at most `chunk` rows (and at least `MIN_PIECES`
        pieces) are saved atomically under `.pieces-*` and reused on a rerun; a piece file
        that cannot be read is recomputed. Returns the stacked NumPy results (length n).

        Progress: a tqdm bar over the pieces; the first piece computed compiles the program
        and is timed separately, so the rate and ETA are those of compiled pieces.

        Args:
            name: a name for the sweep, unique within the experiment (names its piece files).
            fn: a function of a dict of one row of `params` (and `static`) returning a dict of arrays.
            params: names → arrays sharing their leading length n ≥ 1.
            chunk: the most rows per piece, an int ≥ 1 (default 256).
            static: a dict of values passed to every call unmapped (replicated); None (default) for none.

        Returns:
            A dict of NumPy arrays with leading length n, the stacked outputs of `fn`.
        """
        from .. import sharding

        params = {k: np.asarray(v) for k, v in params.items()}
        lengths = {v.shape[0] for v in params.values()}
        if len(lengths) != 1:
            raise ValueError(f"sweep `{name}`: parameters must share one leading length; got {sorted(lengths)}")
        (n,) = lengths
        chunk = max(1, min(int(chunk), -(-n // self.MIN_PIECES)))
        n_pieces = -(-n // chunk)
        # Pad to whole pieces (repeating the last point) so every piece has one shape: one compile.
        padded = {k: np.concatenate([v, np.repeat(v[-1:], n_pieces * chunk - n, axis=0)]) for k, v in params.items()}
        # With the persistent cache on (`sumjax run`/`reproduce`), the compiled sweep is kept beside it
        # and a later process loads it without tracing (sumjax._program_cache).
        import jax

        cache = jax.config.jax_compilation_cache_dir
        programs = os.path.join(cache, "programs") if cache else None
        mapped = sharding.sharded_vmap(fn, in_axes=0 if static is None else (0, None), program_cache=programs)
        # The piece size is in the name: pieces of another size are never mixed in.
        paths = [os.path.join(self.pieces_dir, f"{name}-{chunk}-{i:05d}.npz") for i in range(n_pieces)]
        # Decide which pieces are finished once, after a barrier: on several hosts every process
        # must take part in the same (collective) computations.
        _sync(f"sweep-{self.label}-{name}")
        # Process 0 decides which pieces are finished (and intact), so every process runs the
        # same collective computations; the others read the pieces it verified.
        pieces: list = [None] * n_pieces
        for i, path in enumerate(paths):
            if os.path.exists(path):
                try:
                    pieces[i] = _io.load_npz(path)
                except ValueError:
                    pieces[i] = None  # damaged: recompute it
        finished = [bool(f) for f in _from_writer([p is not None for p in pieces])]
        for i, ok in enumerate(finished):
            if not ok:
                pieces[i] = None
            elif pieces[i] is None:  # another process: wait for process 0's copy
                pieces[i] = _load_shared(_io.load_npz, paths[i])
        todo = [i for i in range(n_pieces) if pieces[i] is None]
        enabled = self.progress and _is_writer()
        if self._heartbeat is not None:
            self._heartbeat.pause()
        bar = _io.progress_bar(n_pieces, f"{self.label}:{name}", enabled=enabled, initial=n_pieces - len(todo),
                               unit="piece")
        try:
            for j, i in enumerate(todo):
                if j == 0:
                    bar.set_postfix_str("compiling")
                    ticker = _Ticker(bar) if enabled else None
                    t0 = time.perf_counter()
                rows = {k: v[i * chunk : (i + 1) * chunk] for k, v in padded.items()}
                out = mapped(rows) if static is None else mapped(rows, static)
                piece = {k: np.asarray(v) for k, v in out.items()}
                if _is_writer():
                    _io.save_npz(paths[i], piece)
                pieces[i] = piece
                if j == 0:
                    if ticker is not None:
                        ticker.stop()
                    # Restart the clock: the rate and ETA count compiled pieces only.
                    bar.update(1)
                    if enabled:
                        bar.initial, bar.start_t = bar.n, time.time()
                        bar.last_print_t = bar.start_t  # (tqdm only redraws on close what it has shown)
                        bar.set_postfix_str(f"compile+first piece {time.perf_counter() - t0:.1f}s")
                else:
                    bar.update(1)
        finally:
            bar.close()
            if self._heartbeat is not None:
                self._heartbeat.resume()
        return {k: np.concatenate([p[k] for p in pieces])[:n] for k in pieces[0]}


class _Ticker:
    """Refresh a bar once a second (its elapsed time) while one long call blocks the loop."""

    def __init__(self, bar, interval: float = 1.0):
        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(interval):
                bar.refresh()

        self._thread = threading.Thread(target=loop, name="sumjax-ticker", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()


def _paths(out_root: str, name: str) -> dict:
    folder = os.path.join(out_root, name)
    return {
        "folder": folder,
        "meta": os.path.join(folder, f"{name}.json"),
        "npz": os.path.join(folder, f"{name}.npz"),
        "csv": os.path.join(folder, f"{name}.csv"),
        "figure": os.path.join(folder, name),
    }


def _load_meta(path: str) -> dict | None:
    try:
        meta = _io.load_json(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"status": "damaged", "reason": f"{os.path.basename(path)} cannot be read"}
    return meta if isinstance(meta, dict) else {"status": "damaged", "reason": f"{os.path.basename(path)} is not a record"}


def verify_outputs(out_root: str, name: str) -> tuple[dict | None, list[tuple[str, str]]]:
    """(metadata, problems) of `out_root/name`: problems lists (file, reason) for every output
    that is missing or differs from the checksum recorded when it was written. A finished run
    without checksums (written by an older sumjax) counts as unverifiable.

    Args:
        out_root: the output folder (one subfolder per experiment).
        name: the experiment's `NAME` (its subfolder).

    Returns:
        A pair (metadata or None, problems): problems is a list of (file, reason).
    """
    p = _paths(out_root, name)
    meta = _load_meta(p["meta"])
    if meta is None or meta.get("status") != "complete":
        return meta, []
    checksums = meta.get("checksums")
    if not isinstance(checksums, dict) or not checksums:
        return meta, [(os.path.basename(p["meta"]), "no checksums recorded (older sumjax)")]
    return meta, _io.verify_files(p["folder"], checksums)


def _run_key(meta: Mapping) -> dict:
    """What makes two runs the same computation: configuration, seed, dtype."""
    return {"seed": meta.get("seed"), "dtype": meta.get("dtype"), **{f"config.{k}": v for k, v in (meta.get("config") or {}).items()}}


def _differences(old: Mapping, new: Mapping) -> list[str]:
    a, b = _run_key(old), _run_key(new)
    return [f"{k.removeprefix('config.')}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_existing(module, cfg, out_root: str, *, seed: int = 0, float64: bool = False) -> None:
    """Raise `ConfigMismatch` if `out_root` holds a finished run of `module` with another
    configuration, seed or dtype (the message names the differing keys).

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        cfg: an instance of the module's `Config`.
        out_root: the output folder (one subfolder per experiment).
        seed: the PRNG seed the run used, an int ≥ 0 (default 0).
        float64: whether the run is in float64 (default False: float32).

    Raises:
        ConfigMismatch: naming the differing keys.
    """
    meta = _load_meta(_paths(out_root, module.NAME)["meta"])
    if not meta or meta.get("status") != "complete":
        return
    want = {"config": _config_dict(cfg), "seed": int(seed), "dtype": "float64" if float64 else "float32"}
    diff = _differences(meta, want)
    if diff:
        raise ConfigMismatch(
            f"{os.path.join(out_root, module.NAME)} holds a finished run with another configuration "
            f"({'; '.join(diff)}); pass --force to replace it, or choose another --out")


_WRITE_ERRNOS = {getattr(errno, n) for n in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR") if hasattr(errno, n)}


def run_experiment(
    module,
    cfg=None,
    out_root: str = "sumjax-out",
    *,
    seed: int = 0,
    float64: bool = False,
    force: bool = False,
    progress: bool = True,
    log=None,
) -> dict:
    """Run one experiment module and write its outputs; returns its metadata dict.

    Skips (returning the stored metadata, `"skipped": True`) when a finished run with the
    same configuration, seed and dtype is on disk and every file matches its recorded
    checksum; a damaged file is named in the log and the experiment recomputed. A finished
    run with another configuration raises `ConfigMismatch` unless `force`. A missing
    dependency gives status "unavailable" with the reason (nothing else is written). An
    output folder that cannot be written raises `OutputError` naming the path.

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        cfg: the `Config` to run; None (default) is the module's default `Config()`.
        out_root: the output folder (default ``"sumjax-out"``).
        seed: the PRNG seed, an int ≥ 0 (default 0).
        float64: run in float64 (default False).
        force: replace a finished run of another configuration (default False).
        progress: show progress bars (default True).
        log: a function of one str for log lines; None (default) prints to stderr.

    Returns:
        The run's metadata dict (``"status"``, versions, device, configuration, wall times, file
        checksums; ``"skipped": True`` when an existing run was reused).

    Raises:
        ConfigMismatch: for a finished run of another configuration without `force`.
        OutputError: naming the path, when the output folder cannot be written.
    """
    import jax
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    log = log or (lambda msg: print(msg, file=sys.stderr))
    cfg = module.Config() if cfg is None else cfg
    validate_config(module, cfg)
    dtype_name = "float64" if float64 else "float32"
    cfg_dict = _config_dict(cfg)
    tag = _tag(cfg_dict, seed, dtype_name)
    p = _paths(out_root, module.NAME)
    _sync(f"run-{module.NAME}")
    if not force:
        check_existing(module, cfg, out_root, seed=seed, float64=float64)
    finished = None if force else _finished(module.NAME, out_root, tag, log)
    if _from_writer(finished is not None):  # process 0 decides, so every process runs the same computations
        log(f"[{module.NAME}] finished output found and verified, skipping (use --force to recompute)")
        return {**(finished or _io.load_json(p["meta"])), "status": "complete", "skipped": True}
    if _is_writer():
        _io.check_writable(p["folder"])

    meta = {
        "name": module.NAME,
        "title": module.TITLE,
        "source": module.SOURCE,
        "config": cfg_dict,
        "seed": int(seed),
        "dtype": dtype_name,
        "sizes": _sizes_label(module, cfg_dict),
        "tag": tag,
        "command": [os.path.basename(sys.argv[0] or "python")] + sys.argv[1:],
        "started": _io.utc_now(),
    }
    try:
        module.requires()
    except Unavailable as exc:
        log(f"[{module.NAME}] unavailable: {exc}")
        meta.update(status="unavailable", reason=str(exc))
        if _is_writer():
            with _io.folder_lock(p["folder"]):
                if _load_meta(p["meta"]) is None or _load_meta(p["meta"]).get("status") != "complete":
                    _write(_io.save_json, p["meta"], meta)  # not "complete": a later run tries again
        return {**meta, "skipped": False}

    ctx = Context(cfg, seed=seed, dtype=None, folder=p["folder"], progress=progress, tag=tag)
    if _is_writer() and force and os.path.isdir(ctx.pieces_dir):
        shutil.rmtree(ctx.pieces_dir, ignore_errors=True)
    t0 = time.perf_counter()
    with jax.enable_x64(bool(float64)):
        import jax.numpy as jnp

        ctx.dtype = jnp.float64 if float64 else jnp.float32
        try:
            with _Heartbeat(f"{module.NAME}: computing", enabled=progress and _is_writer()) as beat:
                ctx._heartbeat = beat
                data = module.compute(ctx)
                data = {k: np.asarray(v) for k, v in data.items()}
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:  # saving a sweep piece
                raise OutputError(f"cannot write to {exc.filename or p['folder']!r}: {exc.strerror or exc}") from None
            log(f"[{module.NAME}] FAILED: {type(exc).__name__}: {exc}")
            meta.update(status="failed", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            if _is_writer():
                with _io.folder_lock(p["folder"]):
                    old = _load_meta(p["meta"])
                    if old is None or old.get("status") != "complete":
                        _write(_io.save_json, p["meta"], meta)
            return {**meta, "skipped": False}
        finally:
            ctx._heartbeat = None
    t1 = time.perf_counter()
    if not _is_writer():  # pragma: no cover - several hosts: process 0 writes the outputs
        return {**meta, "status": "complete", "skipped": False, "wall_compute_s": round(t1 - t0, 3)}
    fig = module.plot(data, cfg)
    with _io.folder_lock(p["folder"]):
        # Another run into the same folder may have finished meanwhile: keep its outputs.
        if not force:
            finished = _finished(module.NAME, out_root, tag, lambda msg: None)
            if finished is not None:
                plt.close(fig)
                shutil.rmtree(ctx.pieces_dir, ignore_errors=True)
                log(f"[{module.NAME}] finished meanwhile by another run, keeping its outputs")
                return {**finished, "skipped": True}
        # Temporary files of a writer that was killed (SIGKILL skips its cleanup): writers of this
        # folder hold the lock, so none of these is in use.
        for stale in os.listdir(p["folder"]):
            if stale.startswith(".") and stale.endswith(".tmp"):
                try:
                    os.unlink(os.path.join(p["folder"], stale))
                except OSError:
                    pass
        # The old record goes first: from here until the new one is written, the folder holds no
        # finished run, so an interruption can never leave new files under an old checksum.
        try:
            os.unlink(p["meta"])
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot write to {p['folder']!r}: {exc.strerror or exc}") from None
        _write(_io.save_npz, p["npz"], data)
        _write(_io.save_csv, p["csv"], module.table(data))
        _write(_io.save_figure, fig, p["figure"])
        plt.close(fig)
        t2 = time.perf_counter()
        files = sorted(os.path.basename(x) for x in (p["npz"], p["csv"], p["figure"] + ".png", p["figure"] + ".svg"))
        meta.update(
            status="complete",
            finished=_io.utc_now(),
            wall_compute_s=round(t1 - t0, 3),
            wall_outputs_s=round(t2 - t1, 3),
            environment=_io.environment_metadata(),
            files=files,
            checksums={f: _io.file_digest(os.path.join(p["folder"], f)) for f in files},
        )
        _write(_io.save_json, p["meta"], meta)  # last: its presence marks the run finished
    shutil.rmtree(ctx.pieces_dir, ignore_errors=True)
    log(f"[{module.NAME}] done in {t2 - t0:.1f}s -> {p['folder']}")
    return {**meta, "skipped": False}


def _sizes_label(module, cfg_dict: dict) -> str:
    """"default" (CPU sizes), "full" (the module's FULL) or "custom" (other flags)."""
    if cfg_dict == _config_dict(module.Config()):
        return "default"
    full = {**_config_dict(module.Config()), **_config_dict(module.Config(**getattr(module, "FULL", {})))}
    return "full" if cfg_dict == full else "custom"


def _write(writer, *args):
    """Call an `_io` writer; an OS error (read-only folder, disk full) becomes `OutputError`."""
    try:
        return writer(*args)
    except OSError as exc:
        where = exc.filename or os.path.dirname(os.fspath(args[-1] if writer is _io.save_figure else args[0]))
        raise OutputError(f"cannot write to {where!r}: {exc.strerror or exc}") from None


def _finished(name: str, out_root: str, tag: str, log) -> dict | None:
    """The stored metadata if `out_root/name` holds a verified finished run with `tag`."""
    meta, bad = verify_outputs(out_root, name)
    if not meta or meta.get("status") != "complete" or meta.get("tag") != tag:
        return None
    if bad:
        log(f"[{name}] recomputing: " + "; ".join(f"{f}: {why}" for f, why in bad))
        return None
    return meta


def load_outputs(out_root: str, name: str):
    """(metadata, data) of a finished, verified experiment in `out_root`, or (metadata or None, None).

    A finished run whose files fail their checksums (or whose data cannot be read) comes
    back with `status` "damaged" and the reason naming the file, and no data.

    Args:
        out_root: the output folder (one subfolder per experiment).
        name: the experiment's `NAME` (its subfolder).

    Returns:
        A pair (metadata or None, data dict of NumPy arrays or None).
    """
    meta, bad = verify_outputs(out_root, name)
    if meta is None or meta.get("status") != "complete":
        return meta, None
    if bad:
        return {**meta, "status": "damaged", "reason": "; ".join(f"{f}: {why}" for f, why in bad)}, None
    try:
        return meta, _io.load_npz(_paths(out_root, name)["npz"])
    except ValueError as exc:
        return {**meta, "status": "damaged", "reason": str(exc)}, None


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the flag (exit status 2), not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def _parse_value(text: str, default):
    try:
        if isinstance(default, tuple):
            inner = type(default[0]) if default else float
            return tuple(inner(float(t)) if inner is int else inner(t) for t in text.split(",") if t.strip())
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        return type(default)(text)
    except (ValueError, OverflowError):
        kind = ("comma-separated numbers" if isinstance(default, tuple) else
                "an integer" if isinstance(default, int) else "a number")
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None


def add_config_flags(parser: argparse.ArgumentParser, module) -> None:
    """One `--field-name` flag per `Config` field (tuples as comma-separated lists), with its range."""
    group = parser.add_argument_group(f"sizes for {module.NAME} (defaults for a 2-core CPU; --full for a GPU)")
    for field in dataclasses.fields(module.Config):
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(flag_name(field.name), dest=field.name, default=None, metavar=type(default).__name__.upper(),
                           type=lambda t, d=default: _parse_value(t, d),
                           help=f"default {shown}; {field_range(module, field).describe()}")


def add_common_flags(parser: argparse.ArgumentParser, *, default_out: str = "sumjax-out") -> None:
    parser.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    parser.add_argument("--force", action="store_true",
                        help="recompute even if verified outputs exist, and replace outputs of another configuration")
    parser.add_argument("--full", action="store_true", help="paper-sized sweeps, meant for a GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (TQDM_DISABLE=1 also works)")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the persistent compilation cache (default: $SUMJAX_CACHE_DIR, else "
                             "$XDG_CACHE_HOME/sumjax/jax or ~/.cache/sumjax/jax; SUMJAX_CACHE_DIR=off disables)")
    add_distributed_flags(parser)


_CACHE_OFF = ("", "off", "0", "false", "no", "none")


def compilation_cache_dir(*, disabled: bool = False) -> str | None:
    """Where `sumjax reproduce`/`run` keep compiled programs, or None when caching is off.

    `SUMJAX_CACHE_DIR` names the folder ("" or "off" turn caching off); unset, the user's
    cache folder: `$XDG_CACHE_HOME/sumjax/jax`, else `~/.cache/sumjax/jax`.

    Args:
        disabled: return None regardless of the environment (default False).

    Returns:
        The cache folder (a str), or None when caching is off.
    """
    if disabled:
        return None
    env = os.environ.get("SUMJAX_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in _CACHE_OFF else os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sumjax", "jax")


def enable_compilation_cache(path: str | None) -> str | None:
    """Store every program JAX compiles in this process in the persistent cache at `path`.

    The thresholds are set so that every program is stored (JAX's defaults skip programs
    that compile in under a second). A folder that cannot be created leaves caching off
    (with a warning) rather than failing the run. Returns the folder used, or None.

    Args:
        path: the cache folder; None leaves caching off.

    Returns:
        The folder used (a str), or None.
    """
    if path is None:
        return None
    import jax

    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        print(f"sumjax: warning: compilation cache off, cannot create {path!r}: {exc.strerror or exc}", file=sys.stderr)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path


def setup_from_flags(args) -> None:
    """What every command does before computing: join several hosts, enable the cache."""
    maybe_initialize_distributed(args)
    enable_compilation_cache(compilation_cache_dir(disabled=getattr(args, "no_cache", False)))


def experiment_main(module, argv=None, *, prog: str | None = None) -> int:
    """Command-line entry point of one experiment (`sumjax run NAME`, or a script).

    Bad flag values, a configuration that differs from the finished run in --out and an
    output folder that cannot be written each give one line naming the flag or path, and
    exit status 2, before anything is computed.

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        argv: the command-line arguments; None (default) is `sys.argv[1:]`.
        prog: the program name in messages; None (default) is ``sumjax run NAME``.

    Returns:
        The exit status: 0 on success, 1 when the run failed, 2 for a usage or configuration error
        or a missing dependency.
    """
    prog = prog or f"sumjax run {module.NAME}"
    parser = OneLineParser(prog=prog, description=f"{module.TITLE}. {module.CAPTION}")
    add_common_flags(parser)
    add_config_flags(parser, module)
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(module.Config)}
    try:
        cfg = config_from(module, full=args.full, **overrides)
        _io.check_writable(args.out)  # writes nothing that stays, so every host may check
        if not args.force:
            check_existing(module, cfg, args.out, seed=args.seed, float64=args.float64)
        setup_from_flags(args)
        meta = run_experiment(module, cfg, args.out, seed=args.seed, float64=args.float64, force=args.force,
                              progress=not args.quiet)
    except (ConfigError, ConfigMismatch, OutputError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if meta["status"] == "complete":
        if not _is_writer():  # several processes: process 0 writes the outputs and prints the claims
            return 0
        for claim in module.claims(load_outputs(args.out, module.NAME)[1], cfg):
            print(f"{claim.verdict:>18} | {claim.claim} | {claim.measured}")
        return 0
    print(f"{module.NAME}: {meta['status']}: {meta.get('reason', '')}", file=sys.stderr)
    return 2 if meta["status"] == "unavailable" else 1


def config_from_meta(module, meta: dict):
    """Rebuild the `Config` a finished run used from its metadata (JSON lists -> tuples).

    Args:
        module: the experiment module (a module object with `NAME`, `Config`, `compute`, ...).
        meta: the run's metadata dict (as returned by `run_experiment` or read from its JSON).

    Returns:
        An instance of the module's `Config`.
    """
    fields = {f.name for f in dataclasses.fields(module.Config)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in meta.get("config", {}).items() if k in fields}
    return module.Config(**values)
