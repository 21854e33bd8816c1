"""Parameter sweeps sharded over every visible device with `jax.sharding`.

A sweep evaluates one function at many parameter points: `jax.vmap` over the
points, and the points split along a 1-D device `Mesh` (axis ``"sweep"``) with
`NamedSharding(mesh, PartitionSpec("sweep"))`. The point count is padded to a
multiple of the device count (by repeating the last point, so padding is always a
valid input) and the padding is dropped from the result.

The same script therefore runs on one CPU, on 8 GPUs, or on several processes or hosts
without change. For several processes, start every one with the same script and call

    sumjax.distributed.initialize()   # or jax.distributed.initialize(); see docs/distributed.md

before any other JAX call; `jax.devices()` then lists every device of every process,
each process builds the global input from its (identical) host copy with
`jax.make_array_from_callback`, and the result is gathered back to every process
(`process_allgather`), so every process holds the whole result. Tested with two
processes of two CPU devices each: bit-identical to one process running the same
per-device pieces (tests/test_distributed.py). Results are independent of the device
count up to the order of reductions inside `fn`, which XLA may vectorise differently
for another per-device batch size (a few ulp).
To try sharding on a CPU-only machine, set
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` before JAX is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["SWEEP_AXIS", "sweep_mesh", "pad_to_multiple", "sharded_vmap"]

SWEEP_AXIS = "sweep"


def sweep_mesh(devices: Sequence[jax.Device] | None = None, axis_name: str = SWEEP_AXIS) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every process).

    Args:
        devices: the devices of the mesh; None (default) is `jax.devices()` (every device of every
            process).
        axis_name: the mesh axis name (default ``"sweep"``).

    Returns:
        A 1-D `jax.sharding.Mesh` over the devices.
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("argument `devices` must name at least one device")
    return Mesh(np.asarray(devices), (axis_name,))


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad the leading axis of `x` to a multiple of `multiple` by repeating its last row.

    Args:
        x: a NumPy array with a leading axis of length n ≥ 1.
        multiple: the target multiple, an int ≥ 1.

    Returns:
        A NumPy array of leading length ⌈n/multiple⌉·multiple (x itself when no padding is needed).
    """
    x = np.asarray(x)
    n = x.shape[0]
    if n == 0:
        raise ValueError("argument `x` must have at least one row to sweep over")
    extra = (-n) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    # Works for one process and for many: each process slices its own shards out of
    # the (identical) host copy of the parameters.
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _to_host(x: jax.Array) -> np.ndarray:
    if jax.process_count() > 1:  # tested in subprocesses (tests/test_distributed.py)
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def sharded_vmap(
    fn: Callable,
    in_axes: int | None | Sequence[int | None] = 0,
    *,
    mesh: Mesh | None = None,
    program_cache: str | None = None,
) -> Callable:
    """`jax.vmap(fn, in_axes)` with the mapped axis sharded over a 1-D device mesh.

    Returns a function of the same positional arguments that returns NumPy arrays
    (a pytree matching `fn`'s output) with the mapped axis first. Arguments with
    `in_axes` 0 are arrays (or pytrees of arrays) sharing their leading length n;
    arguments with `in_axes` None are replicated on every device. Results equal
    `jax.vmap(fn, in_axes)(*args)` on one device; points are independent, so
    sharding changes only where each point is computed.

    Args:
        fn: the function of one point (jax-traceable).
        in_axes: 0 (mapped) or None (replicated) per positional argument, or one value for all
            (default 0), as in `jax.vmap`.
        mesh: a 1-D device mesh; None (default) is `sweep_mesh()`.
        program_cache: a folder where the compiled program is stored and from which a later process
            loads it without tracing (`sumjax._program_cache`: module-level sumjax functions only,
            one process, no host callbacks; anything else, including functions outside the package, runs
            through jit as usual). None (default): off.

    Returns:
        A function of the same positional arguments returning NumPy arrays (a pytree like `fn`'s
        output) with the mapped axis first, of length n.
    """
    mesh = sweep_mesh() if mesh is None else mesh
    axis = mesh.axis_names[0]
    n_dev = mesh.devices.size
    batch_sharding = NamedSharding(mesh, PartitionSpec(axis))
    replicated = NamedSharding(mesh, PartitionSpec())

    def call(*args):
        axes = (in_axes,) * len(args) if not isinstance(in_axes, (tuple, list)) else tuple(in_axes)
        if len(axes) != len(args):
            raise ValueError(f"argument `in_axes` must have one entry per argument; got {len(axes)} for {len(args)}")
        lengths = {
            np.shape(leaf)[0]
            for a, ax in zip(args, axes)
            if ax == 0
            for leaf in jax.tree_util.tree_leaves(a)
        }
        if len(lengths) != 1:
            raise ValueError(f"swept arguments must share one leading length; got lengths {sorted(lengths)}")
        (n,) = lengths
        placed = []
        for a, ax in zip(args, axes):
            if ax == 0:
                placed.append(
                    jax.tree_util.tree_map(lambda leaf: _global_array(pad_to_multiple(np.asarray(leaf), n_dev), batch_sharding), a)
                )
            elif ax is None:
                placed.append(jax.tree_util.tree_map(lambda leaf: _global_array(np.asarray(leaf), replicated), a))
            else:
                raise ValueError(f"argument `in_axes` entries must be 0 or None; got {ax!r}")
        out = _compiled(fn, axes, batch_sharding, placed, program_cache)(*placed)
        return jax.tree_util.tree_map(lambda x: _to_host(x)[:n], out)

    return call


_CACHE: dict = {}


def _compiled(fn, axes, sharding, args, program_cache):
    # One jitted program per (function, axes, sharding): repeated chunks of the same
    # size reuse it instead of re-tracing.
    key = (fn, axes, sharding)
    if key not in _CACHE:
        _CACHE[key] = jax.jit(jax.vmap(fn, in_axes=axes), out_shardings=sharding)
    jitted = _CACHE[key]
    if program_cache is None:
        return jitted
    from . import _program_cache

    if not _program_cache.cacheable(fn):
        return jitted
    stored_key = _program_cache.program_key(fn, axes, args, sharding)
    if stored_key not in _CACHE:
        compiled = _program_cache.load(program_cache, stored_key)
        if compiled is None:
            compiled = _program_cache.compile_and_store(jitted, args, program_cache, stored_key)
        _CACHE[stored_key] = compiled
    compiled = _CACHE[stored_key]

    def run(*a):
        try:
            return compiled(*a)
        except Exception:  # the stored program refuses these arguments or cannot run: trace as usual
            if isinstance(compiled, _program_cache.Loaded):
                compiled.discard()
            _CACHE[stored_key] = jitted
            return jitted(*a)

    return run
