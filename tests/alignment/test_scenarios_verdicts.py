"""The scenario experiments' verdicts are pure functions of arrays: data that violates each claim reads "does not
hold", data that satisfies it reads "holds" (no experiment is run here)."""

import numpy as np

from sumjax.experiments import scenario_sensitivity as SS
from sumjax.experiments import scenarios as SC
from sumjax.experiments._base import FAILS, HOLDS


def _fake(cfg, good: bool):
    """A data dict with the shapes `compute` produces; `good` makes every claim hold, else every claim fail."""
    cov = np.linspace(0, 1, cfg.n_coverage)
    nb = np.asarray(cfg.sandbox_budgets)
    q0 = cfg.c_star**2
    H_sb = np.where(cov[None, :] >= q0 + 0.05, 0.0, (1.0 - cov[None, :]) * (1.0 + 0.0 * nb[:, None])) * (1 if good else -1)
    if not good:
        H_sb = np.abs(H_sb) + 1.0  # never zero, and more harm with a sandbox: H_sb[-1, 0] > H_sb[0, 0]
        H_sb[-1] += 1.0
    ratios = np.linspace(0.5, 3.0, cfg.n_ratios)
    R = np.asarray(cfg.repeats)
    H_rep = np.maximum(ratios[None, :] - 1.0, 0.0) * (1.0 if good else R[:, None])
    dims = np.asarray(cfg.dims)
    g = np.geomspace(1e-3, 1.0, cfg.n_growth)
    gstar = 0.3 / dims if good else 0.001 * dims
    H_g = (g[None, :] >= gstar[:, None]).astype(float)
    rho = np.linspace(0, 1, cfg.n_rho)
    T = np.asarray(cfg.deployments)
    best = np.linspace(0, 1, len(T)) if good else np.linspace(1, 0, len(T))
    H_dec = -((rho[None, None, :] - best[None, :, None]) ** 2) + 0 * dims[[0, -1]][:, None, None] + 5
    dep = (rho[None, None, :] + 0.1) * (T[None, :, None] + 1) * (dims[[0, -1]][:, None, None] if good else 1.0 / dims[[0, -1]][:, None, None])
    tr = np.asarray(cfg.turn_ratios)
    n0 = np.asarray(cfg.turn_rounds)
    H_t = (tr[:, None] * (1 + n0[None, :] / 10)) if good else (1.0 / tr[:, None] + 0 * n0[None, :])
    rounds_t = (tr[:, None] * 10 + 0 * n0[None, :]) if good else np.full((len(tr), len(n0)), 10.0)
    lam = np.asarray(cfg.lams)
    fm = np.full((len(lam), len(dims), cfg.n_ratios), cfg.c_star) * (1.0 if good else np.linspace(0.5, 1, len(dims))[None, :, None])
    dep_g = np.ones_like(fm) * (1.0 if good else 0.0)
    ks = np.asarray(cfg.ks)
    H_f = np.outer(ks, dims)
    data = {
        "sandbox.H": H_sb, "sandbox.axis0": nb, "sandbox.axis1": cov,
        "repeats.H": H_rep, "repeats.axis0": R, "repeats.axis1": ratios,
        "growth.H": H_g, "growth.axis0": dims, "growth.axis1": g,
        "growth.critical_closed_form": gstar if good else gstar * 100,
        "deception.H": H_dec, "deception.deployment": dep, "deception.axis0": dims[[0, -1]], "deception.axis1": T,
        "deception.axis2": rho,
        "left_turn.H": H_t, "left_turn.rounds": rounds_t,
        "goodharting.axis0": lam, "goodharting.axis2": ratios, "goodharting.final_mean": fm,
        "goodharting.H": fm, "goodharting.deployment": dep_g,
        "fragility.H": H_f, "fragility_dprime.H": H_f * (1.0 if good else 1.1),
    }
    return data


def test_every_scenario_claim_can_fail_and_hold():
    cfg = SC.Config()
    bad = SC.claims(_fake(cfg, False), cfg)
    good = SC.claims(_fake(cfg, True), cfg)
    assert len(bad) == len(good) == 10
    assert [c.verdict for c in bad] == [FAILS] * 10, [(c.claim, c.measured) for c in bad if c.verdict != FAILS]
    assert [c.verdict for c in good] == [HOLDS] * 10, [(c.claim, c.measured) for c in good if c.verdict != HOLDS]


def test_verdict_functions():
    cov = np.linspace(0, 1, 11)
    q0, falls, at = SC.sandbox_verdict(cov, [np.r_[np.linspace(1, 0.1, 7), np.zeros(4)]], 0.8)
    assert q0 == cov[7] and falls and at
    q0, falls, at = SC.sandbox_verdict(cov, [np.linspace(0.1, 1, 11)], 0.8)
    assert q0 == np.inf and not falls and not at
    onset, change = SC.repeats_verdict(np.array([0.5, 1.5, 2.0]), np.array([[0, 1, 2], [0, 0.5, 1.0]]))
    assert np.all(onset == 1.5) and change == 0.5
    gs, slope = SC.growth_verdict(np.array([10.0, 100.0]), np.array([0.01, 0.1, 1.0]), np.array([[0, 0, 1], [0, 1, 1]]))
    assert np.allclose(gs, [1.0, 0.1]) and np.isclose(slope, -1.0)
    assert np.all(SC.deception_verdict(np.array([0, 0.5, 1]), np.array([[3, 2, 1], [1, 2, 3]])) == [0, 1])
    assert SC.relative_spread([1, 1, 1]) == 0 and SC.relative_spread([1, 2]) == 0.5


def test_sensitivity_verdicts():
    assert SS.ranking({"a": 0.1, "b": -3.0, "c": 1.0}) == ["b", "c", "a"]
    err, ok = SS.gradient_check([1.0, 2.0], [1.0, 2.001])
    assert ok and err < 1e-3
    err, ok = SS.gradient_check([1.0, 2.0], [1.0, 3.0])
    assert not ok
    cfg = SS.Config()
    for text_wins in (True, False):
        data = {}
        for k in SS.PARAMS:
            v = (5.0 if k in SS.TEXT_PARAMS else 1.0) if text_wins else (0.1 if k in SS.TEXT_PARAMS else 2.0)
            data[f"el_ref.{k}"] = np.array([v])
            data[f"fd_ref.{k}"] = np.array([v * (1.0 if text_wins else 1.5)])
        cl = SS.claims(data, cfg)
        assert [c.verdict for c in cl] == ([HOLDS, HOLDS] if text_wins else [FAILS, FAILS])


def test_monotone_counts_ties_as_non_decreasing():
    assert SC.monotone_increasing([0, 0, 1]) and not SC.monotone_increasing([0, 1, 0.5])
