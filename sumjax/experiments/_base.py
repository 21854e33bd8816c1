"""The experiment runner: configuration, reruns, sweeps in pieces, outputs and claims.

An experiment is a module with

- `NAME`, `TITLE`, `SOURCE` ("SUM", "Guarded learning" or "Beyond the texts"), `CAPTION`;
- `Config`, a frozen dataclass of sizes (defaults sized for a 2-core CPU) and `FULL`, a dict
  of overrides for paper-sized sweeps meant for a GPU;
- `requires()`, raising `Unavailable` while a function it needs does not exist yet;
- `compute(ctx) -> dict[str, array]`, `plot(data, cfg) -> Figure`,
  `table(data) -> dict[str, 1-D array]` (the CSV), and `claims(data, cfg) -> list[Claim]`.

`run_experiment` writes `OUT/NAME/NAME.{npz,csv,png,svg,json}`; the JSON (metadata:
versions, device, configuration, seed, dtype, timestamps, wall times) is written last and
marks the run finished, so a rerun with the same configuration, seed and dtype skips it
unless `force`. Sweeps run in pieces (`Context.sweep`); each finished piece is saved
atomically and reused by a rerun, so an interrupted sweep loses at most one piece.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import sys
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
    "HOLDS",
    "FAILS",
    "CAVEAT",
]

HOLDS = "holds"
FAILS = "does not hold"
CAVEAT = "holds with caveat"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a text, with what was measured and the verdict computed from it."""

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
    """Raise `Unavailable` unless `module` defines every one of `names`."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - our own package always imports
        raise Unavailable(f"cannot import {module}: {exc}") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Unavailable(f"needs {', '.join(f'{module}.{n}' for n in missing)}, not available in this checkout")


def config_from(module, *, full: bool = False, **overrides):
    """The module's `Config`, with `FULL` applied when `full`, then `overrides` (None ignored)."""
    base = dict(getattr(module, "FULL", {})) if full else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return module.Config(**base)


def _config_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def _tag(cfg_dict: dict, seed: int, dtype: str) -> str:
    blob = json.dumps({"config": cfg_dict, "seed": seed, "dtype": dtype}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Context:
    """What `compute` receives: the configuration, a PRNG key, the dtype, sharded sweeps."""

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

    def asarray(self, x):
        import jax.numpy as jnp

        return jnp.asarray(x, dtype=self.dtype)

    def sweep(self, name: str, fn: Callable, params: Mapping[str, object], *, chunk: int = 256, static=None) -> dict:
        """Evaluate `fn(point)` at every row of `params`, sharded over the devices, in pieces.

        `params` maps names to arrays sharing their leading length n; `fn` receives a dict
        of the same names holding one row each (plus `static`, replicated, if given) and
        returns a dict of arrays. Pieces of `chunk` rows are saved atomically under
        `.pieces-*` and reused on a rerun. Returns the stacked NumPy results (length n).
        """
        from ..sharding import sharded_vmap

        params = {k: np.asarray(v) for k, v in params.items()}
        lengths = {v.shape[0] for v in params.values()}
        if len(lengths) != 1:
            raise ValueError(f"sweep `{name}`: parameters must share one leading length; got {sorted(lengths)}")
        (n,) = lengths
        chunk = max(1, min(int(chunk), n))
        n_pieces = -(-n // chunk)
        # Pad to whole pieces (repeating the last point) so every piece has one shape: one compile.
        padded = {k: np.concatenate([v, np.repeat(v[-1:], n_pieces * chunk - n, axis=0)]) for k, v in params.items()}
        if static is None:
            mapped = sharded_vmap(fn, in_axes=0)
        else:
            mapped = sharded_vmap(fn, in_axes=(0, None))
        paths = [os.path.join(self.pieces_dir, f"{name}-{i:05d}.npz") for i in range(n_pieces)]
        # Decide which pieces are finished once, after a barrier: on several hosts every process
        # must take part in the same (collective) computations.
        _sync(f"sweep-{self.label}-{name}")
        finished = [bool(f) for f in _from_writer([os.path.exists(path) for path in paths])]  # process 0 decides
        pieces = []
        bar = _io.Progress(n_pieces, f"{self.label}:{name}", enabled=self.progress and _is_writer())
        for i, path in enumerate(paths):
            if finished[i]:
                piece = _load_shared(_io.load_npz, path)
            else:
                rows = {k: v[i * chunk : (i + 1) * chunk] for k, v in padded.items()}
                out = mapped(rows) if static is None else mapped(rows, static)
                piece = {k: np.asarray(v) for k, v in out.items()}
                if _is_writer():
                    _io.save_npz(path, piece)
            pieces.append(piece)
            bar.update()
        return {k: np.concatenate([p[k] for p in pieces])[:n] for k in pieces[0]}


def _paths(out_root: str, name: str) -> dict:
    folder = os.path.join(out_root, name)
    return {
        "folder": folder,
        "meta": os.path.join(folder, f"{name}.json"),
        "npz": os.path.join(folder, f"{name}.npz"),
        "csv": os.path.join(folder, f"{name}.csv"),
        "figure": os.path.join(folder, name),
    }


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
    same configuration, seed and dtype is on disk, unless `force`. A missing dependency
    gives status "unavailable" with the reason (nothing else is written).
    """
    import jax
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    log = log or (lambda msg: print(msg, file=sys.stderr))
    cfg = module.Config() if cfg is None else cfg
    dtype_name = "float64" if float64 else "float32"
    cfg_dict = _config_dict(cfg)
    tag = _tag(cfg_dict, seed, dtype_name)
    p = _paths(out_root, module.NAME)
    _sync(f"run-{module.NAME}")
    old = {}
    if not force and os.path.exists(p["meta"]):
        try:
            old = _io.load_json(p["meta"])
        except (OSError, ValueError):
            old = {}
    files_there = all(os.path.exists(os.path.join(p["folder"], f)) for f in old.get("files", ["?"]))
    finished = old.get("status") == "complete" and old.get("tag") == tag and files_there
    if _from_writer(finished):  # process 0 decides, so every process runs the same computations
        log(f"[{module.NAME}] finished output found, skipping (use --force to recompute)")
        return {**old, "status": "complete", "skipped": True}

    meta = {
        "name": module.NAME,
        "title": module.TITLE,
        "source": module.SOURCE,
        "config": cfg_dict,
        "seed": int(seed),
        "dtype": dtype_name,
        "tag": tag,
        "started": _io.utc_now(),
    }
    try:
        module.requires()
    except Unavailable as exc:
        log(f"[{module.NAME}] unavailable: {exc}")
        meta.update(status="unavailable", reason=str(exc))
        if _is_writer():
            _io.save_json(p["meta"], meta)  # not "complete": a later run tries again
        return {**meta, "skipped": False}

    ctx = Context(cfg, seed=seed, dtype=None, folder=p["folder"], progress=progress, tag=tag)
    if _is_writer():
        os.makedirs(p["folder"], exist_ok=True)
        if force and os.path.isdir(ctx.pieces_dir):
            shutil.rmtree(ctx.pieces_dir)
    t0 = time.perf_counter()
    with jax.enable_x64(bool(float64)):
        import jax.numpy as jnp

        ctx.dtype = jnp.float64 if float64 else jnp.float32
        try:
            data = module.compute(ctx)
            data = {k: np.asarray(v) for k, v in data.items()}
        except Exception as exc:
            log(f"[{module.NAME}] FAILED: {type(exc).__name__}: {exc}")
            meta.update(status="failed", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            if _is_writer():
                _io.save_json(p["meta"], meta)
            return {**meta, "skipped": False}
    t1 = time.perf_counter()
    if not _is_writer():  # pragma: no cover - several hosts: process 0 writes the outputs
        return {**meta, "status": "complete", "skipped": False, "wall_compute_s": round(t1 - t0, 3)}
    _io.save_npz(p["npz"], data)
    _io.save_csv(p["csv"], module.table(data))
    fig = module.plot(data, cfg)
    _io.save_figure(fig, p["figure"])
    plt.close(fig)
    t2 = time.perf_counter()
    meta.update(
        status="complete",
        finished=_io.utc_now(),
        wall_compute_s=round(t1 - t0, 3),
        wall_outputs_s=round(t2 - t1, 3),
        environment=_io.environment_metadata(),
        files=sorted(os.path.basename(x) for x in (p["npz"], p["csv"], p["figure"] + ".png", p["figure"] + ".svg")),
    )
    _io.save_json(p["meta"], meta)  # last: its presence marks the run finished
    shutil.rmtree(ctx.pieces_dir, ignore_errors=True)
    log(f"[{module.NAME}] done in {t2 - t0:.1f}s -> {p['folder']}")
    return {**meta, "skipped": False}


def load_outputs(out_root: str, name: str):
    """(metadata, data) of a finished experiment in `out_root`, or (metadata or None, None)."""
    p = _paths(out_root, name)
    if not os.path.exists(p["meta"]):
        return None, None
    meta = _io.load_json(p["meta"])
    if meta.get("status") != "complete" or not os.path.exists(p["npz"]):
        return meta, None
    return meta, _io.load_npz(p["npz"])


def _parse_value(text: str, default):
    if isinstance(default, tuple):
        inner = type(default[0]) if default else float
        return tuple(inner(float(t)) if inner is int else inner(t) for t in text.split(",") if t.strip())
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(float(text))
    return type(default)(text)


def add_config_flags(parser: argparse.ArgumentParser, module) -> None:
    """One `--field-name` flag per `Config` field (tuples as comma-separated lists)."""
    group = parser.add_argument_group(f"sizes for {module.NAME} (defaults for a 2-core CPU; --full for a GPU)")
    for field in dataclasses.fields(module.Config):
        default = field.default
        flag = "--" + field.name.replace("_", "-")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(flag, dest=field.name, default=None, metavar=type(default).__name__.upper(),
                           type=lambda t, d=default: _parse_value(t, d), help=f"default {shown}")


def add_common_flags(parser: argparse.ArgumentParser, *, default_out: str = "sumjax-out") -> None:
    parser.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    parser.add_argument("--force", action="store_true", help="recompute even if finished outputs exist")
    parser.add_argument("--full", action="store_true", help="paper-sized sweeps, meant for a GPU")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_distributed_flags(parser)


def experiment_main(module, argv=None) -> int:
    """Command-line entry point of one experiment (`experiments/<name>.py`)."""
    parser = argparse.ArgumentParser(prog=f"experiments/{module.NAME}.py", description=f"{module.TITLE}. {module.CAPTION}")
    add_common_flags(parser)
    add_config_flags(parser, module)
    args = parser.parse_args(argv)
    maybe_initialize_distributed(args)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(module.Config)}
    cfg = config_from(module, full=args.full, **overrides)
    meta = run_experiment(module, cfg, args.out, seed=args.seed, float64=args.float64, force=args.force,
                          progress=not args.quiet)
    if meta["status"] == "complete":
        if not _is_writer():  # several processes: process 0 writes the outputs and prints the claims
            return 0
        for claim in module.claims(load_outputs(args.out, module.NAME)[1], cfg):
            print(f"{claim.verdict:>18} | {claim.claim} | {claim.measured}")
        return 0
    print(f"{module.NAME}: {meta['status']}: {meta.get('reason', '')}", file=sys.stderr)
    return 2 if meta["status"] == "unavailable" else 1


def config_from_meta(module, meta: dict):
    """Rebuild the `Config` a finished run used from its metadata (JSON lists -> tuples)."""
    fields = {f.name for f in dataclasses.fields(module.Config)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in meta.get("config", {}).items() if k in fields}
    return module.Config(**values)
