"""The incentive to bias: the README counterexample and the green point by hand in numpy, the search
against a numpy brute-force grid, slopes against finite differences, the variants' bounds, the verdicts."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sumjax.experiments import guarded_bias
from sumjax.experiments._base import FAILS, HOLDS, Context
from sumjax.guarded import (
    PENALTY_KINDS,
    SoftPolicies,
    action_value,
    bias_slope,
    full_information_value,
    lottery_value,
    same_support_value,
    search_bias,
)

README = np.array([[1.0, 0.9], [0.0, 1.0], [1.2, 0.8]])
U_T = np.array([0.5, 0.5])


# --- independent numpy oracle (finite family) -----------------------------------------------------


def np_f(w, V):
    return np.max(np.asarray(w) @ V.T, axis=-1)


def np_value(w, V):
    return V[np.argmax(np.asarray(w) @ V.T, axis=-1)]


def np_text(u, O, p, V):
    """Σ p_i f(U^i) + (Σ p_i V(π_{U^i}))·(U_t − EU), term by term."""
    eu = p @ O
    return float(np.sum(p * np_f(O, V)) + (p @ np_value(O, V)) @ (u - eu))


def np_full(u, V):
    return float(u @ np_f(np.eye(len(u)), V))


def test_readme_counterexample_by_hand():
    # f(v0) = 1.2 (policy C), f(v1) = 1 (B); V(π_v0) = (1.2, .8), V(π_v1) = (0, 1).
    O = np.eye(2)
    p = np.array([0.68, 0.32])
    hand = 0.68 * 1.2 + 0.32 * 1.0 + (0.68 * np.array([1.2, 0.8]) + 0.32 * np.array([0.0, 1.0])) @ (U_T - p)
    assert hand == pytest.approx(1.14464, abs=1e-12)
    assert np_text(U_T, O, p, README) == pytest.approx(hand, abs=1e-12)
    assert float(lottery_value(U_T, O, p, README)) == pytest.approx(hand, abs=1e-12)
    assert float(action_value(U_T, O, p, README)) == pytest.approx(hand, abs=1e-12)
    half = 0.5 * 1.2 + 0.5 * 1.0
    assert float(lottery_value(U_T, O, U_T, README)) == pytest.approx(half, abs=1e-12) == 1.1
    assert float(full_information_value(U_T, README)) == pytest.approx(1.1, abs=1e-12)
    assert same_support_value(U_T, O, README) == pytest.approx(1.1, abs=1e-9)
    # Green point: A(p) = 1 + .2p + (p − ½)(1 − 1.4p) on the vertex lotteries.
    green = float(lottery_value(U_T, O, np.array([0.51, 0.49]), README))
    assert green == pytest.approx(1 + 0.2 * 0.51 + 0.01 * (1 - 1.4 * 0.51), abs=1e-12)
    assert green - 1.1 == pytest.approx(0.00486, abs=1e-12)


def _grid_best_incentive():
    """Max over lotteries {x_a w.p. p, x_b w.p. 1 − p}, x on a grid of 41, p on a grid of 801 (numpy)."""
    x = np.linspace(0, 1, 41)
    p = np.linspace(0, 1, 801)
    W = np.stack([1 - x, x], -1)
    fw, Vw = np_f(W, README), np_value(W, README)
    best = -np.inf
    for a, b in itertools.product(range(len(x)), repeat=2):
        eu = p[:, None] * W[a] + (1 - p[:, None]) * W[b]
        lam = p[:, None] * Vw[a] + (1 - p[:, None]) * Vw[b]
        val = p * fw[a] + (1 - p) * fw[b] + np.sum(lam * (U_T - eu), -1)
        best = max(best, float(val.max()))
    return best - 1.1


def test_search_result_fields(experiment):
    # The README map padded with a worthless third utility, in the experiment's shapes (one compile).
    cfg, _ = experiment
    fam = guarded_bias.readme_family(cfg, 3, jnp.float64)
    u = np.array([0.5, 0.5, 0.0])
    V3 = np.asarray(fam.values)
    res = search_bias(u, fam, key=jax.random.key(0), n_outcomes=3, n_starts=cfg.n_starts, steps=cfg.steps,
                      learning_rate=cfg.learning_rate)
    O, p = np.asarray(res.outcomes), np.asarray(res.probs)
    assert float(res.action_value) == pytest.approx(np_text(u, O, p, V3), abs=1e-12)
    assert float(res.full_information) == pytest.approx(1.1, abs=1e-12)
    assert float(res.incentive) == pytest.approx(float(res.action_value) - 1.1, abs=1e-12)
    np.testing.assert_allclose(res.bias, p @ O - u, atol=1e-12)
    assert float(res.incentive) > 0.03  # the search finds the profitable bias
    # Edge slopes (a_j − a_k)/√2, a = f(v) − λ = (.6, .1, 0), λ = ½(1.2, .8, 0) + ½(0, 1, 0); p_2 cannot
    # decrease (U_t,2 = 0), so the largest is (a_0 − a_1)/√2.
    assert float(res.max_slope) == pytest.approx(0.5 / np.sqrt(2), abs=1e-9)


def _soft(seed, n1=3, m=7, tau=0.1):
    rng = np.random.default_rng(seed)
    return SoftPolicies(rng.uniform(0, 1, (m, n1)), tau), rng


@pytest.mark.parametrize("kind", PENALTY_KINDS)
def test_slope_against_finite_differences(kind):
    fam, rng = _soft(3)
    u = rng.dirichlet(np.ones(3))
    q = rng.normal(size=3)
    q -= q.mean()
    h = 1e-6
    eye = np.eye(3)
    fd = (float(lottery_value(u, eye, u + h * q, fam, penalty_kind=kind)) - float(lottery_value(u, eye, u, fam, penalty_kind=kind))) / h
    assert float(bias_slope(u, q, fam, penalty_kind=kind)) == pytest.approx(fd, abs=1e-5 * (1 + abs(fd)))


def test_text_slope_closed_form():
    V = np.random.default_rng(1).uniform(0, 1, (9, 4))
    u = np.array([0.1, 0.2, 0.3, 0.4])
    lam = u @ np_value(np.eye(4), V)
    a = np_f(np.eye(4), V) - lam
    for j, k in itertools.permutations(range(4), 2):
        q = np.eye(4)[j] - np.eye(4)[k]
        assert float(bias_slope(u, q, V)) == pytest.approx(a[j] - a[k], abs=1e-12)


@given(st.integers(0, 2**31 - 1))
def test_variant_bounds_and_identities(seed):
    rng = np.random.default_rng(seed)
    V = rng.uniform(0, 1, (6, 3))
    u = rng.dirichlet(np.ones(3))
    O = rng.dirichlet(np.ones(3) * 0.7, size=3)
    p = rng.dirichlet(np.ones(3))
    full = np_full(u, V)
    val = {k: float(lottery_value(u, O, p, V, penalty_kind=k)) for k in PENALTY_KINDS}
    assert val["text"] == pytest.approx(np_text(u, O, p, V), abs=1e-12)
    # chord and recentred: no lottery beats full information.
    assert val["chord"] <= full + 1e-12 and val["recentred"] <= full + 1e-12
    # bregman = f(U_t) + Σ p_i D_f(U^i ‖ U_t).
    vu = np_value(u, V)
    breg = np_f(u, V) + np.sum(p * (np_f(O, V) - np_f(u, V) - (O - u) @ vu))
    assert val["bregman"] == pytest.approx(breg, abs=1e-12)
    # text ≤ C(U_t) whenever every recentred outcome stays in the simplex.
    if np.all(O + (u - p @ O) >= 0):
        assert val["text"] <= full + 1e-12
    # Unbiased lotteries: every variant but recentred's contraction agrees with Σ p f (recentred too: λ* = 1).
    Ou = O - (p @ O) + u
    if np.all(Ou >= 0):
        for k in PENALTY_KINDS:
            assert float(lottery_value(u, Ou, p, V, penalty_kind=k)) == pytest.approx(float(np.sum(p * np_f(Ou, V))), abs=1e-12)


def test_forced_updates_per_variant():
    O = np.array([[1.0, 0.0]])
    one = np.array([1.0])
    f_ut = 1.0
    assert float(lottery_value(U_T, O, one, README)) <= f_ut  # text: g_{v0}(U_t) = 1.0
    assert float(lottery_value(U_T, O, one, README, penalty_kind="chord")) == pytest.approx(1.1, abs=1e-12)  # = C(U_t)
    assert float(lottery_value(U_T, O, one, README, penalty_kind="recentred")) == pytest.approx(f_ut, abs=1e-12)
    # bregman: f(U_t) + D_f(v1 ‖ U_t) = 1 + (1 − 1 − (1.2, .8)·(−½, ½)) = 1.2 > f(U_t).
    assert float(lottery_value(U_T, np.array([[0.0, 1.0]]), one, README, penalty_kind="bregman")) == pytest.approx(1.2, abs=1e-12)


def test_same_support_value_brute_force_and_infeasible():
    O = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    # Brute force over p' on a fine grid of the 2-simplex with the equality constraint enforced.
    best = -np.inf
    for a in np.linspace(0, 1, 2001):
        # p'(a) on the segment of unbiased weights: solve the last two for given p'_0 = a.
        A = np.array([O[1, :] - O[2, :]])
        rhs = U_T - a * O[0] - (1 - a) * O[2]
        b = rhs[0] / A[0, 0]
        pp = np.array([a, b, 1 - a - b])
        if np.all(pp >= -1e-12) and np.allclose(pp @ O, U_T, atol=1e-9):
            best = max(best, float(pp @ np_f(O, README)))
    assert same_support_value(U_T, O, README) == pytest.approx(best, abs=1e-3)
    assert same_support_value(U_T, O[:1], README) == -np.inf


def test_bad_arguments():
    with pytest.raises(ValueError, match="penalty_kind"):
        lottery_value(U_T, np.eye(2), U_T, README, penalty_kind="quadratic")
    with pytest.raises(ValueError, match="direction"):
        bias_slope(U_T, np.array([1.0, 0.0]), README)
    with pytest.raises(ValueError, match="direction"):
        bias_slope(np.array([1.0, 0.0]), np.array([1.0, -1.0]), README)
    with pytest.raises(ValueError, match="n_starts"):
        search_bias(U_T, README, key=jax.random.key(0), n_starts=0)
    with pytest.raises(ValueError, match="probs"):
        lottery_value(U_T, np.eye(2), np.array([0.7, 0.7]), README)


# --- verdicts: each can fail --------------------------------------------------------------------


def test_verdicts_fail_on_violating_data():
    tol = 1e-9
    assert guarded_bias.verdict_no_profitable_bias(np.array([-1e-3, 0.0]), tol) == HOLDS
    assert guarded_bias.verdict_no_profitable_bias(np.array([-1e-3, 0.02]), tol) == FAILS
    assert guarded_bias.verdict_no_first_order_incentive(np.array([-0.4, 0.0]), tol) == HOLDS
    assert guarded_bias.verdict_no_first_order_incentive(np.array([0.3]), tol) == FAILS
    assert guarded_bias.verdict_green_not_preferred(1.1, 1.1, tol) == HOLDS
    assert guarded_bias.verdict_green_not_preferred(1.105, 1.1, tol) == FAILS
    assert guarded_bias.verdict_only_by_leaving_simplex(np.array([-0.1]), tol) == HOLDS
    assert guarded_bias.verdict_only_by_leaving_simplex(np.array([0.01]), tol) == FAILS
    inc = np.array([[0.1, 0.2], [-1e-3, 0.0]])
    forced = np.array([[0.0, 0.0], [0.0, 0.3]])
    assert guarded_bias.passing_kinds(inc, forced, tol) == []
    assert guarded_bias.passing_kinds(inc, np.zeros_like(forced), tol) == [1]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    cfg = guarded_bias.Config(sizes=(2, 3), n_starts=8, steps=120, landscape_resolution=21, n_forced=16)
    ctx = Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path_factory.mktemp("gb")), progress=False)
    return cfg, guarded_bias.compute(ctx)


def test_experiment_numbers_and_claims(experiment):
    cfg, data = experiment
    assert float(data["readme_counter_value"]) == pytest.approx(1.14464, abs=1e-12)
    assert float(data["readme_half_value"]) == pytest.approx(1.1, abs=1e-12)
    assert float(data["readme_green_value"]) == pytest.approx(1.10486, abs=1e-12)
    # The search against a numpy brute-force grid (the optimum is on it up to (Δp)²: A(p*) − 1.1 = 0.04464…
    # at p* = 19/28 on the vertices); the search is a lower bound.
    grid = _grid_best_incentive()
    assert grid == pytest.approx(1 + 0.2 * 19 / 28 + (19 / 28 - 0.5) * (1 - 1.4 * 19 / 28) - 1.1, abs=1e-6)
    assert grid - 5e-4 <= float(data["readme_text_incentive"]) <= grid + 1e-6
    eu = data["readme_best_probs"] @ data["readme_best_outcomes"]
    np.testing.assert_allclose(eu, [19 / 28, 9 / 28], atol=0.02)
    # Parametric family: f(w) = ½|a⊙w|², so C(U_t) − f(U_t) = ½ Σ a_j²/(n+1) − ½ Σ a_j²/(n+1)².
    for si, size in enumerate(cfg.sizes):
        rng = np.random.default_rng([0, size])
        rng.uniform(0.0, 1.0, (cfg.n_policies, max(cfg.sizes)))  # the table is drawn first
        a = rng.uniform(0.5, 1.5, size)
        exact = 0.5 * np.sum(a**2) / size - 0.5 * np.sum(a**2) / size**2
        assert data["info_value"][2, si] == pytest.approx(exact, abs=1e-10)
    # Chord and recentred never beat full information; recentred never rewards forcing.
    ki = list(guarded_bias.KINDS)
    assert np.max(data["kind_incentive"][ki.index("chord")]) <= 1e-9
    assert np.max(data["kind_incentive"][ki.index("recentred")]) <= 1e-9
    assert np.max(data["kind_forced_gain"][ki.index("recentred")]) <= 1e-12
    # chord: forcing a vertex is worth C(U_t), the most any forcing gets, so its gain is the information value.
    np.testing.assert_allclose(data["kind_forced_gain"][ki.index("chord")], data["info_value"][0], atol=1e-12)
    assert np.max(data["kind_forced_gain"][ki.index("chord")]) > 0
    claims = guarded_bias.claims(data, cfg)
    verdicts = [c.verdict for c in claims]
    assert verdicts == [FAILS, FAILS, FAILS, HOLDS, HOLDS]
    cols = guarded_bias.table(data)
    assert len({len(v) for v in cols.values()}) == 1
    import matplotlib.pyplot as plt

    fig = guarded_bias.plot(data, cfg)
    assert len(fig.axes) >= 3
    plt.close(fig)


def test_simplex_penalty_information_row_can_fail():
    """The row "biased updates gain only with information" counts forced updates beating f(U_t) from data."""
    from sumjax.experiments import simplex_penalty
    from sumjax.experiments._base import CAVEAT

    n = 5
    data = {"eps": np.finfo(float).eps, "f": np.ones(n), "min_gap": np.zeros(n), "f_ut": np.asarray(1.0),
            "forced_value": np.full(n, 0.9), "forced_penalty": np.array([0.1, 0, 0, 0, 0]),
            "info_value": np.full(n, 1.05), "at_ut_info_value": np.asarray(1.1), "at_ut_info_penalty": np.asarray(0.0)}
    row = lambda d: simplex_penalty.claims(d, None)[-1]  # noqa: E731
    assert row(data).verdict == HOLDS and "0 of 5" in row(data).measured
    assert row({**data, "forced_penalty": np.zeros(n)}).verdict == CAVEAT
    bad = {**data, "forced_value": np.array([0.9, 1.2, 0.9, 0.9, 0.9])}
    assert row(bad).verdict == FAILS and "1 of 5" in row(bad).measured
