"""Guarded-learning figures against closed forms of their value maps (independent of sumjax.guarded).

Elliptic arc V(θ) = (cos θ, b sin θ): w·V(θ) = R cos(θ − φ) with R = √(w₀² + b²w₁²), so the
continuous f is R and m equally spaced θ lose at most R(1 − cos(Δ/2)), Δ = (π/2)/(m − 1).
Ellipsoid octant V = diag(a)·x, |x| = 1: f(w) = |diag(a) w|.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.experiments import simplex_penalty, two_utilities
from sumjax.experiments._base import CAVEAT, HOLDS, Context


def _run(module, tmp_path, **sizes):
    cfg = module.Config(**sizes)
    ctx = Context(cfg, seed=1, dtype=jnp.float64, folder=str(tmp_path), progress=False)
    return cfg, module.compute(ctx)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return _run(two_utilities, tmp_path_factory.mktemp("two"), n_policies=257, n_grid=51, n_random_actions=300)


def test_two_utilities_against_closed_form(two):
    cfg, data = two
    b = cfg.ellipse_b
    p = data["p"]
    R = np.sqrt((1 - p) ** 2 + (b * p) ** 2)
    delta = (np.pi / 2) / (cfg.n_policies - 1)
    assert np.all(data["f"] <= R + 1e-12) and np.all(data["f"] >= R * np.cos(delta / 2) - 1e-12)
    np.testing.assert_allclose(data["chord"], (1 - p) * 1.0 + p * b, atol=1e-12)
    # g_{v0}(w) = w·(1, 0), g_{v1}(w) = w·(0, b): the policies at θ = 0 and θ = π/2.
    np.testing.assert_allclose(data["g_v0"], 1 - p, atol=1e-12)
    np.testing.assert_allclose(data["g_v1"], b * p, atol=1e-12)
    # The informative ½/½ update is worth the chord midpoint; f(U_t) = ½√(1 + b²).
    np.testing.assert_allclose(data["info_value"], 0.5 * (1 + b), atol=1e-12)
    np.testing.assert_allclose(data["f_ut"], 0.5 * np.sqrt(1 + b * b), rtol=1 - np.cos(delta / 2) + 1e-12)
    # Penalty of forcing ¼v₀ + ¾v₁: V(π_{w'})·(U_t − w') with V at φ = atan2(b w₁, w₀).
    phi = np.arctan2(b * 0.75, 0.25)
    exact = np.dot([np.cos(phi), b * np.sin(phi)], [0.25, -0.25])
    assert abs(float(data["penalty_quarter"]) - exact) <= delta * np.sqrt(2) * 0.25 + 1e-12
    assert exact > 0  # positive on this map, as the text says it can be
    phi1 = np.arctan2(0.75, 0.25)
    exact_sym = np.dot([np.cos(phi1), np.sin(phi1)], [0.25, -0.25])
    assert abs(float(data["penalty_quarter_symmetric"]) - exact_sym) <= delta * np.sqrt(2) * 0.25 + 1e-12


def test_two_utilities_claims_and_outputs(two, tmp_path):
    cfg, data = two
    verdicts = [c.verdict for c in two_utilities.claims(data, cfg)]
    assert len(verdicts) == 6 and verdicts.count(CAVEAT) == 1 and verdicts.count(HOLDS) == 5
    cols = two_utilities.table(data)
    assert len({len(v) for v in cols.values()}) == 1
    fig = two_utilities.plot(data, cfg)
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_simplex_penalty_against_closed_form(tmp_path):
    cfg, data = _run(simplex_penalty, tmp_path, policy_resolution=20, grid_resolution=8)
    a = np.asarray(cfg.axes)
    w = data["w"]
    R = np.linalg.norm(w * a, axis=-1)
    # Directions from a barycentric grid of resolution r are within 2.45/r rad of any octant direction.
    slack = 1 - np.cos(2.45 / cfg.policy_resolution)
    assert np.all(data["f"] <= R + 1e-12) and np.all(data["f"] >= R * (1 - slack))
    # The informative update lands on vertices: Σ w'_i f(v_i) + penalty, f(v_i) = a_i exactly.
    f_v = a
    base = w @ f_v
    np.testing.assert_allclose(data["info_value"] - data["info_penalty"], base, atol=1e-12)
    # Forcing is worth at most f(U_t); at w' = U_t the informative update is unbiased.
    assert np.max(data["forced_value"]) <= float(data["f_ut"]) + 1e-12
    assert abs(float(data["at_ut_info_penalty"])) < 1e-12
    verdicts = [c.verdict for c in simplex_penalty.claims(data, cfg)]
    assert verdicts == [HOLDS] * 4
    fig = simplex_penalty.plot(data, cfg)
    import matplotlib.pyplot as plt

    plt.close(fig)
