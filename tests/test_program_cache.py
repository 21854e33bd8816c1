"""Compiled programs stored on disk (sweeps and the package's kernels): a later process loads them without
tracing, with the same result; what must not be stored is not."""

import functools
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import numpy as np
import pytest

import sumjax.sharding as sharding
from sumjax import _program_cache
from sumjax.alignment import vmf
from sumjax.experiments import required_divergence as rd_experiment
from sumjax.sharding import sharded_vmap


def _rows(n=6, dtype=np.float32):
    return {"c": np.linspace(0.1, 0.9, n).astype(dtype), "d": np.geomspace(3.0, 300.0, n).astype(dtype)}


@pytest.fixture(autouse=True)
def _jax_cache_off():
    # These tests need fresh compiles: a program JAX loads from its own persistent cache is (rightly) not
    # stored. Turn that cache off should an earlier test in this process have turned it on.
    if jax.config.jax_compilation_cache_dir:
        from jax._src import compilation_cache

        jax.config.update("jax_compilation_cache_dir", None)
        compilation_cache.reset_cache()


@pytest.fixture
def fresh(monkeypatch):
    # Each test starts with no in-process programs, as a new process would.
    monkeypatch.setattr(sharding, "_CACHE", {})


def _new_process(script: str) -> str:
    """stdout of `script` run by a new Python on the CPU."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout


def _traces(fn):
    """(result, number of jaxpr traces JAX reports while running fn)."""
    events = []

    def listener(name, *args, **kwargs):
        if "jaxpr_trace" in name:
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return out, len(events)


def test_stored_program_is_loaded_without_tracing(tmp_path, fresh):
    rows = _rows()
    cold, n_cold = _traces(lambda: sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows))
    assert n_cold >= 1
    assert len(os.listdir(tmp_path)) == 1
    sharding._CACHE.clear()
    warm, n_warm = _traces(lambda: sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows))
    assert n_warm == 0
    np.testing.assert_array_equal(warm["D_star"], cold["D_star"])
    # the same numbers as the ordinary jit path (an independent compile of the same function)
    np.testing.assert_array_equal(warm["D_star"], np.asarray(jax.jit(jax.vmap(rd_experiment._point))(rows)["D_star"]))


def test_key_follows_shape_and_dtype(tmp_path, fresh):
    fn = rd_experiment._point
    mapped = sharded_vmap(fn, program_cache=str(tmp_path))
    mapped(_rows(6))
    mapped(_rows(7))
    mapped(_rows(6, np.float64) if jax.config.jax_enable_x64 else {k: v[:5] for k, v in _rows(6).items()})
    assert len(os.listdir(tmp_path)) == 3


def test_closures_and_foreign_functions_are_not_stored(tmp_path, fresh):
    scale = np.float32(2.0)

    def local(p):
        return {"y": p["c"] * scale}

    out = sharded_vmap(local, program_cache=str(tmp_path))(_rows())
    np.testing.assert_allclose(out["y"], _rows()["c"] * 2.0)
    assert not _program_cache.cacheable(local)
    assert not _program_cache.cacheable(lambda p: p)
    assert not os.path.exists(tmp_path) or not os.listdir(tmp_path)


def test_programs_with_host_callbacks_are_not_stored(tmp_path, fresh):
    # The public function validates its arguments with equinox.error_if (a host callback) under a trace:
    # a stored executable would refer to a callback that no longer exists in the next process.
    assert _program_cache.cacheable(vmf.required_divergence)
    rows = _rows()
    out = sharded_vmap(vmf.required_divergence, program_cache=str(tmp_path))(rows["c"], rows["d"])
    np.testing.assert_allclose(out, np.asarray(vmf.required_divergence(rows["c"], rows["d"])), rtol=1e-6)
    assert not os.path.exists(tmp_path) or not os.listdir(tmp_path)


def test_damaged_file_is_recompiled(tmp_path, fresh):
    rows = _rows()
    good = sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows)
    (path,) = [tmp_path / f for f in os.listdir(tmp_path)]
    path.write_bytes(b"not a program")
    sharding._CACHE.clear()
    again = sharded_vmap(rd_experiment._point, program_cache=str(tmp_path))(rows)
    np.testing.assert_array_equal(again["D_star"], good["D_star"])
    assert path.stat().st_size > 100  # rewritten


def test_code_fingerprint_covers_every_source_file(monkeypatch):
    # A change to any file of the package must change the key (here: the fingerprint's inputs).
    seen = []
    real_open = open

    def spy(path, *args, **kwargs):
        seen.append(os.path.abspath(path))
        return real_open(path, *args, **kwargs)

    _program_cache._code_fingerprint.cache_clear()
    monkeypatch.setattr("builtins.open", spy)
    try:
        _program_cache._code_fingerprint()
    finally:
        monkeypatch.undo()
        _program_cache._code_fingerprint.cache_clear()
    package = os.path.dirname(os.path.abspath(_program_cache.__file__))
    expected = {os.path.join(root, f) for root, _, files in os.walk(package) for f in files if f.endswith(".py")}
    assert expected and expected <= set(seen)


def test_new_process_loads_the_stored_program(tmp_path):
    script = textwrap.dedent(
        f"""
        import jax, numpy as np
        from sumjax.sharding import sharded_vmap
        from sumjax.experiments import required_divergence as m
        events = []
        jax.monitoring.register_event_duration_secs_listener(
            lambda name, *a, **k: events.append(name) if "jaxpr_trace" in name else None)
        rows = {{"c": np.linspace(0.1, 0.9, 6).astype(np.float32), "d": np.geomspace(3.0, 300.0, 6).astype(np.float32)}}
        out = sharded_vmap(m._point, program_cache={str(tmp_path)!r})(rows)["D_star"]
        print(len(events), out.tobytes().hex())
        """
    )
    runs = [_new_process(script).split() for _ in range(2)]
    assert int(runs[0][0]) >= 1 and int(runs[1][0]) == 0
    assert runs[0][1] == runs[1][1]


# --------------------------------------------------------------------------- the package's kernels (stored_jit)


@pytest.fixture
def cache_on(tmp_path, monkeypatch):
    """The store switched on in tmp_path (as JAX's persistent cache being on does, without turning
    that on for the rest of the test process); the kernels' in-process programs forgotten, as in a
    new process."""
    from sumjax.alignment import _loop, _vmf

    monkeypatch.setattr(_program_cache, "folder", lambda: str(tmp_path / "programs"))
    for kernel in [k for m in (_vmf, _loop) for k in vars(m).values() if isinstance(k, _program_cache.stored_jit)]:
        monkeypatch.setattr(kernel, "_memo", {})
    return tmp_path / "programs"


def test_kernel_called_eagerly_is_stored_then_loaded_without_tracing(cache_on):
    from sumjax.alignment import _vmf

    kappa, d = np.geomspace(1e-2, 1e4, 50), np.geomspace(2.0, 1e5, 50)
    cold, n_cold = _traces(lambda: _vmf.mean(kappa, d))
    assert n_cold >= 1 and len(os.listdir(cache_on)) == 1
    _vmf.mean._memo.clear()  # as a new process: only the file is left
    warm, n_warm = _traces(lambda: _vmf.mean(kappa, d))
    assert n_warm == 0
    np.testing.assert_array_equal(np.asarray(warm), np.asarray(cold))
    np.testing.assert_array_equal(np.asarray(warm), np.asarray(_vmf.mean._jitted(kappa, d)))
    # Under a caller's trace the kernel is the plain jitted function: gradients are unchanged.
    g = jax.grad(lambda k: _vmf.mean(k, d).sum())(kappa)
    eps = 1e-6 * kappa
    fd = (np.asarray(_vmf.mean._jitted(kappa + eps, d)) - np.asarray(_vmf.mean._jitted(kappa - eps, d))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-12)
    assert len(os.listdir(cache_on)) == 1


def test_kernels_are_plain_jit_when_the_cache_is_off(tmp_path):
    from sumjax.alignment import _vmf

    assert jax.config.jax_compilation_cache_dir in (None, "")
    assert _program_cache.folder() is None
    before = len(_vmf._kl_raw._memo)
    _vmf._kl_raw(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert len(_vmf._kl_raw._memo) == before


def test_static_arguments_need_an_exact_description(cache_on):
    # A user's functional is a static argument the key cannot describe across processes: never stored,
    # and two different ones are never confused. The package's own functional is stored.
    from sumjax.alignment import _loop
    from sumjax.alignment.functionals import HarmFunctional, one_minus_cosine

    c, d = np.array([0.5, 0.9]), np.array([10.0, 100.0])
    twice = HarmFunctional(lambda a: 2.0 * (1.0 - a), name="twice")
    thrice = HarmFunctional(lambda a: 3.0 * (1.0 - a), name="thrice")
    one = np.asarray(_loop.progress_integral(c, d, one_minus_cosine, "D", 16))
    assert len(os.listdir(cache_on)) == 1
    two = np.asarray(_loop.progress_integral(c, d, twice, "D", 16))
    three = np.asarray(_loop.progress_integral(c, d, thrice, "D", 16))
    assert len(os.listdir(cache_on)) == 1
    np.testing.assert_allclose(two, 2 * one, rtol=1e-6)
    np.testing.assert_allclose(three, 3 * one, rtol=1e-6)
    assert _program_cache._token(one_minus_cosine)
    with pytest.raises(_program_cache._Unstable):
        _program_cache._token(twice)


def test_public_function_in_new_processes_uses_the_store(tmp_path):
    # The public function still runs its eager checks (a few tiny jnp programs); its kernels are
    # traced in the first process only.
    script = textwrap.dedent(
        f"""
        import logging, re, sys
        import jax, numpy as np
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path)!r})
        jax.config.update("jax_log_compiles", True)
        traced = []

        class Names(logging.Handler):
            def emit(self, record):
                m = re.match(r"Finished tracing (?:\\+ transforming )?(\\S+)", record.getMessage())
                if m:
                    traced.append(m.group(1))

        logging.getLogger("jax").addHandler(Names())
        from sumjax import _program_cache
        from sumjax.alignment import _vmf, vmf
        kernels = {{k.__name__ for k in vars(_vmf).values() if isinstance(k, _program_cache.stored_jit)}}
        c, d = np.linspace(0.05, 0.95, 40), np.geomspace(2.0, 1e5, 40)
        out = np.asarray(vmf.required_divergence(c.astype(np.float32), d.astype(np.float32)))
        print(len(set(traced) & kernels), out.tobytes().hex())
        """
    )
    runs = [_new_process(script).split() for _ in range(2)]
    assert int(runs[0][0]) >= 1 and int(runs[1][0]) == 0
    assert runs[0][1] == runs[1][1]
    assert os.listdir(tmp_path / "programs")


class _Out(eqx.Module):
    x: jax.Array
    n: int = eqx.field(static=True)


def test_outputs_that_do_not_survive_pickling_are_not_stored(tmp_path):
    # An equinox Module's output tree comes back from pickle with new sentinel objects and cannot be
    # rebuilt: such a program would fail on every later load, so it is compiled but never stored.
    import pickle

    tree = jax.tree_util.tree_structure(_Out(np.ones(2), 3))
    with pytest.raises(TypeError):  # the failure guarded against (module-level class: it does pickle)
        pickle.loads(pickle.dumps(tree)).unflatten([0])
    jitted = jax.jit(lambda a: _Out(a * 2.0, 3))
    compiled = _program_cache.compile_and_store(jitted, (np.arange(3.0),), str(tmp_path), "k")
    np.testing.assert_array_equal(compiled(np.arange(3.0)).x, 2.0 * np.arange(3.0))
    assert not os.path.exists(tmp_path / "k.pkl")
    plain = _program_cache.compile_and_store(jax.jit(lambda a: {"x": a * 2.0}), (np.arange(3.0),), str(tmp_path), "p")
    assert os.path.exists(tmp_path / "p.pkl") and plain(np.arange(3.0))["x"][1] == 2.0


def test_program_from_jax_persistent_cache_is_not_stored_again(tmp_path):
    # JAX's own cache has the program but the store does not (deleted, or a source edit changed the key
    # while the lowered program stayed the same): the compile then loads JAX's copy, which does not
    # serialize completely. Storing it broke the next process ("Function … not found"); it must run.
    script = textwrap.dedent(
        f"""
        import jax, numpy as np
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path)!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        from sumjax.alignment import _vmf
        c, d = np.linspace(0.05, 0.95, 40), np.geomspace(2.0, 1e5, 40)
        print(np.asarray(_vmf.required_divergence(c, d)).tobytes().hex())
        """
    )
    run = functools.partial(_new_process, script)
    first = run()
    programs = tmp_path / "programs"
    assert len(os.listdir(programs)) == 3  # kappa_from_mean's and kl's two stages
    for f in os.listdir(programs):
        os.remove(programs / f)
    assert run() == first  # compiled from JAX's cache: not stored
    assert not os.listdir(programs)
    assert run() == first


def test_stored_program_that_cannot_run_is_dropped(cache_on, monkeypatch):
    from sumjax.alignment import _vmf

    kappa, d = np.geomspace(1e-2, 1e4, 20), np.geomspace(2.0, 1e5, 20)
    expected = np.asarray(_vmf._kl_raw._jitted(kappa, d))
    cache_on.mkdir()
    bad = cache_on / "k-broken.pkl"
    bad.write_bytes(b"x")

    def broken(*args):
        raise RuntimeError("NOT_FOUND: Function fusion not found")  # what XLA raised at run time

    monkeypatch.setattr(_program_cache, "load", lambda folder, key: _program_cache.Loaded(broken, str(bad)))
    np.testing.assert_array_equal(np.asarray(_vmf._kl_raw(kappa, d)), expected)
    assert not bad.exists()
    np.testing.assert_array_equal(np.asarray(_vmf._kl_raw(kappa, d)), expected)  # and the jit path from then on


def test_disable_jit_and_nan_debugging_keep_jit_behaviour(cache_on, monkeypatch):
    # Under them jit runs op by op or re-runs to find a NaN; a stored program would do neither.
    from sumjax.alignment import _vmf

    kappa, d = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    calls = []
    monkeypatch.setattr(_vmf._kl_raw, "_jitted", lambda *a: calls.append(a) or "jit")
    with jax.disable_jit():
        assert _vmf._kl_raw(kappa, d) == "jit"
    with jax.debug_nans(True):
        assert _vmf._kl_raw(kappa, d) == "jit"
    with jax.debug_infs(True):
        assert _vmf._kl_raw(kappa, d) == "jit"
    assert len(calls) == 3 and not _vmf._kl_raw._memo and not cache_on.exists()


def test_prefetch_loads_on_a_second_thread_for_arguments_of_the_same_signature(cache_on, monkeypatch):
    # The call after a prefetch uses the program the background thread loaded (no trace, no second load);
    # stand-in arguments of the same shapes pick the same program; the values come from the call's arguments.
    import threading

    from sumjax.alignment import _vmf

    kappa, d = np.geomspace(1e-2, 1e4, 30), np.geomspace(2.0, 1e5, 30)
    expected = np.asarray(_vmf._kl_raw._jitted(kappa, d))
    _vmf._kl_raw.prefetch(kappa, d)  # nothing stored yet: nothing to load, nothing remembered
    assert not _vmf._kl_raw._memo
    _vmf._kl_raw(kappa, d)  # compiles and stores
    _vmf._kl_raw._memo.clear()
    loads = []
    real_load = _program_cache.load
    monkeypatch.setattr(_program_cache, "load",
                        lambda folder, key: loads.append(threading.current_thread().name) or real_load(folder, key))
    _vmf._kl_raw.prefetch(np.zeros(30), np.ones(30))
    _vmf._kl_raw.prefetch(np.zeros(30), np.ones(30))  # already under way: not started twice
    (pending,) = _vmf._kl_raw._memo.values()
    assert isinstance(pending, _program_cache._Prefetch)
    got, n_traces = _traces(lambda: np.asarray(_vmf._kl_raw(kappa, d)))
    np.testing.assert_array_equal(got, expected)
    assert n_traces == 0 and loads == ["sumjax-program-prefetch"]
    assert isinstance(next(iter(_vmf._kl_raw._memo.values())), _program_cache.Loaded)


def test_prefetch_of_a_damaged_program_falls_back(cache_on, monkeypatch):
    from sumjax.alignment import _vmf

    kappa, d = np.geomspace(1e-2, 1e4, 12), np.geomspace(2.0, 1e5, 12)
    expected = np.asarray(_vmf._kl_raw._jitted(kappa, d))
    _vmf._kl_raw(kappa, d)
    _vmf._kl_raw._memo.clear()
    (stored,) = os.listdir(cache_on)
    (cache_on / stored).write_bytes(b"not a program")
    _vmf._kl_raw.prefetch(kappa, d)
    np.testing.assert_array_equal(np.asarray(_vmf._kl_raw(kappa, d)), expected)  # the load failed: compiled again
    (program,) = _vmf._kl_raw._memo.values()
    assert not isinstance(program, (_program_cache.Loaded, _program_cache._Prefetch))
    assert (cache_on / stored).stat().st_size > 1000  # and stored again, whole
    with jax.disable_jit():  # where a call would not use the store, prefetch does nothing
        _vmf._kl_raw._memo.clear()
        _vmf._kl_raw.prefetch(kappa, d)
        assert not _vmf._kl_raw._memo


def test_simulate_training_prefetches_its_sampler_program(tmp_path):
    # In a new process with the cache warm, the Monte Carlo's sampler program (`_run`) is the prefetched one.
    script = textwrap.dedent(f"""
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path)!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        import os, threading
        from sumjax import _program_cache
        from sumjax.alignment import montecarlo, simulate_training
        real_load, threads = _program_cache.load, {{}}
        def load(folder, key):
            threads[key] = threading.current_thread().name
            return real_load(folder, key)
        _program_cache.load = load
        r = simulate_training(jax.random.key(0), 0.5, 50, 4.0, 1.0, num_trials=64, reading="first_reconstruction")
        run = list(montecarlo._run._memo.values())
        kinds = sorted({{type(v).__name__ for v in run}})
        where = [threads[os.path.basename(v.path)[:-len(".pkl")]] for v in run if hasattr(v, "path")]
        print(repr(float(r.mean)), kinds, where)
    """)
    first = _new_process(script).split()
    second = _new_process(script).split()
    assert first[0] == second[0]  # the same result
    assert second[1:] == ["['Loaded']", "['sumjax-program-prefetch']"]  # _run was loaded, on the prefetch thread


def test_required_divergence_loads_its_two_programs_at_once_and_shares_kl(tmp_path):
    # Eager required_divergence runs kappa_from_mean's program, then kl's (the one vmf_kl runs). In a new process
    # with the cache warm, kl's loads on the prefetch thread while the solver's loads on the caller's, and a
    # vmf_kl call of the same shape after it loads nothing more.
    script = textwrap.dedent(f"""
        import jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path)!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        import threading
        from sumjax import _program_cache
        from sumjax.alignment import _vmf, required_divergence, vmf_kl
        real_load, threads = _program_cache.load, []
        def load(folder, key):
            out = real_load(folder, key)
            if out is not None:
                threads.append(threading.current_thread().name)
            return out
        _program_cache.load = load
        c, d = np.linspace(0.05, 0.95, 40), np.geomspace(2.0, 1e5, 40)
        r = np.asarray(required_divergence(c, d))
        k = np.asarray(vmf_kl(np.geomspace(1e-2, 1e4, 40), d))
        kinds = sorted({{type(v).__name__ for f in (_vmf._kl_top, _vmf._kl_finish) for v in f._memo.values()}})
        sizes = [len(f._memo) for f in (_vmf.kappa_from_mean, _vmf._kl_top, _vmf._kl_finish)]
        print(r.tobytes().hex(), k.tobytes().hex(), kinds, len(threads), threads.count("sumjax-program-prefetch"), sizes)
    """)
    first = _new_process(script).split()
    second = _new_process(script).split()
    assert first[:2] == second[:2]  # the same results, compiled or loaded
    assert first[2:5] == ["['Compiled']", "0", "0"]  # nothing stored yet: nothing loaded
    # Three loads in all (the solver's, kl's two stages), kl's on the prefetch thread; one program per function.
    assert second[2:5] == ["['Loaded']", "3", "2"] and "".join(second[5:]) == "[1,1,1]"
    # Two programs give what the one program under a caller's trace gives, to rounding.
    c, d = np.linspace(0.05, 0.95, 40), np.geomspace(2.0, 1e5, 40)
    eager = np.frombuffer(bytes.fromhex(first[0]))
    from sumjax.alignment import _vmf

    traced = np.asarray(jax.jit(_vmf.required_divergence)(c, d))
    np.testing.assert_allclose(eager, traced, rtol=4e-15, atol=0)


def test_kl_runs_as_two_stages_eagerly_and_as_one_program_otherwise():
    # Eagerly, on arrays of one shape and dtype, kl is core_top's program then core_finish's; traced, or on
    # arguments that broadcast, it is _kl_raw. The same operations: equal to rounding on the bench's grid
    # (two programs fuse differently across the boundary), for 1-D and 2-D shapes alike.
    from sumjax.alignment import _vmf

    d, k = np.meshgrid(np.geomspace(2.0, 1e6, 120), np.geomspace(1e-2, 1e7, 120), indexing="ij")
    one = np.asarray(_vmf._kl_raw(k.ravel(), d.ravel()))
    staged = np.asarray(_vmf.kl(k.ravel(), d.ravel()))
    np.testing.assert_allclose(staged, one, rtol=4e-15, atol=0)
    np.testing.assert_array_equal(np.asarray(_vmf.kl(k, d)).ravel(), staged)  # a point's value ignores the shape
    traced = np.asarray(jax.jit(_vmf.kl)(k.ravel(), d.ravel()))
    np.testing.assert_array_equal(traced, one)
    assert _vmf._staged(k, d) and not _vmf._staged(k, d[:, :1]) and not _vmf._staged(1.0, 3.0)
    np.testing.assert_allclose(np.asarray(_vmf.kl(k, d[:, :1])), np.asarray(_vmf._kl_raw(k, d[:, :1])), rtol=0, atol=0)
