"""The benchmarked kernels: each builds its problem at a size, times sumjax and its peer, and compares them.

Every `bench_*` function takes a size name (`tiny`, `small`, `full`) and returns a `harness.Row` (or a list of
rows, one per peer); `run_kernel` always gives a list. The sumjax side is imported lazily, so a kernel whose
sumjax code is missing reports that instead of crashing the run. The raw outputs ride along in
`row.extra["_outputs"]` (dropped from the JSON) for the smoke test.
"""

from __future__ import annotations

import functools
import math
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import harness, peers
from .harness import Row

__all__ = ["KERNELS", "SIZES", "OPTIONS", "run_kernel"]

OPTIONS = {"memory_probe": True, "first_call": True}  # fresh-process probes (memory; first call, cold/warm cache)

# Problem sizes. `full` is the benchmark of record; `tiny` is the smoke test.
SIZES = {
    "tiny": dict(
        vmf_nd=6, vmf_nk=6, vmf_dmax=50.0, vmf_kmax=100.0,
        rd_nd=4, rd_nc=3, rd_dmax=200.0,
        harm_nr=4, harm_nd=4, harm_dmax=200.0,
        mc_trials=256, mc_d=20, mc_rounds=4, mc_mem=None, mc_repeats=0,
        cvx_points=200, cvx_n=4, cvx_m=16,
        mc_cos_trials=256, tfp_sides=(6, 20), samp_n=(1000, 4000), samp_d=16, samp_kappa=10.0,
        repeats=2, min_time=0.0, peer_budget=5.0,
    ),
    "small": dict(
        vmf_nd=100, vmf_nk=100, vmf_dmax=1e6, vmf_kmax=1e7,
        rd_nd=50, rd_nc=5, rd_dmax=1e6,
        harm_nr=50, harm_nd=50, harm_dmax=1e5,
        mc_trials=1000, mc_d=500, mc_rounds=8, mc_mem=(1000, 10_000, 2), mc_repeats=1,
        cvx_points=10_000, cvx_n=8, cvx_m=64,
        mc_cos_trials=10_000, tfp_sides=(100, 316), samp_n=(10_000, 100_000), samp_d=16, samp_kappa=10.0,
        repeats=3, min_time=0.2, peer_budget=10.0,
    ),
    "full": dict(
        vmf_nd=316, vmf_nk=316, vmf_dmax=1e6, vmf_kmax=1e7,
        rd_nd=50, rd_nc=20, rd_dmax=1e6,
        harm_nr=200, harm_nd=200, harm_dmax=1e5,
        mc_trials=10_000, mc_d=1000, mc_rounds=16, mc_mem=(10_000, 100_000, 2), mc_repeats=1,
        cvx_points=100_000, cvx_n=16, cvx_m=256,
        mc_cos_trials=100_000, tfp_sides=(316, 1000), samp_n=(100_000, 1_000_000), samp_d=16, samp_kappa=10.0,
        repeats=5, min_time=1.0, peer_budget=60.0,
    ),
}


# GPU size (experiments/gpu_check.sh): the jitted sides grow; the host peers stay small enough to finish in minutes.
SIZES["gpu"] = dict(
    SIZES["full"], vmf_nd=1000, vmf_nk=1000, cvx_points=1_000_000, mc_cos_trials=1_000_000,
    tfp_sides=(316, 1000, 3162), samp_n=(100_000, 1_000_000, 10_000_000), peer_budget=30.0, min_time=0.5,
)


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
    ex["_peer_first_s"] = None if pt is None else (pt.first_s if pt.first_s is not None else pt.best_s)
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


def _square_grid(side, s):
    """The side × side (d, κ) grid of the TFP rows, flattened (NumPy)."""
    d, k = np.geomspace(2.0, s["vmf_dmax"], side), np.geomspace(1e-2, s["vmf_kmax"], side)
    return tuple(x.reshape(-1) for x in np.meshgrid(d, k, indexing="ij"))


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
    pt = harness.time_peer(peer_fn, n, repeats=3, budget_s=s["peer_budget"], min_time=s["min_time"])
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
    notes.append("peer: the closed form through exponentially scaled Bessel functions, vectorised — the standard "
                 "SciPy route; it fails where ive underflows (listed)")
    row = _row(f"vmf_{which}", problem, n, jt, peer_name, pt, ours, theirs, fail, "; ".join(notes),
               extra={"peer_nonfinite": int(nonfinite.sum()), "peer_impossible": int(impossible.sum()),
                      "_first_call": f"vmf_{which}", "_peer_fresh": f"peer_vmf_{which}"})
    _set_limit(row, *_vmf_limit(which, kj, dj, s))
    rows = [row]
    if which == "kl":
        rows.append(_tfp_kl_row(kj, dj, jt, problem, s))
    return rows


def _vmf_limit(which, kj, dj, s):
    """The transcendentals a vMF kernel cannot avoid, as one bare jitted pass over the same points:
    E[c] needs a square root and a division (the ratio of two Bessel values), D also a logarithm."""
    if which == "mean":
        what = "1 sqrt + 1 div per point"
        fn = lambda k, d: jnp.sqrt(k * k + d * d) / (k + d)  # noqa: E731
    else:
        # the fastest float64 log this machine has: sumjax's fdlibm in element-wise ops (~3× XLA:CPU's own)
        from sumjax._numerics import log

        what = "1 sqrt + 1 div + 1 log (fdlibm, vectorised) per point"
        fn = lambda k, d: log(k + d) + jnp.sqrt(k * k + d * d) / (k + d)  # noqa: E731
    return what, harness.time_jax(fn, kj, dj, repeats=s["repeats"], min_time=s["min_time"]).best_s


def _set_limit(row, what, seconds):
    row.limit, row.limit_s = what, seconds
    return row


def _tfp_kl_row(kj, dj, jt, problem, s) -> Row:
    peer_name = "TFP-JAX: κ·bessel_iv_ratio − log M with log_bessel_ive (jitted)"
    if peers.tfp() is None:
        return _missing("vmf_kl (vs TFP)", problem, peer_name, "tensorflow_probability (tfp-nightly) not installed: "
                        "`pip install -e .[bench]`")
    tt = harness.time_jax(peers.tfp_vmf_kl, kj, dj, repeats=s["repeats"], min_time=s["min_time"])
    pt = harness.PeerTiming(tt.best_s, kj.size, kj.size, False, np.asarray(tt.output))
    ours, theirs = np.asarray(jt.output), np.asarray(tt.output)
    ok = np.isfinite(theirs)
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
    i = int(np.argmax(np.where(ok, rel, -1.0)))
    k, d = np.asarray(kj), np.asarray(dj)
    notes = (f"TFP {peers.tfp_version()} compile {tt.compile_s:.2f} s; the KL assembled from TFP's pieces (what a "
             f"TFP user writes); largest rel. diff at d = {d[i]:.4g}, κ = {k[i]:.4g} (sumjax {ours[i]:.17g}, TFP "
             f"{theirs[i]:.17g}{_mpmath_arbiter('kl', k[i], d[i])}); TFP non-finite on {int((~ok).sum())} points")
    return _row("vmf_kl (vs TFP)", problem, kj.size, jt, peer_name, pt, ours, theirs,
                "" if ok.all() else f"non-finite on {int((~ok).sum())} points", notes,
                extra={"_first_call": "vmf_kl", "_peer_first_call": "tfp_kl"})


# --- Bessel ratio and vMF sampling against TFP-JAX, at 1e5 and 1e6 points ------------------------------------------


def bench_bessel_ratio_tfp(size="full") -> list[Row]:
    """`vmf_mean` vs `tfp.math.bessel_iv_ratio` on (d, κ) grids of `tfp_sides`² points (both jitted)."""
    s = SIZES[size]
    rows = []
    for side in s["tfp_sides"]:
        dd, kk = (jnp.asarray(x) for x in _square_grid(side, s))
        n = dd.size
        problem = f"{side}×{side} (d, κ), d ∈ [2, {s['vmf_dmax']:.0e}], κ ∈ [1e-2, {s['vmf_kmax']:.0e}]"
        peer_name = "TFP-JAX tfp.math.bessel_iv_ratio(d/2, κ) (jitted)"
        kernel = f"bessel ratio n={n:.0e} (vs TFP)"
        fns, err = _sumjax("alignment", "vmf_mean")
        if err or peers.tfp() is None:
            rows.append(_missing(kernel, problem, peer_name, err or "tensorflow_probability (tfp-nightly) not "
                                 "installed: `pip install -e .[bench]`"))
            continue
        (fn,) = fns
        jt = harness.time_jax(lambda a, b: fn(a, b), kk, dd, repeats=s["repeats"], min_time=s["min_time"])
        tt = harness.time_jax(peers.tfp_vmf_mean, kk, dd, repeats=s["repeats"], min_time=s["min_time"])
        pt = harness.PeerTiming(tt.best_s, n, n, False, np.asarray(tt.output))
        notes = (f"TFP {peers.tfp_version()}: compile {tt.compile_s:.2f} s (sumjax {jt.compile_s:.2f} s); TFP's "
                 "ratio is the only vectorised large-order Bessel ratio in the JAX ecosystem, so it is the peer a "
                 "JAX user reaches for")
        # the first call of vmf_mean on the vmf grid is the same program when the sizes coincide
        setup = "vmf_mean" if side == s["vmf_nd"] == s["vmf_nk"] else f"bessel_{side}"
        row = _row(kernel, problem, n, jt, peer_name, pt, np.asarray(jt.output), np.asarray(tt.output), "", notes,
                   extra={"_first_call": setup, "_peer_first_call": f"tfp_bessel_{side}"})
        _set_limit(row, *_vmf_limit("mean", kk, dd, s))
        rows.append(row)
    return rows


def bench_vmf_sample(size="full") -> list[Row]:
    """`sample_vmf` vs `tfp.distributions.VonMisesFisher.sample`: N unit vectors in d = `samp_d` (both jitted)."""
    s = SIZES[size]
    d, kappa = s["samp_d"], s["samp_kappa"]
    rows = []
    fns, err = _sumjax("alignment", "sample_vmf", "vmf_mean")
    mu = jnp.zeros(d).at[0].set(1.0)
    for n in s["samp_n"]:
        problem = f"{n:.0e} draws of vMF(μ, κ = {kappa:g}) on S^{d - 1}"
        peer_name = "TFP-JAX VonMisesFisher(μ, κ).sample (jitted)"
        kernel = f"vmf sample n={n:.0e} (vs TFP)"
        if err or peers.tfp() is None:
            rows.append(_missing(kernel, problem, peer_name, err or "tensorflow_probability (tfp-nightly) not "
                                 "installed: `pip install -e .[bench]`"))
            continue
        sample_vmf, vmf_mean = fns
        k = jnp.asarray(kappa)
        # Both reduce to the sample mean of a·μ inside the jit (the output the law is checked on), so neither
        # pays a host transfer of N·d numbers; the draw of all N vectors is still done.
        ours_fn = lambda key, m, kk: jnp.mean(sample_vmf(key, m, kk, (n,)) @ m)  # noqa: E731
        tfp_fn = lambda key, m, kk: jnp.mean(peers.tfp_sample_vmf(key, m, kk, n) @ m)  # noqa: E731
        key = jax.random.key(3)
        jt = harness.time_jax(ours_fn, key, mu, k, repeats=s["repeats"], min_time=s["min_time"])
        tt = harness.time_jax(tfp_fn, jax.random.PRNGKey(4), mu, k, repeats=s["repeats"], min_time=s["min_time"])
        pt = harness.PeerTiming(tt.best_s, n, n, False, np.asarray(tt.output))
        exact = float(vmf_mean(kappa, float(d)))
        # sd of c under vMF ≤ 1; both means must sit within a few standard errors of A_d(κ).
        var = _vmf_cos_var(kappa, d)
        se = math.sqrt(var / n)
        z_ours, z_tfp = (float(jt.output) - exact) / se, (float(tt.output) - exact) / se
        notes = (f"sample mean of a·μ: sumjax {float(jt.output):.6f} (z = {z_ours:+.2f}), TFP {float(tt.output):.6f} "
                 f"(z = {z_tfp:+.2f}) against A_d(κ) = {exact:.6f}; TFP {peers.tfp_version()} compile "
                 f"{tt.compile_s:.2f} s (sumjax {jt.compile_s:.2f} s); sumjax draws the tangent normals in float32 "
                 "(float64 cosine)")
        row = _row(kernel, problem, n, jt, peer_name, pt, np.asarray(jt.output), np.asarray(tt.output), "", notes,
                   extra={"z_sumjax": z_ours, "z_tfp": z_tfp, "exact_mean": exact, "_first_call": f"sample_{n}",
                          "_peer_first_call": f"tfp_sample_{n}"})
        _set_limit(row, "bare RNG: N·(d−1) f32 normals + 3 f64 uniforms per sample (one Wood proposal)",
                   _rng_limit(n, d, 1, s, draws="bulk"))
        rows.append(row)
    return rows


def _vmf_cos_var(kappa, d):
    """Var[c] under vMF = 1 − A² − (d − 1)A/κ (the derivative A'(κ)), from SciPy's ive (fine at d = 16)."""
    a = float(peers.vmf_mean(kappa, d))
    return max(1.0 - a * a - (d - 1.0) * a / kappa, 1e-12)


def _rng_limit(n, d, rounds, s, batch=None, draws="trial"):
    """Best time of a bare jitted draw of the random numbers a vMF sampler needs for n samples × rounds:
    (d − 1) float32 normals (the tangent direction; none when d is None) and 3 float64 uniforms (one Wood
    proposal with Ulrich's Beta: the fewest any accepted sample needs), reduced to a scalar.

    `draws` keys the draw as the kernel does: "trial" (one key per trial, `lax.map` in chunks of
    `batch`), "bulk" (one key for all n, as `sample_vmf`), "block" (one key per block of `batch` trials
    × rounds, as the cosine path)."""
    dt = jnp.result_type(float)

    def draw(key, lead):
        lead = (lead,) if isinstance(lead, int) else lead
        k2, k3 = jax.random.split(key)
        acc = jnp.sum(jax.random.uniform(k2, (3,) + lead + (rounds,), dt))  # the 3 leading, as the kernel draws
        if d is not None:
            acc = acc + jnp.sum(jax.random.normal(k3, lead + (rounds, d - 1), jnp.float32), dtype=dt)
        return acc

    def fn(key):
        if draws == "bulk":
            return draw(key, n)
        if draws == "block":
            rows = batch or n
            nb, rem = divmod(n, rows)
            keys = jax.random.split(key, nb + 1)
            acc = jnp.sum(jax.lax.map(lambda k: draw(k, rows), keys[:nb]))
            return acc + draw(keys[nb], rem) if rem else acc
        keys = jax.random.split(key, n)
        return jnp.sum(jax.lax.map(lambda k: draw(k, ()), keys, batch_size=batch or min(n, 1000)))

    return harness.time_jax(fn, jax.random.key(9), repeats=s["repeats"], min_time=s["min_time"]).best_s


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
    pt = harness.time_peer(lambda sel: peers.required_divergence(cc, dd), n, repeats=2, budget_s=s["peer_budget"],
                           min_time=s["min_time"])
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
    notes += ("; peer: brentq per point on the ive ratio (SciPy has no vectorised root of I_{d/2}/I_{d/2−1} = c; "
              "a user writes this loop)")
    row = _row("required_divergence", problem, n, jt, peer_name, pt, ours, theirs, fail, notes,
               extra={"_first_call": "required_divergence", "_peer_fresh": "peer_required_divergence"})
    # A root solve must evaluate D(κ) at least once at each point: one vmf_kl pass on (κ*, d) is its bound.
    kap = jnp.asarray(np.maximum(cc * dd / (1 - cc * cc), 1e-3))
    (vkl,), _ = _sumjax("alignment._vmf", "kl")
    lim = harness.time_jax(lambda a, b: vkl(a, b), kap, jnp.asarray(dd), repeats=s["repeats"], min_time=s["min_time"])
    return _set_limit(row, "one vmf_kl pass at (κ*, d)", lim.best_s)


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
    peer_name = "SciPy hoisted: brentq + quad once per d, β scale broadcast"
    fns, err = _sumjax("alignment", "total_harm")
    if err:
        return _missing("total_harm", problem, peer_name, err)
    (fn,) = fns

    def ours_fn(beta_a, dim):
        # The grid as a user writes it: broadcastable (n_r, 1) × (1, n_d) arrays. total_harm then computes
        # the integral once per d and broadcasts the β scale; flattened in the same (ij) order as rr, dd.
        return fn(HARM_C_STAR, dim, beta_a, 1.0, reading="first_reconstruction").reshape(-1)

    jt = harness.time_jax(ours_fn, jnp.asarray(r)[:, None], jnp.asarray(d)[None, :], repeats=s["repeats"],
                          min_time=s["min_time"], max_time=10.0, warmup=False)
    pt = harness.time_peer(lambda sel: peers.total_harm_hoisted(HARM_C_STAR, d, r, 1.0).reshape(-1), n,
                           repeats=3, budget_s=s["peer_budget"], min_time=s["min_time"])
    ours, theirs = np.asarray(jt.output), np.asarray(pt.output)
    bad = ~np.isfinite(theirs)
    fail = ""
    if bad.any():
        fail = f"NaN on {bad.mean():.0%} of points, from d = {dd[bad].min():.3g}"
    notes = (f"peer: the fair SciPy program — one brentq for κ* and one quad per d ({s['harm_nd']} quad calls; "
             f"quad raised {peers.quad_warnings()} IntegrationWarnings), the β scale broadcast, exactly the hoisting "
             f"sumjax does; sumjax non-finite on {int((~np.isfinite(ours)).sum())} of {n}")
    row = _row("total_harm", problem, n, jt, peer_name, pt, ours, theirs, fail, notes,
               extra={"_first_call": "total_harm", "_peer_fresh": "peer_total_harm"})
    # Its bound: E[c] and D at the 48 Gauss–Legendre nodes of each d (one vmf_kl pass over nd × 48 points).
    (vkl,), _ = _sumjax("alignment._vmf", "kl")
    kn = jnp.asarray(np.tile(np.geomspace(1e-2, 1e3, 48), s["harm_nd"]))
    dn = jnp.asarray(np.repeat(d, 48))
    lim = harness.time_jax(lambda a, b: vkl(a, b), kn, dn, repeats=s["repeats"], min_time=s["min_time"])
    return _set_limit(row, f"one vmf_kl pass at {s['harm_nd']}×48 quadrature nodes", lim.best_s)


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

    pt = harness.time_peer(peer_fn, n, repeats=3, budget_s=s["peer_budget"], min_time=s["min_time"])
    ours, theirs = np.asarray(jt.output), np.asarray(pt.output)
    notes = (f"compared: worst violation {ours[0]:.3e} (peer {theirs[0]:.3e}), violations over tol {ours[1]:.0f} "
             f"(peer {theirs[1]:.0f}), tol; the location of the worst is a rounding-level tie for a convex f, so not compared")
    notes += ("; peer: NumPy's BLAS matmul for both score blocks + argmax (vectorised; a Python loop would be "
              "~100× slower)")
    row = _row("convexity", problem, n, jt, peer_name, pt, ours, theirs, "", notes, extra={"_first_call": "convexity",
                                                                                          "_peer_fresh": "peer_convexity"})
    peak = dgemm_peak(s)
    flops = 2 * 2 * n * m * n1  # the two score matmuls W Vᵀ and W' Vᵀ
    bare, how = _score_matmul_limit(values, w, wp, s)
    row.extra.update(dgemm_GFLOPs=peak / 1e9, kernel_GFLOPs=flops / jt.best_s / 1e9, bare_matmul_s=bare,
                     dgemm_bound_s=flops / peak)
    row.notes += (f"; {flops / jt.best_s / 1e9:.1f} GFLOP/s against a DGEMM peak of {peak / 1e9:.1f} GFLOP/s "
                  f"({flops / peak / jt.best_s:.0%} of it); the two score matmuls and their row maxima alone, at "
                  f"the kernel's shapes, take {bare * 1e3:.1f} ms ({how}; {flops / bare / 1e9:.1f} GFLOP/s: "
                  f"inner dimension {n1} keeps a matmul far from the DGEMM peak)")
    return _set_limit(row, f"the 2 score matmuls + row maxima alone ({flops / 1e9:.2f} GFLOP), fastest of XLA and "
                           f"NumPy's BLAS", bare)


def _score_matmul_limit(values, w, wp, s):
    """Best time of the work every supporting-hyperplane check must do: the two score matrices W Vᵀ and W' Vᵀ
    and their row maxima f(w), f(w'), nothing else, as a bare pass at the kernel's shapes. Measured two ways
    in the same run, XLA (jitted, in the kernel's chunks) and NumPy's BLAS (whole and in the same chunks); the
    fastest is the limit. Returns (seconds, which)."""
    from sumjax.guarded.convexity import _CVX_ELEMENTS, _CVX_ROWS

    n, m = w.shape[0], values.shape[0]
    rows = max(1, min(_CVX_ROWS, _CVX_ELEMENTS // m, n))
    nc = n // rows
    vt = np.ascontiguousarray(values.T)

    def xla(v, a, b):
        sh = lambda x: x[: nc * rows].reshape(nc, rows, x.shape[-1])  # noqa: E731
        fa, fb = jax.lax.map(lambda ab: (jnp.max(ab[0] @ v.T, axis=-1), jnp.max(ab[1] @ v.T, axis=-1)), (sh(a), sh(b)))
        return jnp.sum(fa) + jnp.sum(fb)

    t_xla = harness.time_jax(xla, jnp.asarray(values), jnp.asarray(w), jnp.asarray(wp), repeats=s["repeats"],
                             min_time=s["min_time"]).best_s
    t_np = {}
    for label, step in (("NumPy whole", nc * rows), ("NumPy chunked", rows)):
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for i in range(0, nc * rows, step):
                (w[i : i + step] @ vt).max(axis=1)
                (wp[i : i + step] @ vt).max(axis=1)
            best = min(best, time.perf_counter() - t0)
        t_np[label] = best
    scale = n / (nc * rows)  # the whole chunks only: scale to all n pairs
    options = {"XLA": t_xla * scale, **{k: v * scale for k, v in t_np.items()}}
    which = min(options, key=options.get)
    return options[which], which


def dgemm_peak(s) -> float:
    """Measured float64 matmul rate (flop/s) on this machine: a jitted 1024² × 1024² product, best of runs."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((1024, 1024)))
    t = harness.time_jax(lambda x: x @ x, a, repeats=max(3, s["repeats"]), min_time=s["min_time"]).best_s
    return 2 * 1024**3 / t


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
        r = simulate(jax.random.key(i), MC_C_STAR, d, beta_a, beta_h, num_trials=n, path="vector", batch_size=batch,
                     reading="first_reconstruction")
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
        pt = harness.time_peer(peer_fn, rounds, repeats=1, budget_s=s["peer_budget"], subset_points=subset,
                               min_time=s["min_time"])
        idx = order[: pt.measured_points]
        harms = np.asarray(pt.output)
        p_mean = harms.mean(axis=0)
        p_se = harms.std(axis=0, ddof=1) / math.sqrt(n)
        z = np.abs(round_mean[idx] - p_mean) / np.sqrt(round_se[idx] ** 2 + p_se**2)
        notes = (f"per-round mean harm compared on {idx.size} round(s): max |z| = {z.max():.2f} (Monte Carlo, "
                 f"independent streams; |z| < 4 expected); {recompile}; the run is RNG-bound: "
                 "see the limit column")
        if pt.extrapolated:
            notes += f"; peer timed on {pt.measured_points} of {rounds} rounds, extrapolated per round"
        row = _row(name, problem, elems, jt, peer_name, pt, round_mean[idx], p_mean, "", notes,
                   extra=dict(extra, max_z=float(z.max())))
        rows.append(row)
    lim = _rng_limit(n, d, rounds, s, batch)
    for row in rows:
        _set_limit(row, "bare RNG: (d−1) f32 normals + 3 f64 uniforms per trial and round", lim)
        row.extra["_first_call"] = "montecarlo"
    # The NumPy Wood peer's one call in fresh processes (the SciPy one, ~80 s a call, keeps its in-process figure).
    rows[1].extra.update(_peer_fresh="peer_montecarlo", _peer_params={"kappas": [float(k) for k in kappas]})
    rows[1].notes += ("; peer: Wood's rejection + a Householder reflection in NumPy, O(N·d) per round — the best "
                      "full-vector sampler a user writes (scipy's builds a d×d rotation)")
    mem = s["mc_mem"]
    if mem is not None and OPTIONS["memory_probe"]:
        rows[0].extra["memory"] = montecarlo_memory(*mem)
        rows[0].notes += "; " + _memory_note(rows[0].extra["memory"])
    return rows


def bench_montecarlo_cosine(size="full") -> Row:
    """`simulate_training(path="cosine")`: c = a·h drawn from its 1-D law vs NumPy Wood on c directly."""
    s = SIZES[size]
    n, d, rounds = s["mc_cos_trials"], s["mc_d"], s["mc_rounds"]
    problem = f"{n} trials × {rounds} rounds (cosine path, d = {d}), c* = {MC_C_STAR}"
    peer_name = "NumPy Wood rejection on c (no vectors)"
    fns, err = _sumjax("alignment", "simulate_training")
    if err:
        return _missing("montecarlo cosine", problem, peer_name, err)
    (simulate,) = fns
    beta_a, beta_h = _mc_problem(d, rounds)
    batch = min(n, 10_000)

    def call(i):
        return simulate(jax.random.key(100 + i), MC_C_STAR, d, beta_a, beta_h, num_trials=n, path="cosine",
                        batch_size=batch, reading="first_reconstruction")

    jt = harness.time_calls(call, repeats=max(1, s["mc_repeats"]) + 1)
    res, calls = jt.output
    jt.output = res
    round_mean, round_se = np.asarray(res.round_mean), np.asarray(res.round_stderr)
    kappas = peers.kappa_schedule(np.asarray(res.D), d)
    weight = math.sqrt(beta_a) - math.sqrt(beta_h)
    pt = harness.time_peer(lambda sel: peers.montecarlo_harm_cosine(kappas, weight, d, n, seed=2), rounds, repeats=2,
                           budget_s=s["peer_budget"], min_time=s["min_time"])
    harms = np.asarray(pt.output)
    p_mean = harms.mean(axis=0)
    p_se = harms.std(axis=0, ddof=1) / math.sqrt(n)
    z = np.abs(round_mean - p_mean) / np.sqrt(round_se**2 + p_se**2)
    notes = (f"per-round mean harm compared on {rounds} rounds: max |z| = {z.max():.2f}; for the plain loop harm "
             "depends on a only through c = a·h, which is exactly Wood's w, so this path has the same law as the "
             "full-vector one; peer: the same rejection sampler vectorised in NumPy (Beta proposal), the best a "
             "user who knows the model writes")
    row = _row("montecarlo cosine", problem, n * rounds, jt, peer_name, pt, round_mean, p_mean, "", notes,
               extra={"max_z": float(z.max()), "calls": calls, "_first_call": "montecarlo_cosine",
                      "_peer_fresh": "peer_montecarlo_cosine", "_peer_params": {"kappas": [float(k) for k in kappas]}})
    floor = _proposal_floor(n, d, kappas, s, batch)
    row.extra["one_proposal_s"] = floor
    row.notes += (f"; one Wood proposal per trial and round with no rejection step (the uniforms and the proposal's "
                  f"arithmetic, the kernel's blocks) takes {floor * 1e3:.2f} ms: the kernel runs at "
                  f"{floor / jt.best_s:.0%} of that floor, the rest is retries, gathering and the statistics")
    return _set_limit(row, "bare RNG: 3 f64 uniforms per trial and round (one proposal), one key per block as drawn",
                      _rng_limit(n, None, rounds, s, batch, draws="block"))


def _proposal_floor(n, d, kappas, s, batch):
    """Best time of ONE Wood proposal (three uniforms, Ulrich's Beta, the acceptance test) for every trial and
    round, in the cosine path's blocks of `batch` trials, without the rejection loop: what a rejection sampler
    with acceptance 1 would cost."""
    from sumjax.alignment import sampling

    rounds = len(kappas)
    dt = jnp.result_type(float)
    kap = jnp.asarray(np.broadcast_to(kappas, (batch, rounds)).reshape(-1), dt)
    m = jnp.full(kap.shape, d - 1.0, dt)
    b = m / (2.0 * kap + jnp.hypot(2.0 * kap, m))

    def fn(key):
        def block(k):
            w, wc, acc = sampling._propose(k, m, b, dt)
            return jnp.sum(jnp.where(acc, w, wc))
        return jnp.sum(jax.lax.map(block, jax.random.split(key, max(1, n // batch))))

    return harness.time_jax(fn, jax.random.key(9), repeats=s["repeats"], min_time=s["min_time"]).best_s


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
                          batch_size=batch, reading="first_reconstruction")
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
    "bessel_ratio_tfp": bench_bessel_ratio_tfp,
    "required_divergence": bench_required_divergence,
    "total_harm": bench_total_harm,
    "montecarlo": bench_montecarlo,
    "montecarlo_cosine": bench_montecarlo_cosine,
    "vmf_sample": bench_vmf_sample,
    "convexity": bench_convexity,
}


_FIRST_CALLS: dict = {}  # setup name → fresh-process timings (one probe per distinct call per run)


def run_kernel(name: str, size: str = "full") -> list[Row]:
    """Run one kernel; always a list of rows (a kernel may compare against more than one peer).

    With `OPTIONS["first_call"]`, each distinct sumjax call of the rows is also timed in fresh processes
    (cold and warm persistent cache) and set beside the peer's one call."""
    out = KERNELS[name](size)
    rows = out if isinstance(out, list) else [out]
    if OPTIONS["first_call"]:
        done = _FIRST_CALLS
        for row in rows:
            setup = row.extra.get("_first_call")
            if setup is None:
                continue
            if setup not in done:
                done[setup] = harness.first_call(setup, size, None)
            fc = dict(done[setup])
            peer_first = row.extra.get("_peer_first_s")
            fc["peer_in_process_s"] = peer_first
            peer_setup = row.extra.get("_peer_first_call")
            fresh = row.extra.get("_peer_fresh")
            if peer_setup is not None:
                # A jitted peer (TFP) compiles too: its one call is its own first call in a fresh process,
                # with its own warm persistent cache, like sumjax's warm column.
                if peer_setup not in done:
                    done[peer_setup] = harness.first_call(peer_setup, size, None)
                peer_fc = done[peer_setup]
                fc["peer_cold"], fc["peer_warm"] = peer_fc.get("cold"), peer_fc.get("warm")
                peer_first = (peer_fc.get("warm") or {}).get("first_call_s")
            elif fresh is not None:
                # A NumPy/SciPy peer's one call is timed as sumjax's is: the median of three fresh processes
                # (after a first one), not one sample inside the long-running benchmark process.
                if fresh not in done:
                    done[fresh] = harness.first_call(fresh, size, None, params=row.extra.get("_peer_params"))
                runs = done[fresh].get("warm_first_calls_s") or []
                if runs:
                    fc["peer_fresh_s"] = runs
                    peer_first = (done[fresh].get("warm") or {}).get("first_call_s")
                else:
                    fc["peer_fresh_error"] = done[fresh].get("warm", {}).get("error") or "failed"
            fc["peer_one_call_s"] = peer_first
            warm = fc.get("warm") or {}
            fc.pop("warm_over_peer", None)
            if peer_first and "first_call_s" in warm:
                fc["warm_over_peer"] = warm["first_call_s"] / peer_first
            row.first_call = fc
    return rows


def first_call_setup(name: str, size: str, **params):
    """A zero-argument callable making one public sumjax call of a benchmark problem (for `harness.first_call`):
    inputs built in NumPy, so the only JAX work timed is the call itself. ``tfp_*`` and ``peer_*`` names make
    the peer's call instead."""
    s = SIZES[size]
    if name.startswith("tfp_"):
        return _tfp_first_call_setup(name, s)
    if name.startswith("peer_"):
        return _peer_first_call_setup(name[len("peer_"):], s, **params)
    import sumjax.alignment as al

    if name in ("vmf_mean", "vmf_kl") or name.startswith("bessel_"):
        if name.startswith("bessel_"):
            dd, kk = _square_grid(int(name.split("_")[1]), s)
        else:
            _, _, dd, kk = _vmf_grid(s)
        fn = al.vmf_kl if name == "vmf_kl" else al.vmf_mean
        return lambda: fn(kk, dd)
    if name == "required_divergence":
        d, c = np.geomspace(2.0, s["rd_dmax"], s["rd_nd"]), np.linspace(0.05, 0.95, s["rd_nc"])
        dd, cc = (x.reshape(-1) for x in np.meshgrid(d, c, indexing="ij"))
        return lambda: al.required_divergence(cc, dd)
    if name == "total_harm":
        r, d = np.geomspace(0.5, 8.0, s["harm_nr"]), np.geomspace(2.0, s["harm_dmax"], s["harm_nd"])
        return lambda: al.total_harm(HARM_C_STAR, d[None, :], r[:, None], 1.0, reading="first_reconstruction")
    if name in ("montecarlo", "montecarlo_cosine"):
        d, rounds = s["mc_d"], s["mc_rounds"]
        beta_a, beta_h = _mc_problem(d, rounds)
        if name == "montecarlo":
            n, path, batch = s["mc_trials"], "vector", min(s["mc_trials"], 1000)
        else:
            n, path, batch = s["mc_cos_trials"], "cosine", min(s["mc_cos_trials"], 10_000)
        return lambda: al.simulate_training(jax.random.key(0), MC_C_STAR, d, beta_a, beta_h, num_trials=n, path=path,
                                            batch_size=batch, reading="first_reconstruction").mean
    if name.startswith("sample_"):
        n, d = int(name.split("_")[1]), s["samp_d"]
        mu = np.zeros(d)
        mu[0] = 1.0
        return lambda: al.sample_vmf(jax.random.key(0), mu, s["samp_kappa"], (n,))
    if name == "convexity":
        from sumjax.guarded import FinitePolicies, check_supporting_hyperplane

        rng = np.random.default_rng(1)
        n1, m, n = s["cvx_n"], s["cvx_m"], s["cvx_points"]
        values, w, wp = rng.standard_normal((m, n1)), rng.dirichlet(np.ones(n1), n), rng.dirichlet(np.ones(n1), n)
        return lambda: check_supporting_hyperplane(FinitePolicies(values), points=(w, wp)).worst
    raise ValueError(f"no first-call setup named {name!r}")


def _peer_first_call_setup(name: str, s: dict, kappas=None):
    """The NumPy/SciPy peer's one call on the row's problem, exactly as the benchmark process calls it; `kappas`:
    the Monte Carlo rows' round schedule, computed by the parent (quadrature; not part of the timed call there
    either)."""
    if name in ("vmf_mean", "vmf_kl"):
        _, _, dd, kk = _vmf_grid(s)
        if name == "vmf_mean":
            return lambda: peers.vmf_mean(kk, dd)
        return lambda: peers.vmf_mean_kl(kk, dd)[1]
    if name == "required_divergence":
        d, c = np.geomspace(2.0, s["rd_dmax"], s["rd_nd"]), np.linspace(0.05, 0.95, s["rd_nc"])
        dd, cc = (x.reshape(-1) for x in np.meshgrid(d, c, indexing="ij"))
        return lambda: peers.required_divergence(cc, dd)
    if name == "total_harm":
        r, d = np.geomspace(0.5, 8.0, s["harm_nr"]), np.geomspace(2.0, s["harm_dmax"], s["harm_nd"])
        return lambda: peers.total_harm_hoisted(HARM_C_STAR, d, r, 1.0).reshape(-1)
    if name in ("montecarlo", "montecarlo_cosine"):
        d, rounds = s["mc_d"], s["mc_rounds"]
        beta_a, beta_h = _mc_problem(d, rounds)
        weight = math.sqrt(beta_a) - math.sqrt(beta_h)
        kappas = np.asarray(kappas, float)
        if name == "montecarlo":  # the NumPy Wood row, rounds in the order the benchmark times them
            return lambda: peers.montecarlo_harm(kappas[::-1], weight, d, s["mc_trials"], seed=1, sampler="numpy")
        return lambda: peers.montecarlo_harm_cosine(kappas, weight, d, s["mc_cos_trials"], seed=2)
    if name == "convexity":
        rng = np.random.default_rng(1)
        n1, m, n = s["cvx_n"], s["cvx_m"], s["cvx_points"]
        values, w, wp = rng.standard_normal((m, n1)), rng.dirichlet(np.ones(n1), n), rng.dirichlet(np.ones(n1), n)

        def call():
            worst, _, viol, fvals = peers.convexity_check(w, wp, values)
            tol = np.sqrt(np.finfo(float).eps) * (1.0 + np.abs(fvals).max())
            return np.array([worst, float((viol > tol).sum()), tol])

        return call
    raise ValueError(f"no peer first-call setup named {name!r}")


def _tfp_first_call_setup(name: str, s: dict):
    """The TFP-JAX peer's one call, jitted as a JAX user writes it (TFP imported in the setup, so, as for
    sumjax, the timed call is trace + compile or cache load + run)."""
    if peers.tfp() is None:
        raise RuntimeError("tensorflow_probability (tfp-nightly) not installed")
    kind, _, arg = name[len("tfp_"):].partition("_")  # tfp_bessel_SIDE, tfp_kl, tfp_sample_N
    if kind == "bessel":
        dd, kk = _square_grid(int(arg), s)
        fn = jax.jit(peers.tfp_vmf_mean)
        return lambda: fn(kk, dd)
    if kind == "kl":
        _, _, dd, kk = _vmf_grid(s)
        fn = jax.jit(peers.tfp_vmf_kl)
        return lambda: fn(kk, dd)
    if kind == "sample":
        n, d = int(arg), s["samp_d"]
        mu = np.zeros(d)
        mu[0] = 1.0
        fn = jax.jit(functools.partial(peers.tfp_sample_vmf, n=n))
        return lambda: fn(jax.random.PRNGKey(0), mu, s["samp_kappa"])
    raise ValueError(f"no first-call setup named {name!r}")
