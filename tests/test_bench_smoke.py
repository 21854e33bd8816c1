"""Smoke test of `python -m experiments.bench`: every kernel pair at tiny size, and the two sides agree.

Not timed: only agreement between sumjax and its independent NumPy/SciPy peer (on points where the peer is
finite) and that the command writes its JSON and markdown. Budget ≤ 30 s.
"""

import json
import math

import numpy as np
import pytest

from experiments.bench import __main__ as bench_main
from experiments.bench import harness, kernels, peers

# (rtol, atol) per kernel: the peers are accurate to ~1e-13 where finite, except the KL closed form, which
# cancels large terms (gammaln(d/2), ν log(2/κ), log ive) and so loses ~1e-14·(those terms) absolutely.
TOLERANCES = {
    "vmf_mean": (1e-10, 1e-14),
    "vmf_kl": (1e-9, 1e-12),
    "required_divergence": (1e-8, 1e-12),
    "total_harm": (1e-6, 1e-10),
}


@pytest.fixture(scope="module")
def rows():
    # the fresh-process probes (first call, memory) are exercised by `test_first_call_probe` only
    old = dict(kernels.OPTIONS)
    kernels.OPTIONS.update(first_call=False, memory_probe=False)
    try:
        return {row.kernel: row for name in kernels.KERNELS for row in kernels.run_kernel(name, "tiny")}
    finally:
        kernels.OPTIONS.update(old)


def _pair(row):
    assert row.points > 0, row.notes  # the sumjax side exists and ran
    ours, theirs = (np.asarray(x, float) for x in row.extra["_outputs"])
    assert ours.shape == theirs.shape
    assert np.all(np.isfinite(ours)), f"sumjax gave non-finite values: {row.notes}"
    assert row.compile_s > 0 and row.sumjax_s >= 0 and row.peer_s > 0
    return ours, theirs


@pytest.mark.parametrize("name", list(TOLERANCES))
def test_deterministic_kernel_agrees_with_peer(rows, name):
    ours, theirs = _pair(rows[name])
    ok = np.isfinite(theirs)
    assert ok.sum() >= max(1, ok.size // 2), "tiny problems are chosen where the peer mostly works"
    rtol, atol = TOLERANCES[name]
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=rtol, atol=atol)
    assert rows[name].compared_points == int(ok.sum())


@pytest.mark.parametrize("peer", ["scipy vMF", "NumPy Wood"])
def test_montecarlo_agrees_with_peer_within_monte_carlo_error(rows, peer):
    # Independent random streams: per-round mean harm must agree within 5 combined standard errors
    # (4 rounds compared; a false alarm at 5σ has probability < 3e-6 per round).
    row = rows[f"montecarlo (vs {peer})"]
    ours, theirs = _pair(row)
    assert ours.size == 4
    assert row.extra["max_z"] < 5.0, row.notes
    # and the harm is not trivially zero: the loop's scale is √β_H > 0, and 1 − c > 0 on average
    assert np.all(theirs > 0) and np.all(ours > 0)


def test_montecarlo_cosine_path_agrees_with_numpy_wood(rows):
    row = rows["montecarlo cosine"]
    ours, theirs = _pair(row)
    assert ours.size == 4 and row.extra["max_z"] < 5.0, row.notes
    assert row.limit_s is not None and row.limit_s > 0


def test_limit_column_is_measured(rows):
    # every kernel that ran reports a measured bound (seconds > 0) and what it is
    for row in rows.values():
        if row.points > 0 and "TFP" not in row.kernel:
            assert row.limit and row.limit_s > 0, row.kernel


@pytest.mark.parametrize("prefix", ["bessel ratio", "vmf sample", "vmf_kl (vs TFP)"])
def test_tfp_rows_agree_or_say_why_not(rows, prefix):
    found = [r for k, r in rows.items() if k.startswith(prefix)]
    assert found
    for row in found:
        if peers.tfp() is None:  # the optional bench extra is absent: the row says so instead of a number
            assert row.points == 0 and "not installed" in row.notes
            continue
        ours, theirs = (np.asarray(x, float) for x in row.extra["_outputs"])
        if prefix == "vmf sample":
            # sample means of a·μ: each within 5 standard errors of the Bessel value A_d(κ)
            assert abs(row.extra["z_sumjax"]) < 5 and abs(row.extra["z_tfp"]) < 5, row.notes
        else:
            ok = np.isfinite(theirs)
            np.testing.assert_allclose(ours[ok], theirs[ok], rtol=1e-6 if "kl" in prefix else 1e-12, atol=1e-12)


def test_first_call_probe():
    # fresh processes, cold then warm persistent cache: both finish and report their parts
    fc = harness.first_call("vmf_mean", "tiny", peer_one_call_s=1e-3)
    for part in ("cold", "warm"):
        assert "error" not in fc[part], fc[part]
        assert fc[part]["first_call_s"] > 0 and fc[part]["second_call_s"] > 0 and fc[part]["import_s"] > 0
    assert fc["warm_over_peer"] == pytest.approx(fc["warm"]["first_call_s"] / 1e-3)


def test_peer_fresh_process_setup_makes_the_benchmarks_call(rows):
    # The peer's one call is timed in fresh processes through `first_call_setup("peer_…")`: it must be the call
    # the benchmark process times, on the same inputs (deterministic peers and seeded Monte Carlo: identical).
    fresh = [r for r in rows.values() if r.extra.get("_peer_fresh")]
    assert {r.kernel for r in fresh} >= {"vmf_mean", "vmf_kl", "required_divergence", "total_harm", "convexity",
                                         "montecarlo cosine", "montecarlo (vs NumPy Wood)"}
    for row in fresh:
        out = np.asarray(kernels.first_call_setup(row.extra["_peer_fresh"], "tiny",
                                                  **row.extra.get("_peer_params", {}))(), float)
        theirs = np.asarray(row.extra["_outputs"][1], float)
        if row.kernel.startswith("montecarlo"):
            out = out.mean(axis=0)  # per-round means of the per-trial harms, as the row compares them
        ok = np.isfinite(theirs)  # vmf rows blank the peer's impossible values
        assert out.shape == theirs.shape, row.kernel
        np.testing.assert_array_equal(out[ok], theirs[ok], err_msg=row.kernel)


def test_peer_one_call_is_the_median_of_its_fresh_processes(monkeypatch):
    # run_kernel's wiring, without spawning: the sumjax probe and the peer's probe return made-up timings.
    fake = {
        "vmf_mean": [0.30, 0.10, 0.20],  # sumjax's warm first calls
        "peer_vmf_mean": [0.05, 0.04, 0.07],  # the SciPy peer's one call in fresh processes
    }

    def first_call(name, size, peer_one_call_s, params=None, **kw):
        runs = sorted(fake[name])
        return {"cold": {"first_call_s": 1.0, "compile_s": 0.5}, "warm": {"first_call_s": runs[1], "compile_s": 0.0},
                "warm_first_calls_s": runs,
                "peer_one_call_s": peer_one_call_s}

    monkeypatch.setattr(harness, "first_call", first_call)
    monkeypatch.setitem(kernels.OPTIONS, "first_call", True)
    monkeypatch.setitem(kernels.OPTIONS, "memory_probe", False)
    monkeypatch.setattr(kernels, "_FIRST_CALLS", {})
    (row,) = kernels.run_kernel("vmf_mean", "tiny")
    fc = row.first_call
    assert fc["peer_one_call_s"] == 0.05 and fc["peer_fresh_s"] == [0.04, 0.05, 0.07]
    assert fc["warm_over_peer"] == pytest.approx(0.20 / 0.05)
    assert fc["peer_in_process_s"] == row.extra["_peer_first_s"]
    assert "median of 3 fresh processes" in harness.to_markdown([row], {
        "device": "cpu", "cpu_count": 2, "loadavg_1_5_15": [0, 0, 0], "jax": "", "numpy": "", "scipy": "",
        "x64": True, "utc": ""})


def test_convexity_check_agrees_with_numpy(rows):
    ours, theirs = _pair(rows["convexity"])
    worst, count, tol = ours
    assert count == theirs[1] == 0  # f = max of linear functions is convex: no violation over tol
    assert abs(worst - theirs[0]) <= 1e-12 and worst <= tol
    assert tol == pytest.approx(theirs[2], rel=1e-12)


def test_compare_ignores_points_where_peer_fails():
    ours = np.array([1.0, 2.0, 3.0, 4.0])
    theirs = np.array([1.0, np.nan, 3.5, np.inf])
    mabs, mrel, n, nbad, mask = harness.compare(ours, theirs)
    assert (mabs, n, nbad) == (0.5, 2, 2)
    assert math.isclose(mrel, 0.5 / 3.5)
    assert mask.tolist() == [False, True, False, True]


def test_peer_reports_its_own_failure():
    # scipy's ive underflows at large order and small argument: the peer must NaN there, not return garbage,
    # so the benchmark can say where it fails.
    mean, kl = peers.vmf_mean_kl(np.array([1e-2, 10.0]), np.array([1e5, 10.0]))
    assert np.isnan(mean[0]) and np.isnan(kl[0])
    assert np.isfinite(mean[1]) and np.isfinite(kl[1])


def test_command_writes_json_and_markdown(tmp_path):
    out = tmp_path / "b.json"
    assert bench_main.main(["--size", "tiny", "--only", "vmf_mean", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert [r["kernel"] for r in payload["rows"]] == ["vmf_mean"]
    assert payload["environment"]["device"].startswith("cpu")
    md = (tmp_path / "b.md").read_text()
    assert "| vmf_mean |" in md and "speed-up" in md
