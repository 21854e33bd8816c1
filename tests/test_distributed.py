"""Two JAX processes on this machine (2 CPU devices each, gloo collectives over loopback) as
one job: sharded sweeps and `sumjax reproduce/run --distributed` give bit-identical results
to one process; wrong launches end with one line, never a hang.

Every process runs in its own session with a hard timeout; on any timeout all of them are
killed (whole process groups), so a failing process cannot hang the suite.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.alignment import sample_uniform_sphere, total_harm
from sumjax.sharding import pad_to_multiple

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
TIMEOUT = 150  # per launch, generous for 2 busy cores; a healthy launch takes ~10-20 s
ENV = dict(
    os.environ,
    XLA_FLAGS="--xla_force_host_platform_device_count=2",
    JAX_PLATFORMS="cpu",
    PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
    MPLBACKEND="Agg",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(argvs, *, timeout=TIMEOUT, env=ENV, cwd=None):
    """Start one process per argv (each in a new session), wait for all; kill every process
    group if the deadline passes. Returns [(returncode, stdout, stderr)]; None returncode = killed."""
    procs = [subprocess.Popen(a, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for a in argvs]
    deadline = time.monotonic() + timeout
    results = []
    try:
        for p in procs:
            try:
                out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
                results.append((p.returncode, out, err))
            except subprocess.TimeoutExpired:
                results.append((None, "", "timed out"))
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.communicate()
    return results


def _ok(results):
    for i, (rc, out, err) in enumerate(results):
        assert rc == 0, f"process {i} exited {rc}:\n{err[-3000:]}"


# --- the sweeps (module level, so the worker processes import the very same functions) --------

def harm_point(p):
    """Total harm at one (ratio β_A/β_H, d), rectified, √KL measure, c* = 0.9."""
    return {"harm": total_harm(0.9, p["d"], p["ratio"], 1.0)}


def mc_point(p):
    """Monte Carlo with one key per point: E[c²] over 256 uniform directions on S⁴ (c = a₁)."""
    c = sample_uniform_sphere(jax.random.wrap_key_data(p["key"]), 5, (256,))[:, 0]
    return {"mean": jnp.mean(c * c), "first": c[0]}


def sweep_params():
    ratio, d = np.meshgrid(np.array([0.5, 1.0, 1.5, 2.5, 4.0]), np.array([3.0, 30.0, 1e4]), indexing="ij")
    harm = {"ratio": ratio.ravel(), "d": d.ravel()}  # 15 points: padded to 16 on 4 devices
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(7), 6)))
    return harm, {"key": keys}  # 6 points, one key each: padded to 8


def _by_pieces(fn, params, per_device):
    """jit(vmap(fn)) on consecutive pieces of `per_device` points (the last padded by repetition)."""
    n = len(next(iter(params.values())))
    padded = {k: pad_to_multiple(v, per_device) for k, v in params.items()}
    mapped = jax.jit(jax.vmap(fn))
    total = len(next(iter(padded.values())))
    pieces = [mapped({k: v[i:i + per_device] for k, v in padded.items()}) for i in range(0, total, per_device)]
    return {k: np.concatenate([np.asarray(p[k]) for p in pieces])[:n] for k in pieces[0]}


WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from sumjax.distributed import initialize
    initialize(sys.argv[1], 2, int(sys.argv[2]), timeout=90)
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_distributed import harm_point, mc_point, sweep_params
    from sumjax.sharding import sharded_vmap, sweep_mesh
    mesh = sweep_mesh()
    harm, mc = sweep_params()
    h = sharded_vmap(harm_point, mesh=mesh)(harm)
    m = sharded_vmap(mc_point, mesh=mesh)(mc)
    print(json.dumps({{"process": jax.process_index(), "processes": jax.process_count(),
                      "devices": int(mesh.devices.size), "local": jax.local_device_count(),
                      "harm": h["harm"].tolist(), "mean": m["mean"].tolist(), "first": m["first"].tolist()}}))
    """
)


def test_two_processes_sweep_bit_identical_to_one():
    address = f"127.0.0.1:{_free_port()}"
    script = WORKER.format(tests=TESTS)
    results = _launch([[sys.executable, "-c", script, address, str(i)] for i in range(2)])
    _ok(results)
    got = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]
    assert sorted(g["process"] for g in got) == [0, 1]
    assert all(g["processes"] == 2 and g["devices"] == 4 and g["local"] == 2 for g in got)

    # Reference: this process, one device, plain jit(vmap) (no sharding code involved), run on
    # the same pieces each of the 4 devices gets (15 -> 16 points: 4 each; 6 -> 8: 2 each).
    harm, mc = sweep_params()
    ref_h = _by_pieces(harm_point, harm, 4)["harm"]
    ref_m = _by_pieces(mc_point, mc, 2)
    for g in got:  # every process holds the whole gathered result, bit for bit
        np.testing.assert_array_equal(np.asarray(g["harm"]), ref_h)
        np.testing.assert_array_equal(np.asarray(g["mean"]), ref_m["mean"])
        np.testing.assert_array_equal(np.asarray(g["first"]), ref_m["first"])
    # All points in one batch on one device: elementwise work is the same bit for bit; a reduction
    # (the mean over 256 draws) may be vectorised differently for another batch size: a few ulp.
    whole = jax.jit(jax.vmap(mc_point))(mc)
    np.testing.assert_array_equal(np.asarray(whole["first"]), ref_m["first"])
    np.testing.assert_allclose(np.asarray(whole["mean"]), ref_m["mean"], rtol=4 * np.finfo(np.float64).eps, atol=0)
    # The values are what they claim to be (independent of the sharding): no harm at ratio <= 1
    # (rectified), positive and growing with the ratio past it; MC means within 5 standard errors
    # of the exact moment; distinct keys give distinct draws.
    h = np.asarray(got[0]["harm"]).reshape(5, 3)
    assert np.all(h[:2] == 0) and np.all(h[2:] > 0) and np.all(np.diff(h[2:], axis=0) > 0)
    # E[c²] = 1/5 on S⁴, Var c² = 3/35 − 1/25.
    se = np.sqrt((3 / 35 - 1 / 25) / 256)
    assert np.all(np.abs(np.asarray(got[0]["mean"]) - 0.2) < 5 * se)
    assert len(set(got[0]["first"])) == len(got[0]["first"])


# --- the command line -------------------------------------------------------------------------

CLI = [sys.executable, "-m", "sumjax.cli"]
NAME = "simplex_penalty"  # the quickest experiment; default sizes (862 points in 4 pieces of 256)


def _lines(text):
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[Gloo]")]


def _two(args, folder, **kw):
    address = f"127.0.0.1:{_free_port()}"
    return [CLI + [*args, "--out", str(folder), "--quiet", "--coordinator", address, "--num-processes", "2",
                   "--process-id", str(i), "--distributed-timeout", "90"] for i in range(2)]


def _kill_when_piece_written(argvs, folder, timeout=TIMEOUT):
    """Start the processes; SIGKILL every one as soon as the first sweep piece is on disk."""
    procs = [subprocess.Popen(a, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True) for a in argvs]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if any(f.endswith(".npz") for _, _, files in os.walk(folder) for f in files):
                break
            time.sleep(0.02)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def test_cli_two_processes_killed_resumed_equal_one(tmp_path):
    """`run` with two processes into one folder, killed mid-sweep: no partial file is left. Then
    `reproduce --only` the same experiment (same configuration), two processes: it resumes from the
    finished pieces, process 0 alone writes each file and the report once, and the .npz equals the
    single-process one bit for bit."""
    from sumjax.cli import main

    shared = tmp_path / "shared"
    folder = shared / NAME
    _kill_when_piece_written(_two(["run", NAME], shared), shared)
    assert not (folder / f"{NAME}.json").exists()  # not finished, so not marked finished
    pieces = [f for _, _, files in os.walk(shared) for f in files if f.endswith(".npz")]
    assert pieces and f"{NAME}.npz" not in pieces  # killed mid-sweep
    for root, _, files in os.walk(shared):
        for f in files:  # whatever has its final name is whole (atomic writes)
            if f.endswith(".npz"):
                assert _npz(os.path.join(root, f))
            elif f.endswith(".json"):
                json.load(open(os.path.join(root, f)))

    rep = _launch(_two(["reproduce", "--only", NAME], shared))
    _ok(rep)
    assert "report:" in rep[0][1] and _lines(rep[1][1]) == []  # process 0 reports; process 1 is silent
    assert set(os.listdir(folder)) == {f"{NAME}.{e}" for e in ("npz", "csv", "png", "svg", "json")}
    assert sorted(f for f in os.listdir(shared) if f.startswith(".")) == []  # no token, no temp files
    meta = json.load(open(folder / f"{NAME}.json"))
    assert meta["status"] == "complete" and meta["environment"]["process_count"] == 2
    assert meta["environment"]["device_count"] == 4
    assert (shared / "report.html").exists()

    # One process, one device, in this process.
    single = tmp_path / "single"
    assert main(["reproduce", "--only", NAME, "--out", str(single), "--quiet"]) == 0
    a, b = _npz(folder / f"{NAME}.npz"), _npz(single / NAME / f"{NAME}.npz")
    assert a.keys() == b.keys() and len(a) > 0
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_processes_that_disagree_fail_with_one_line(tmp_path):
    """Different --out (or any flag) on the two processes: both stop right after joining, with one line."""
    argvs = _two(["run", NAME, "--seed", "0"], tmp_path / "out0")
    argvs[1][argvs[1].index("--out") + 1] = str(tmp_path / "out1")
    res = _launch(argvs)
    for rc, _, err in res:
        assert rc == 1, err[-2000:]
        assert err.strip().splitlines()[-1].startswith(
            "sumjax: processes disagree on the output folder --out: process(es) 1 differ from process 0"), err[-2000:]
    assert os.listdir(tmp_path / "out0") == [] and not (tmp_path / "out1").exists()


def test_unreachable_coordinator_fails_with_one_line(capsys):
    """Nobody listens at the address: a clean error naming it after the timeout, not a hang."""
    from sumjax.cli import main

    address = f"127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(["run", NAME, "--out", "unused", "--coordinator", address, "--num-processes", "2", "--process-id", "1",
              "--distributed-timeout", "1.5"])
    assert 1.5 <= time.monotonic() - t0 < 20
    assert exc.value.code == (f"sumjax: could not reach the coordinator at {address} within 1.5 s (process 1 of 2): "
                              f"is process 0 running, and is {address} reachable from this host?")
    assert not os.path.exists("unused")


def test_missing_processes_end_with_one_line():
    """Process 0 of 2 alone: the coordinator starts but nobody else arrives. JAX would abort with a
    stack trace after its own timeout; sumjax ends at --distributed-timeout with one line."""
    address = f"127.0.0.1:{_free_port()}"
    script = f"from sumjax.distributed import initialize; initialize({address!r}, 2, 0, timeout=2)"
    (rc, out, err), = _launch([[sys.executable, "-c", script]], timeout=90)
    assert rc == 3, err[-2000:]
    assert err.strip().splitlines() == [f"sumjax: process 0 of 2 could not join the job at coordinator {address} "
                                        "within 2 s: not every process arrived, or the address is unreachable"]


@pytest.mark.parametrize("kwargs, match", [
    ({"coordinator": "localhost", "num_processes": 2, "process_id": 0}, "HOST:PORT"),
    ({"coordinator": "127.0.0.1:1", "num_processes": 2, "process_id": 2}, "process_id"),
    ({"coordinator": "127.0.0.1:1", "num_processes": 0, "process_id": 0}, "num_processes"),
    ({"timeout": -1.0}, "timeout"),
])
def test_bad_arguments_raise(kwargs, match):
    from sumjax.distributed import DistributedError, initialize

    with pytest.raises(DistributedError, match=match):
        initialize(**kwargs)
