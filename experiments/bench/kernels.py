"""The benchmarked kernels: each builds its problem at a size, times sumjax and its peer, and compares them.

Every `bench_*` function takes a size name (`tiny`, `small`, `full`) and returns a `harness.Row` (or a list of
rows, one per peer); `run_kernel` always gives a list. The sumjax side is imported lazily, so a kernel whose
sumjax code is missing reports that instead of crashing the run. The raw outputs ride along in
`row.extra["_outputs"]` (dropped from the JSON) for the smoke test.
"""

from __future__ import annotations

import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from . import harness, peers
from .harness import Row

__all__ = ["KERNELS", "SIZES", "OPTIONS", "run_kernel"]

OPTIONS = {"memory_probe": True}  # the fresh-process Monte Carlo memory probe (slow at full size)

# Problem sizes. `full` is the benchmark of record; `tiny` is the smoke test.
SIZES = {
    "tiny": dict(
        vmf_nd=6, vmf_nk=6, vmf_dmax=50.0, vmf_kmax=100.0,
        rd_nd=4, rd_nc=3, rd_dmax=200.0,
        harm_nr=4, harm_nd=4, harm_dmax=200.0,
        mc_trials=256, mc_d=20, mc_rounds=4, mc_mem=None, mc_repeats=0,
        cvx_points=200, cvx_n=4, cvx_m=16,
        repeats=2, min_time=0.0, peer_budget=5.0,
    ),
    "small": dict(
        vmf_nd=100, vmf_nk=100, vmf_dmax=1e6, vmf_kmax=1e7,
        rd_nd=50, rd_nc=5, rd_dmax=1e6,
        harm_nr=50, harm_nd=50, harm_dmax=1e5,
        mc_trials=1000, mc_d=500, mc_rounds=8, mc_mem=(1000, 10_000, 2), mc_repeats=1,
        cvx_points=10_000, cvx_n=8, cvx_m=64,
        repeats=3, min_time=0.2, peer_budget=10.0,
    ),
    "full": dict(
        vmf_nd=316, vmf_nk=316, vmf_dmax=1e6, vmf_kmax=1e7,
        rd_nd=50, rd_nc=20, rd_dmax=1e6,
        harm_nr=200, harm_nd=200, harm_dmax=1e5,
        mc_trials=10_000, mc_d=1000, mc_rounds=16, mc_mem=(10_000, 100_000, 2), mc_repeats=1,
        cvx_points=100_000, cvx_n=16, cvx_m=256,
        repeats=5, min_time=1.0, peer_budget=60.0,
    ),
}


def _sumjax(module: str, *names: str):
    """Import sumjax names, or return the error text if they have not landed yet."""
    try:
        mod = __import__(f"sumjax.{module}", fromlist=list(names))
        return tuple(getattr(mod, n) for n in names), None
    except (ImportError, AttributeError) as err:
        return None, f"sumjax side not available: {err}"


def _missing(kernel, problem, peer, why) -> Row:
    return Row(kernel, problem, 0, math.nan, math.nan, math.nan, peer, None, False, None, None, None, 0, "", why)


def _row(kernel, problem, points, jt: harness.JaxTiming, peer_name, pt: harness.PeerTiming | None, ours, theirs,
         failures="", notes="", extra=None) -> Row:
    """Assemble a row; `ours`/`theirs` are aligned on the peer's measured points."""
    if pt is None:
        mabs = mrel = None
        ncmp = 0
    else:
        mabs, mrel, ncmp, _, _ = harness.compare(ours, theirs)
    speed = None if pt is None or pt.best_s is None else pt.best_s / jt.best_s
    ex = dict(extra or {})
    ex["_outputs"] = (ours, theirs)
    return Row(kernel, problem, points, jt.compile_s, jt.best_s, jt.median_s, peer_name,
               None if pt is None else pt.best_s, bool(pt and pt.extrapolated), speed, mabs, mrel, ncmp,
               failures, notes, ex)


def _failure_map(bad, d, k) -> str:
    """Say where a peer fails on a (d, κ) grid: fraction, first d, and the κ range failing there."""
    if not bad.any():
        return ""
    rows = np.nonzero(bad.any(axis=1))[0]
    first = rows[0]
    ks = k[bad[first]]
    last = rows[-1]
    ks_last = k[bad[last]]
    return (
        f"NaN/inf on {bad.mean():.0%} of points: from d = {d[first]:.3g} (κ ∈ [{ks.min():.2g}, {ks.max():.2g}]) "
        f"to d = {d[last]:.3g} (κ ∈ [{ks_last.min():.2g}, {ks_last.max():.2g}]) (ive underflow)"
    )


# --- vMF mean and KL ----------------------------------------------------------------------------------------------


def _vmf_grid(s):
    d = np.geomspace(2.0, s["vmf_dmax"], s["vmf_nd"])
    k = np.geomspace(1e-2, s["vmf_kmax"], s["vmf_nk"])
    dd, kk = np.meshgrid(d, k, indexing="ij")
    return d, k, dd.reshape(-1), kk.reshape(-1)


def _bench_vmf(which: str, size: str) -> Row:
    s = SIZES[size]
    d, k, dd, kk = _vmf_grid(s)
    n = dd.size
    problem = f"{s['vmf_nd']}×{s['vmf_nk']} (d, κ), d ∈ [2, {s['vmf_dmax']:.0e}], κ ∈ [1e-2, {s['vmf_kmax']:.0e}]"
    peer_name = "scipy.special.ive ratio" if which == "mean" else "ive + gammaln (closed form)"
    fns, err = _sumjax("alignment", "vmf_mean" if which == "mean" else "vmf_kl")
    if err:
        return _missing(f"vmf_{which}", problem, peer_name, err)
    (fn,) = fns
    kj, dj = jnp.asarray(kk), jnp.asarray(dd)
    jt = harness.time_jax(lambda a, b: fn(a, b), kj, dj, repeats=s["repeats"], min_time=s["min_time"])
    if which == "mean":
        peer_fn = lambda sel: peers.vmf_mean(kk, dd)  # noqa: E731  (the ratio alone, no KL logs)
    else:
        peer_fn = lambda sel: peers.vmf_mean_kl(kk, dd)[1]  # noqa: E731
    pt = harness.time_peer(peer_fn, n, repeats=3, budget_s=s["peer_budget"])
    ours = np.asarray(jt.output)
    raw = np.asarray(pt.output)
    # The peer fails two ways: NaN/inf, and — next to the NaN region — finite but impossible values
    # (E[c] = 0 when only ive(ν+1) underflows; D < 0 from cancellation). Both are excluded from the diff.
    impossible = np.isfinite(raw) & ((raw <= 0.0) | (raw >= 1.0) if which == "mean" else (raw < 0.0))
    nonfinite = ~np.isfinite(raw)
    theirs = np.where(impossible, np.nan, raw)
    fail = _failure_map(nonfinite.reshape(s["vmf_nd"], s["vmf_nk"]), d, k)
    if impossible.any():
        what = "E[c] ∉ (0, 1)" if which == "mean" else "D < 0"
        fail += (f"{'; ' if fail else ''}finite but impossible ({what}) on {impossible.sum()} more points "
                 f"(d ∈ [{dd[impossible].min():.3g}, {dd[impossible].max():.3g}])")
    ours_bad = int((~np.isfinite(ours)).sum())
    notes = []
    ok = np.isfinite(theirs)
    if ok.any():
        rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
        i = int(np.argmax(np.where(ok, rel, -1.0)))
        notes.append(f"largest rel. diff at d = {dd[i]:.4g}, κ = {kk[i]:.4g} (sumjax {ours[i]:.17g}, peer {theirs[i]:.17g}"
                     f"{_mpmath_arbiter(which, kk[i], dd[i])}); median rel. diff {np.median(rel[ok]):.1e}")
    notes.append(f"sumjax non-finite on {ours_bad} of {n} points")
    return _row(f"vmf_{which}", problem, n, jt, peer_name, pt, ours, theirs, fail, "; ".join(notes),
                extra={"peer_nonfinite": int(nonfinite.sum()), "peer_impossible": int(impossible.sum())})


def _mpmath_arbiter(which, kappa, d) -> str:
    """mpmath's value at one point (40 digits), to say which side a large difference belongs to.

    Only where mpmath's hypergeometric series is quick (d ≤ 1e4, κ ≤ 1e4); elsewhere it can run for minutes.
    """
    if d > 1e4 or kappa > 1e4:
        return ""
    try:
        import mpmath as mp

        with mp.workdps(40):
            k, nu = mp.mpf(float(kappa)), mp.mpf(float(d)) / 2 - 1
            i0 = mp.besseli(nu, k, maxterms=10**5)
            a = mp.besseli(nu + 1, k, maxterms=10**5) / i0
            val = a if which == "mean" else k * a - (mp.loggamma(nu + 1) + nu * mp.log(2 / k) + mp.log(i0))
            return f", mpmath {mp.nstr(val, 17)}"
    except Exception:  # noqa: BLE001 — the arbiter is optional (mpmath's series may not converge at huge order)
        return ""


def bench_vmf_mean(size="full") -> Row:
    """`vmf_mean(kappa, d)` on a log-spaced (d, κ) grid vs the `ive` ratio."""
    return _bench_vmf("mean", size)


def bench_vmf_kl(size="full") -> Row:
    """`vmf_kl(kappa, d)` on the same grid vs κA − log M with `ive` and `gammaln`."""
    return _bench_vmf("kl", size)


# --- required divergence -------------------------------------------------------------------------------------------


def bench_required_divergence(size="full") -> Row:
    """D*(c*, d) curves: `rd_nd` values of d (log-spaced), `rd_nc` values of c*, vs brentq per point."""
    s = SIZES[size]
    d = np.geomspace(2.0, s["rd_dmax"], s["rd_nd"])
    c = np.linspace(0.05, 0.95, s["rd_nc"])
    dd, cc = (x.reshape(-1) for x in np.meshgrid(d, c, indexing="ij"))
    n = dd.size
    problem = f"{s['rd_nd']} d ∈ [2, {s['rd_dmax']:.0e}] × {s['rd_nc']} c* ∈ [0.05, 0.95]"
    peer_name = "brentq on ive ratio (Python loop)"
    fns, err = _sumjax("alignment", "required_divergence")
    if err:
        return _missing("required_divergence", problem, peer_name, err)
    (fn,) = fns
    jt = harness.time_jax(lambda a, b: fn(a, b), jnp.asarray(cc), jnp.asarray(dd), repeats=s["repeats"],
                          min_time=s["min_time"])
    pt = harness.time_peer(lambda sel: peers.required_divergence(cc, dd), n, repeats=2, budget_s=s["peer_budget"])
    ours, theirs = np.asarray(jt.output), np.asarray(pt.output)
    bad = ~np.isfinite(theirs).reshape(s["rd_nd"], s["rd_nc"])
    fail = ""
    if bad.any():
        first = d[bad.any(axis=1)].min()
        fail = f"NaN on {bad.mean():.0%} of points, from d = {first:.3g} (ive underflow in the bracket)"
    # D* ∝ d: report the spread of D*/d over d at the largest c*, a figure the README may want.
    ratio = ours.reshape(s["rd_nd"], s["rd_nc"])[:, -1] / d
    notes = (f"sumjax non-finite on {int((~np.isfinite(ours)).sum())} of {n}; "
             f"D*/d at c* = {c[-1]:.2f} ranges {np.nanmin(ratio):.4g}…{np.nanmax(ratio):.4g} over d")
    return _row("required_divergence", problem, n, jt, peer_name, pt, ours, theirs, fail, notes)


# --- total harm grid ----------------------------------------------------------------------------------------------


HARM_C_STAR = 0.5


def bench_total_harm(size="full") -> Row:
    """Total harm on a β_A/β_H × d grid (β_H = 1, c* = 0.5, rectified, δ capped) vs `quad` per point."""
    s = SIZES[size]
    r = np.geomspace(0.5, 8.0, s["harm_nr"])
    d = np.geomspace(2.0, s["harm_dmax"], s["harm_nd"])
    rr, dd = (x.reshape(-1) for x in np.meshgrid(r, d, indexing="ij"))
    n = rr.size
    problem = f"{s['harm_nr']} β_A/β_H ∈ [0.5, 8] × {s['harm_nd']} d ∈ [2, {s['harm_dmax']:.0e}], c* = {HARM_C_STAR}"
    peer_name = "quad over κ + brentq (Python loop)"
    fns, err = _sumjax("alignment", "total_harm")
    if err:
        return _missing("total_harm", problem, peer_name, err)
    (fn,) = fns

    def ours_fn(beta_a, dim):
        # The grid as a user writes it: broadcastable (n_r, 1) × (1, n_d) arrays. total_harm then computes
        # the integral once per d and broadcasts the β scale; flattened in the same (ij) order as rr, dd.
        return fn(HARM_C_STAR, dim, beta_a, 1.0, rectify=True, cap_delta=True).reshape(-1)

    jt = harness.time_jax(ours_fn, jnp.asarray(r)[:, None], jnp.asarray(d)[None, :], repeats=s["repeats"],
                          min_time=s["min_time"], max_time=10.0, warmup=False)
    # A fixed random order so that a timed subset is representative of the whole grid (zeros and all d).
    perm = np.random.default_rng(0).permutation(n)

    def peer_fn(sel):
        idx = perm if sel is None else perm[sel]
        return peers.total_harm_grid(HARM_C_STAR, dd[idx], rr[idx], 1.0, rectify=True, cap_delta=True)

    pt = harness.time_peer(peer_fn, n, repeats=1, budget_s=s["peer_budget"], subset_points=min(n, 400))
    idx = perm[: pt.measured_points]
    ours_all = np.asarray(jt.output)
    ours, theirs = ours_all[idx], np.asarray(pt.output)
    bad = ~np.isfinite(theirs)
    fail = ""
    if bad.any():
        fail = f"NaN on {bad.mean():.0%} of measured points, from d = {dd[idx][bad].min():.3g}"
    notes = (f"peer timed on {pt.measured_points} of {n} random grid points "
             f"(quad raised {peers.quad_warnings()} IntegrationWarnings on its last call)" +
             (" and extrapolated per point" if pt.extrapolated else "") +
             f"; sumjax non-finite on {int((~np.isfinite(ours_all)).sum())} of {n}")
    return _row("total_harm", problem, n, jt, peer_name, pt, ours, theirs, fail, notes)


# --- guarded learning: convexity check ---------------------------------------------------------------------------


def bench_convexity(size="full") -> Row:
    """Supporting-hyperplane check of f(w) = max_π w·V(π) on `cvx_points` random simplex pairs vs NumPy."""
    s = SIZES[size]
    n1, m, n = s["cvx_n"], s["cvx_m"], s["cvx_points"]
    rng = np.random.default_rng(1)
    values = rng.standard_normal((m, n1))
    w = rng.dirichlet(np.ones(n1), n)
    wp = rng.dirichlet(np.ones(n1), n)
    problem = f"{n} pairs on Δ^{n1 - 1}, {m} policies (FinitePolicies)"
    peer_name = "NumPy matmul + argmax (vectorised)"
    fns, err = _sumjax("guarded", "check_supporting_hyperplane", "FinitePolicies")
    if err:
        return _missing("convexity", problem, peer_name, err)
    check, finite = fns

    def ours_fn(v, a, b):
        rep = check(finite(v), points=(a, b))
        return jnp.stack([rep.worst, rep.n_violations.astype(rep.worst.dtype), rep.tol])

    jt = harness.time_jax(ours_fn, jnp.asarray(values), jnp.asarray(w), jnp.asarray(wp), repeats=s["repeats"],
                          min_time=s["min_time"])

    def peer_fn(sel):
        worst, _, viol, fvals = peers.convexity_check(w, wp, values)
        tol = np.sqrt(np.finfo(float).eps) * (1.0 + np.abs(fvals).max())  # the same default tolerance
        return np.array([worst, float((viol > tol).sum()), tol])

    pt = harness.time_peer(peer_fn, n, repeats=3, budget_s=s["peer_budget"])
    ours, theirs = np.asarray(jt.output), np.asarray(pt.output)
    notes = (f"compared: worst violation {ours[0]:.3e} (peer {theirs[0]:.3e}), violations over tol {ours[1]:.0f} "
             f"(peer {theirs[1]:.0f}), tol; the location of the worst is a rounding-level tie for a convex f, so not compared")
    return _row("convexity", problem, n, jt, peer_name, pt, ours, theirs, "", notes)


# --- Monte Carlo training loop, full-vector path --------------------------------------------------------------------


MC_C_STAR = 0.5


def _mc_problem(d, rounds):
    """β_H, β_A so that the loop runs exactly `rounds` rounds at c* = 0.5 (rectified, δ = β_H, harm scale √β_H)."""
    # The peer's D* (quadrature) fixes the round count: only ceil(D*/δ) matters, with half a round of margin,
    # and it spares an eager sumjax call that would recompile on every use.
    d_star = peers.required_divergence_quad(MC_C_STAR, float(d))
    beta_h = d_star / (rounds - 0.5)  # ceil(D*/δ) = rounds
    return 4.0 * beta_h, beta_h


def bench_montecarlo(size="full") -> list[Row]:
    """`simulate_training(path="vector")`: N trials × d × rounds vs `scipy.stats.vonmises_fisher` and NumPy Wood."""
    s = SIZES[size]
    n, d, rounds = s["mc_trials"], s["mc_d"], s["mc_rounds"]
    batch = min(n, 1000)
    problem = f"{n} trials × d = {d} × {rounds} rounds, c* = {MC_C_STAR}"
    names = ("montecarlo (vs scipy vMF)", "montecarlo (vs NumPy Wood)")
    peer_names = ("scipy.stats.vonmises_fisher.rvs per round", "hand-written NumPy Wood + Householder")
    fns, err = _sumjax("alignment", "simulate_training")
    if err:
        return [_missing(k, problem, p, err) for k, p in zip(names, peer_names)]
    (simulate,) = fns
    beta_a, beta_h = _mc_problem(d, rounds)

    def call(i):
        r = simulate(jax.random.key(i), MC_C_STAR, d, beta_a, beta_h, num_trials=n, path="vector", batch_size=batch)
        return r

    jt = harness.time_calls(call, repeats=s["mc_repeats"])
    res, calls = jt.output
    jt.output = res
    round_mean, round_se = np.asarray(res.round_mean), np.asarray(res.round_stderr)
    assert round_mean.size == rounds, (round_mean.size, rounds)
    kappas = peers.kappa_schedule(np.asarray(res.D), d)  # the peer's own κ_n for D_n = nδ
    weight = math.sqrt(beta_a) - math.sqrt(beta_h)
    elems = n * d * rounds
    bandwidth = 2 * 8 * elems / jt.best_s  # ≥ one write + one read of each 8-byte vector element
    later = list(zip(calls["compile_s"][1:], calls["wall_s"][1:]))
    shares = ", ".join(f"{c:.1f} s of {w:.1f} s" for c, w in later)
    if later and any(c > 0.1 * w for c, w in later):
        recompile = f"later calls re-trace and recompile ({shares} compiling); the run time shown excludes that"
    elif later:
        recompile = f"later calls hit the compile cache ({shares} compiling)"
    else:
        recompile = "one call; run time = its wall time minus its compile share"
    extra = {"calls": calls, "bandwidth_GBps": bandwidth / 1e9, "elements": elems, "mc_mean": float(res.mean),
             "mc_stderr": float(res.stderr)}
    rows = []
    for name, peer_name, sampler in zip(names, peer_names, ("scipy", "numpy")):
        # Reversed rounds: a timed subset then holds the concentrated (κ > 0) rounds, not the cheap κ = 0 one.
        order = np.arange(rounds)[::-1]

        def peer_fn(sel, sampler=sampler):
            idx = order if sel is None else order[sel]
            return peers.montecarlo_harm(kappas[idx], weight, d, n, seed=1, sampler=sampler)

        subset = 2 if sampler == "scipy" else None
        pt = harness.time_peer(peer_fn, rounds, repeats=1, budget_s=s["peer_budget"], subset_points=subset)
        idx = order[: pt.measured_points]
        harms = np.asarray(pt.output)
        p_mean = harms.mean(axis=0)
        p_se = harms.std(axis=0, ddof=1) / math.sqrt(n)
        z = np.abs(round_mean[idx] - p_mean) / np.sqrt(round_se[idx] ** 2 + p_se**2)
        notes = (f"per-round mean harm compared on {idx.size} round(s): max |z| = {z.max():.2f} (Monte Carlo, "
                 f"independent streams; |z| < 4 expected); {recompile}; achieved bandwidth "
                 f"{bandwidth / 1e9:.2f} GB/s (2 passes × 8 B × N·d·rounds / run time)")
        if pt.extrapolated:
            notes += f"; peer timed on {pt.measured_points} of {rounds} rounds, extrapolated per round"
        row = _row(name, problem, elems, jt, peer_name, pt, round_mean[idx], p_mean, "", notes,
                   extra=dict(extra, max_z=float(z.max())))
        rows.append(row)
    mem = s["mc_mem"]
    if mem is not None and OPTIONS["memory_probe"]:
        rows[0].extra["memory"] = montecarlo_memory(*mem)
        rows[0].notes += "; " + _memory_note(rows[0].extra["memory"])
    return rows


_MEM_CHILD = textwrap.dedent("""
    import json, resource, time
    import jax
    jax.config.update("jax_enable_x64", True)
    from sumjax.alignment import simulate_training
    from experiments.bench.kernels import _mc_problem, MC_C_STAR
    n, d, rounds, batch = {n}, {d}, {rounds}, {batch}
    beta_a, beta_h = _mc_problem(d, rounds)
    def peak_kib():
        # VmHWM belongs to this process image (exec starts it afresh); ru_maxrss on Linux can carry the
        # parent's peak across fork + exec, which hides the child's own growth.
        try:
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base = peak_kib()
    t0 = time.perf_counter()
    r = simulate_training(jax.random.key(0), MC_C_STAR, d, beta_a, beta_h, num_trials=n, path="vector",
                          batch_size=batch)
    jax.block_until_ready(r.mean)
    wall = time.perf_counter() - t0
    peak = peak_kib()
    print(json.dumps(dict(n=n, d=d, rounds=rounds, batch=batch, wall_s=wall, base_MiB=base / 1024,
                          peak_MiB=peak / 1024, delta_MiB=(peak - base) / 1024, mean=float(r.mean),
                          stderr=float(r.stderr))))
""")


def montecarlo_memory(n, d, rounds, batch=256) -> dict:
    """Peak RSS growth (VmHWM) of one `simulate_training(path="vector")` call in a fresh process, after imports;
    includes compilation."""
    out = harness.run_in_fresh_process(_MEM_CHILD.format(n=n, d=d, rounds=rounds, batch=batch), timeout=900)
    out["unchunked_MiB"] = n * d * 8 / 2**20  # one (trials, d) float64 array, what an unbatched vmap would hold
    out["scipy_rotation_MiB"] = d * d * 8 / 2**20  # scipy's d×d QR rotation (plus QR workspace)
    return out


def _memory_note(m) -> str:
    if "error" in m:
        return f"memory probe failed: {m['error']}"
    return (f"memory: N = {m['n']}, d = {m['d']}, {m['rounds']} rounds, batch {m['batch']}: peak RSS +{m['delta_MiB']:.0f} MiB "
            f"over a {m['base_MiB']:.0f} MiB baseline in a fresh process ({m['wall_s']:.1f} s incl. compile), vs "
            f"{m['unchunked_MiB']:.0f} MiB for one unchunked (N, d) array; scipy.stats.vonmises_fisher would need a "
            f"{m['scipy_rotation_MiB']:.0f} MiB d×d rotation (not attempted)")


KERNELS = {
    "vmf_mean": bench_vmf_mean,
    "vmf_kl": bench_vmf_kl,
    "required_divergence": bench_required_divergence,
    "total_harm": bench_total_harm,
    "montecarlo": bench_montecarlo,
    "convexity": bench_convexity,
}


def run_kernel(name: str, size: str = "full") -> list[Row]:
    """Run one kernel; always a list of rows (a kernel may compare against more than one peer)."""
    out = KERNELS[name](size)
    return out if isinstance(out, list) else [out]
