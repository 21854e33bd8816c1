"""Compiled sweep programs kept on disk between processes, so a rerun skips tracing as well as compiling.

JAX's persistent compilation cache is keyed by the lowered program, so every process still traces
and lowers each function before it can look the program up; for the scenario sensitivities (forward
mode through a scanned loop) tracing alone takes seconds. `sharded_vmap(..., program_cache=DIR)`
stores the compiled executable (`jax.experimental.serialize_executable`) under a key of everything
the traced program depends on, and loads it in a later process without tracing:

* the function's module and qualified name, and only for module-level functions of the `sumjax`
  package without a closure (their whole source is hashed into the key, so any code change misses);
* the versions of Python, jax, jaxlib, equinox and NumPy, JAX's tracing configuration (x64, matmul
  precision, …) and ``EQX_ON_ERROR``;
* the arguments' tree structure, shapes, dtypes and shardings, and the devices of the mesh.

A program with host callbacks or side effects is never stored (its callbacks would not exist in the
next process). Anything unexpected — an unreadable file, a program the backend cannot serialize, an
argument mismatch on call — falls back to the ordinary jit path, so the cache can make a run faster
but never changes a result. Only for one process (not multi-host runs).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Callable

import jax

__all__: list[str] = []

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_FORMAT = 1  # bump when the stored layout changes


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """SHA-256 of the sumjax sources and the versions of everything that shapes a traced program."""
    import equinox
    import jaxlib
    import numpy

    h = hashlib.sha256()
    h.update(repr((_FORMAT, sys.version, jax.__version__, jaxlib.__version__, equinox.__version__,
                   numpy.__version__)).encode())
    for root, dirs, files in os.walk(_PACKAGE_DIR):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, _PACKAGE_DIR).encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def _config_key() -> str:
    from jax._src import config as jax_config

    try:
        context = repr(jax_config.trace_context())
    except Exception:  # a JAX without it: key on the flags that matter most
        context = repr([getattr(jax.config, name, None) for name in ("jax_default_matmul_precision", "jax_numpy_rank_promotion",
                                                             "jax_default_prng_impl")])
    context = re.sub(r" at 0x[0-9a-fA-F]+", "", context)  # object addresses differ between processes
    return repr((context, jax.config.jax_enable_x64, os.environ.get("EQX_ON_ERROR"),
                 jax.process_count(), jax.default_backend()))


def cacheable(fn: Callable) -> bool:
    """True for a module-level function of the sumjax package without a closure."""
    return (inspect.isfunction(fn) and fn.__closure__ is None and "<" not in fn.__qualname__
            and (fn.__module__ == "sumjax" or fn.__module__.startswith("sumjax.")) and jax.process_count() == 1)


def program_key(fn: Callable, axes, args, out_sharding) -> str:
    """Key of the program `jax.jit(jax.vmap(fn, axes), out_shardings=out_sharding)(*args)`."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    sig = [(tuple(x.shape), str(x.dtype), bool(getattr(x, "weak_type", False)), str(getattr(x, "sharding", None)))
           for x in leaves]
    h = hashlib.sha256()
    h.update(repr((_code_fingerprint(), _config_key(), fn.__module__, fn.__qualname__, axes, str(tree), sig,
                   str(out_sharding))).encode())
    return h.hexdigest()


def load(folder: str, key: str):
    """The stored compiled program for `key`, or None."""
    path = os.path.join(folder, key + ".pkl")
    if not os.path.exists(path):
        return None
    from jax.experimental import serialize_executable

    try:
        with open(path, "rb") as f:
            payload, in_tree, out_tree = pickle.load(f)
        return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
    except Exception:  # damaged, or from an incompatible runtime: recompile (and overwrite it)
        return None


def _has_callbacks(lowered) -> bool:
    args = getattr(getattr(lowered, "_lowering", None), "compile_args", None)
    if not isinstance(args, dict) or "host_callbacks" not in args:
        return True  # cannot tell: do not store
    effects = list(args.get("ordered_effects", ())) + list(args.get("unordered_effects", ()))
    return bool(args["host_callbacks"]) or bool(effects)


def compile_and_store(jitted, args, folder: str, key: str):
    """Compile `jitted` for `args` and store the executable under `key` when it has no host callbacks.

    Returns the compiled program (callable like `jitted` on arguments of the same signature)."""
    lowered = jitted.lower(*args)
    compiled = lowered.compile()
    if _has_callbacks(lowered):
        return compiled
    from jax.experimental import serialize_executable

    try:
        blob = pickle.dumps(serialize_executable.serialize(compiled))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, os.path.join(folder, key + ".pkl"))  # atomic: readers never see half a file
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except Exception:  # not serializable on this backend, or the folder is not writable: run uncached
        pass
    return compiled
