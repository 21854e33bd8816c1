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

The package's own jitted kernels use `stored_jit` in place of `jax.jit`: called eagerly (no caller's
trace) while JAX's persistent cache is on, they keep their executables the same way in the cache's
``programs/`` folder, so the first call in a new process loads instead of tracing and lowering. Under a
trace, with the cache off, or with a static argument the key cannot describe exactly (a user's
function, say), they are plain `jax.jit`.
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
import threading
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
                 jax.process_count(), jax.default_backend(), _machine_key()))


@functools.lru_cache(maxsize=1)
def _machine_key() -> str:
    """The devices (platform, its version, kinds, count) and, for the CPU, its instruction-set flags: a
    folder shared between machines (a cluster's home directory) never hands one machine's code to another."""
    import platform

    devices = jax.devices()
    parts = [devices[0].client.platform, devices[0].client.platform_version,
             sorted({d.device_kind for d in devices}), len(devices), platform.machine()]
    try:
        with open("/proc/cpuinfo") as f:
            parts.append(next((line for line in f if line.startswith("flags")), ""))
    except OSError:
        parts.append(platform.processor())
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _package_function(fn) -> bool:
    return (inspect.isfunction(fn) and fn.__closure__ is None and "<" not in fn.__qualname__
            and (fn.__module__ == "sumjax" or fn.__module__.startswith("sumjax.")))


def cacheable(fn: Callable) -> bool:
    """True for a module-level function of the sumjax package without a closure."""
    return _package_function(fn) and jax.process_count() == 1


def _signature(leaves):
    """Each leaf's abstract value (shape, dtype, weak type) and sharding."""
    return tuple((jax.typeof(x), str(getattr(x, "sharding", None))) for x in leaves)


def _digest(fn: Callable, tree, leaves, *extra) -> str:
    """Key of `fn`'s program for arguments of this tree and these leaves: the code and configuration
    (`_code_fingerprint`, `_config_key`), the function's name, each leaf's shape, dtype, weak type and
    sharding, and whatever else shapes the program (`extra`)."""
    sig = [(tuple(aval.shape), str(aval.dtype), bool(getattr(aval, "weak_type", False)), sharding)
           for aval, sharding in _signature(leaves)]
    h = hashlib.sha256()
    h.update(repr((_code_fingerprint(), _config_key(), fn.__module__, fn.__qualname__, str(tree), sig,
                   extra)).encode())
    return h.hexdigest()


def program_key(fn: Callable, axes, args, out_sharding) -> str:
    """Key of the program `jax.jit(jax.vmap(fn, axes), out_shardings=out_sharding)(*args)`."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    return _digest(fn, tree, leaves, axes, str(out_sharding))


class Loaded:
    """A compiled program loaded from disk. Its first run is waited for, so a program that loads but
    cannot run (XLA reports a missing kernel only when it executes) raises here, at the call, where
    the caller drops the file (`discard`) and falls back to `jax.jit`; later runs are asynchronous."""

    def __init__(self, compiled, path: str):
        self.compiled, self.path, self.checked = compiled, path, False

    def __call__(self, *args):
        out = self.compiled(*args)
        if not self.checked:
            jax.block_until_ready(out)
            self.checked = True
        return out

    def discard(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass


def load(folder: str, key: str) -> Loaded | None:
    """The stored compiled program for `key`, or None."""
    path = os.path.join(folder, key + ".pkl")
    if not os.path.exists(path):
        return None
    from jax.experimental import serialize_executable

    try:
        with open(path, "rb") as f:
            payload, in_tree, out_tree = pickle.load(f)
        return Loaded(serialize_executable.deserialize_and_load(payload, in_tree, out_tree), path)
    except Exception:  # damaged, or from an incompatible runtime: recompile (and overwrite it)
        return None


_HITS = threading.local()


@functools.lru_cache(maxsize=1)
def _watch_persistent_cache_hits() -> None:
    def listener(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            _HITS.count = getattr(_HITS, "count", 0) + 1

    jax.monitoring.register_event_listener(listener)


def _persistent_cache_hits() -> int:
    """JAX persistent-cache hits so far in this thread (compilation runs in the calling thread)."""
    _watch_persistent_cache_hits()
    return getattr(_HITS, "count", 0)


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
    hits = _persistent_cache_hits()
    compiled = lowered.compile()
    if _has_callbacks(lowered) or _persistent_cache_hits() != hits:
        # An executable JAX loaded from its own persistent cache does not serialize completely again
        # (XLA:CPU leaves its kernels out: the copy loads, then fails to run in the next process with
        # "Function … not found"). Only freshly compiled programs are stored.
        return compiled
    from jax.experimental import serialize_executable

    try:
        blob = pickle.dumps(serialize_executable.serialize(compiled))
        _, _, out_tree = pickle.loads(blob)
        # Some output trees do not survive pickling (an equinox Module's sentinels come back as new
        # objects and its unflatten fails): store only what a later process can rebuild.
        out_tree.unflatten([0] * out_tree.num_leaves)
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


# --------------------------------------------------------------------------- the package's kernels


def folder() -> str | None:
    """The ``programs/`` folder of JAX's persistent compilation cache; None when that cache is off or
    several processes run."""
    cache_dir = jax.config.jax_compilation_cache_dir
    if not cache_dir or jax.process_count() != 1:
        return None
    return os.path.join(str(cache_dir), "programs")


class _Unstable(Exception):
    """A static argument whose description in a key would not identify the program across processes."""


def _token(value) -> str:
    """A description of a static argument that is equal across processes exactly when the traced
    program is: plain values, tuples, dtypes, and the package's own functions and dataclasses (by
    module, name and fields). Anything else (a user's function or object) raises `_Unstable`."""
    import dataclasses

    import numpy as np

    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}(" + ",".join(_token(v) for v in value) + ")"
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return f"dtype:{np.dtype(value).str}"
    if isinstance(value, type) or _package_function(value):
        module = getattr(value, "__module__", "")
        if module == "sumjax" or module.startswith("sumjax."):
            return f"obj:{module}.{value.__qualname__}"
        raise _Unstable(value)
    cls = type(value)
    if dataclasses.is_dataclass(value) and (cls.__module__ == "sumjax" or cls.__module__.startswith("sumjax.")):
        fields = ",".join(f"{f.name}={_token(getattr(value, f.name))}" for f in dataclasses.fields(value))
        return f"{cls.__module__}.{cls.__qualname__}({fields})"
    raise _Unstable(value)


def _debugging() -> bool:
    """`jax.disable_jit` or NaN/inf debugging on: jit's own behaviour (op-by-op, re-runs) is wanted."""
    return bool(jax.config.jax_disable_jit or jax.config.jax_debug_nans or jax.config.jax_debug_infs)


class _Prefetch:
    """A stored program being loaded on a background thread (`stored_jit.prefetch`); `result` waits for it
    and gives the `Loaded` program, or False (load failed: the call then loads or compiles as usual)."""

    def __init__(self, where: str, key: str):
        self._out: list = []
        # Not a daemon: an exiting interpreter waits for the load (~0.1 s) instead of tearing down under it.
        self._thread = threading.Thread(target=lambda: self._out.append(load(where, key)),
                                        name="sumjax-program-prefetch")
        self._thread.start()

    def result(self):
        self._thread.join()
        out = self._out[0] if self._out else None
        return False if out is None else out


class stored_jit:
    """`jax.jit(fn, static_argnums=...)` whose executables also go to the persistent cache's
    ``programs/`` folder (module docstring), for the package's module-level kernels.

    Only positional calls without a caller's trace are stored; keyword arguments, tracers, an unclean
    trace state, `jax.disable_jit` or NaN/inf debugging, the cache being off, or a static argument that
    `_token` cannot describe all call the plain jitted function, and so does any failure to load or call
    a stored program."""

    def __init__(self, fn: Callable, static_argnums: tuple[int, ...] | int = ()):
        functools.update_wrapper(self, fn)
        static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self._fn = fn
        self._static = static
        self._jitted = jax.jit(fn, static_argnums=static)
        self._storable = _package_function(fn)
        self._memo: dict = {}  # in-process: signature -> compiled program, or None (use the jitted one)

    def __getattr__(self, name):  # lower, trace, eval_shape, ... as on the jitted function
        return getattr(self._jitted, name)

    def _entry(self, args):
        """(memo key, folder, leaves, tree, statics, dynamic args) of a storable call, or None where the plain
        jitted function applies (a caller's trace, debugging, the cache off, an unhashable static argument)."""
        where = folder() if self._storable else None  # first: with the cache off, a call costs no more than jit's
        if where is None:
            return None
        from jax._src.core import trace_state_clean

        dynamic = [a for i, a in enumerate(args) if i not in self._static]
        leaves, tree = jax.tree_util.tree_flatten(dynamic)
        if any(isinstance(x, jax.core.Tracer) for x in leaves) or not trace_state_clean() or _debugging():
            return None
        from jax._src import config as jax_config

        statics = tuple(args[i] for i in self._static if i < len(args))
        try:
            fast = (where, tree, _signature(leaves), statics, jax_config.trace_context())
            hash(fast)
        except TypeError:  # unhashable static argument: jit raises its own clear error
            return None
        return fast, where, leaves, tree, statics, dynamic

    def __call__(self, *args, **kwargs):
        entry = None if kwargs else self._entry(args)
        if entry is None:
            return self._jitted(*args, **kwargs)
        fast, where, leaves, tree, statics, dynamic = entry
        compiled = self._memo.get(fast, False)
        if isinstance(compiled, _Prefetch):
            compiled = self._memo[fast] = compiled.result()
        if compiled is False:
            compiled = self._memo[fast] = self._load_or_compile(where, args, leaves, tree, statics)
        if compiled is None:
            return self._jitted(*args)
        try:
            return compiled(*dynamic)
        except Exception:  # the stored program refuses these arguments or cannot run: never again
            if isinstance(compiled, Loaded):
                compiled.discard()
            self._memo[fast] = None
            return self._jitted(*args)

    def prefetch(self, *args) -> None:
        """Start loading the stored program for a later call with arguments like `args` (the same tree,
        shapes, dtypes, shardings and static values; the values are not used) on a background thread, so
        that the load overlaps what the caller does before that call. Loads of two programs then share the
        cores (each is mostly single-threaded deserialisation). Does nothing where that call would not
        load a stored program: cache off, under a trace, nothing stored yet, already loaded."""
        entry = self._entry(args)
        if entry is None:
            return
        fast, where, leaves, tree, statics, _ = entry
        if fast in self._memo:
            return
        try:
            description = tuple(_token(s) for s in statics)
        except _Unstable:
            return
        key = "k-" + _digest(self._fn, tree, leaves, self._static, description)
        if os.path.exists(os.path.join(where, key + ".pkl")):
            self._memo[fast] = _Prefetch(where, key)

    def _load_or_compile(self, where, args, leaves, tree, statics):
        try:
            description = tuple(_token(s) for s in statics)
        except _Unstable:
            return None
        key = "k-" + _digest(self._fn, tree, leaves, self._static, description)
        compiled = load(where, key)
        if compiled is None:
            try:
                compiled = compile_and_store(self._jitted, args, where, key)
            except Exception:  # let the jitted call raise whatever it raises, as without the store
                return None
        return compiled
