"""Several JAX processes as one job: join it, check that the launch agrees, write once.

`initialize` joins the job (`jax.distributed.initialize`): the coordinator address, the
number of processes and this process's id come from the arguments or, where an argument
is None, from the cluster environment JAX detects (SLURM: ``SLURM_PROCID``, ``SLURM_NTASKS``,
``SLURM_STEP_NODELIST``…; Open MPI: ``OMPI_COMM_WORLD_*``; ``JAX_COORDINATOR_ADDRESS``,
``JAX_COORDINATOR_PORT``, ``JAX_LOCAL_DEVICE_IDS``). Afterwards `jax.devices()` lists the
devices of every process and sweeps (`sumjax.sharding`) run over all of them.

Failures end in one line, never a hang: a coordinator that cannot be reached, or processes
that never all arrive, end the process after ``timeout`` seconds with a line naming the
address (JAX itself would abort with a stack trace); processes started with different
flags (`check_launch`) raise `DistributedError` on every process. Files are written by
process 0 only (`is_writer`), atomically, so a killed process leaves no partial file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping

import numpy as np

__all__ = [
    "DistributedError",
    "initialize",
    "is_writer",
    "barrier",
    "check_agreement",
    "from_writer",
    "load_shared",
    "check_launch",
    "add_distributed_flags",
    "maybe_initialize_distributed",
]

DEFAULT_TIMEOUT = 300.0  # seconds to wait for every process to join (JAX's own default)
EXIT_TIMEOUT = 3  # exit status when the job cannot be joined in time
_SHARED_CHECK = ".sumjax-shared-check"
# Flags that differ between the processes of one correct launch.
_PER_PROCESS = frozenset({"process_id", "coordinator", "quiet", "distributed_timeout"})


class DistributedError(RuntimeError):
    """The processes of a multi-process job were launched inconsistently, or cannot meet."""


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"argument `coordinator` must be HOST:PORT with a port in 1..65535; got {address!r}")
    return host.strip("[]"), int(port)


def _probe(address: str, deadline: float) -> bool:
    """Whether a TCP connection to `address` succeeds before `deadline` (retrying: the
    coordinator may start after this process)."""
    host, port = _split_address(address)
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(2.0, deadline - time.monotonic()))):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Join the multi-process JAX job (once; a second call does nothing).

    `coordinator` is "HOST:PORT" of process 0 (it listens there; every process connects).
    Arguments left None come from the cluster environment (see the module docstring).
    Waits at most `timeout` seconds for every process to join; past that, prints one line
    naming the address to stderr and exits with status 3 (JAX would abort otherwise).
    Raises `DistributedError` for arguments that cannot describe a job.

    Args:
        coordinator: "HOST:PORT" of process 0; None (default) from the cluster environment.
        num_processes: number of processes ≥ 1; None (default) from the environment.
        process_id: this process's id in [0, num_processes); None (default) from the environment.
        timeout: seconds to wait for every process to join, > 0 (default 300).

    Raises:
        DistributedError: for arguments that cannot describe a job.
    """
    import jax

    if jax.distributed.is_initialized():
        return
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise DistributedError(f"argument `timeout` must be a positive number of seconds; got {timeout!r}")
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise DistributedError(f"argument `num_processes` must be an int >= 1; got {num_processes!r}")
    if process_id is not None and (
        not isinstance(process_id, int) or process_id < 0 or (num_processes is not None and process_id >= num_processes)
    ):
        raise DistributedError(f"argument `process_id` must be an int in [0, num_processes); got {process_id!r} "
                               f"with num_processes={num_processes!r}")
    address = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if address is not None:
        _split_address(address)
    env = os.environ
    pid = process_id if process_id is not None else env.get("SLURM_PROCID", env.get("OMPI_COMM_WORLD_RANK", "?"))
    count = num_processes if num_processes is not None else env.get("SLURM_NTASKS", env.get("OMPI_COMM_WORLD_SIZE", "?"))
    who = f"process {pid} of {count}"
    deadline = time.monotonic() + timeout
    # Processes other than 0 first check that the coordinator's port answers at all, so the
    # common mistake (wrong address, process 0 not started) raises a clean error.
    if address is not None and process_id not in (None, 0) and not _probe(address, deadline):
        raise DistributedError(f"could not reach the coordinator at {address} within {timeout:g} s ({who}): "
                               f"is process 0 running, and is {address} reachable from this host?")

    def give_up():  # JAX's own timeout aborts with a C++ stack trace; end with one line instead.
        where = address or "(from the cluster environment)"
        print(f"sumjax: {who} could not join the job at coordinator {where} within {timeout:g} s: "
              "not every process arrived, or the address is unreachable", file=sys.stderr, flush=True)
        os._exit(EXIT_TIMEOUT)

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=int(timeout) + 60,  # ours fires first
        )
    except (ValueError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(
            f"cannot join the JAX job ({who}): {first}. Pass --coordinator HOST:PORT --num-processes N --process-id I, "
            "or run under SLURM / Open MPI, or set JAX_COORDINATOR_ADDRESS") from exc
    finally:
        watchdog.cancel()


def is_writer() -> bool:
    """Whether this process writes files: process 0 only (every process computes the same data).

    Returns:
        True on process 0 (and in a single-process run), else False.
    """
    import jax

    return jax.process_index() == 0


def barrier(tag: str) -> None:
    """Wait until every process reaches `tag` (no-op with one process).

    Args:
        tag: a name of the meeting point, the same string on every process.
    """
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(tag)


def from_writer(x) -> np.ndarray:
    """Process 0's value of the small integer/bool array `x`, on every process (a broadcast;
    `x` itself with one process). Decisions taken from the shared folder ("is this piece
    finished?") must be process 0's: a lagging network file system may show another process
    an older folder, and processes that decide differently run different collectives (a hang).

    Args:
        x: a small integer or bool array (or scalar), the same shape on every process.

    Returns:
        A NumPy array: process 0's value of `x`.
    """
    import jax

    x = np.asarray(x)
    if jax.process_count() == 1:
        return x
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(x.astype(np.int32))).astype(x.dtype)


def load_shared(load, path: str, *, timeout: float = 60.0):
    """`load(path)` for a file process 0 wrote; on other processes retry for up to `timeout`
    seconds while it is not visible yet (network file systems cache directory lookups).

    Args:
        load: a function of a path that reads the file (raising `FileNotFoundError` while it is
            not visible).
        path: the file, written by process 0.
        timeout: seconds to keep retrying on other processes, > 0 (default 60).

    Returns:
        Whatever `load(path)` returns.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return load(path)
        except FileNotFoundError:
            if is_writer() or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _digest(text: str) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest()[:8], dtype=np.uint32)


def check_agreement(values: Mapping[str, str]) -> None:
    """Raise `DistributedError` on every process unless every process passed equal `values`.

    `values` maps a description (used in the message) to this process's text; one
    all-gather of 64-bit hashes compares them. No-op with one process.

    Args:
        values: description → this process's text; equal on every process for the check to pass.

    Raises:
        DistributedError: on every process when some process passed different values.
    """
    import jax

    if jax.process_count() == 1 or not values:
        return
    from jax.experimental import multihost_utils

    mine = np.stack([_digest(v) for v in values.values()])
    every = np.asarray(multihost_utils.process_allgather(mine))  # (processes, len(values), 2)
    for j, what in enumerate(values):
        differ = [i for i in range(every.shape[0]) if not np.array_equal(every[i, j], every[0, j])]
        if differ:
            raise DistributedError(f"processes disagree on {what}: process(es) {', '.join(map(str, differ))} "
                                   "differ from process 0; start every process with the same flags")


def check_launch(out: str, config: str) -> None:
    """Check that every process got the same output folder and configuration, and that the
    folder is one shared folder (process 0 writes a token there that every process must read).
    Raises `DistributedError` on every process otherwise; no-op with one process.

    Args:
        out: the output folder this process was given.
        config: the configuration text this process was given.

    Raises:
        DistributedError: on every process when the launch disagrees or the folder is not shared.
    """
    import jax

    if jax.process_count() == 1:
        return
    out = os.path.abspath(out)
    path = os.path.join(out, _SHARED_CHECK)
    if is_writer():
        from .experiments import _io

        _io.atomic_write_text(path, uuid.uuid4().hex)
    barrier("sumjax-shared-check-written")
    try:
        with open(path, encoding="utf-8") as fh:
            seen = fh.read()
    except OSError:
        seen = "(missing)"
    try:
        check_agreement({
            "the output folder --out": out,
            "the configuration (flags)": config,
            f"the contents of {path} (is --out one folder shared by every process?)": seen,
        })
    finally:
        if is_writer():  # every process has read it: the gather above needed all of them
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def add_distributed_flags(parser: argparse.ArgumentParser) -> None:
    """`--distributed` and the flags that map to `initialize`'s arguments.

    Args:
        parser: the `argparse.ArgumentParser` to extend (modified in place).
    """
    group = parser.add_argument_group("several processes / hosts (see docs/distributed.md)")
    group.add_argument("--distributed", action="store_true",
                       help="join a multi-process JAX job first (settings from the flags below or the cluster "
                            "environment, e.g. SLURM); --out must be one folder shared by every process")
    group.add_argument("--coordinator", metavar="HOST:PORT", default=None,
                       help="address of process 0 (implies --distributed; default: from the environment)")
    group.add_argument("--num-processes", metavar="N", type=int, default=None,
                       help="number of processes in the job (implies --distributed)")
    group.add_argument("--process-id", metavar="I", type=int, default=None,
                       help="this process's id, 0..N-1 (implies --distributed)")
    group.add_argument("--distributed-timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT,
                       help=f"seconds to wait for every process to join (default {DEFAULT_TIMEOUT:g})")


def _command_words() -> str:
    # The subcommand and experiment name ("run simplex_penalty"), which the flags do not hold.
    # (The program name counts only for experiments/<name>.py scripts, not `sumjax` vs `python -m`.)
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    words = [script] if script.endswith(".py") and script not in ("cli.py", "__main__.py") else []
    for word in sys.argv[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    return " ".join(words)


def maybe_initialize_distributed(args) -> None:
    """Command line: join the job when `--distributed` (or any of its flags) is given, then
    check the launch (`check_launch`). Errors end the process with one line (exit status 1).

    Args:
        args: the parsed command line (an `argparse.Namespace` with the flags of
            `add_distributed_flags`; its other attributes, except ``out``, form the configuration
            that every process must share).
    """
    flags = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if not getattr(args, "distributed", False) and all(f is None for f in flags):
        return
    try:
        initialize(*flags, timeout=getattr(args, "distributed_timeout", DEFAULT_TIMEOUT))
        config = {k: v for k, v in vars(args).items() if k not in _PER_PROCESS and k != "out"}
        check_launch(getattr(args, "out", "."),
                     json.dumps({"command": _command_words(), "flags": config}, sort_keys=True, default=str))
    except DistributedError as exc:
        raise SystemExit(f"sumjax: {exc}") from None
