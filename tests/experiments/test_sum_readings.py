"""The readings, information and fragility experiments: every verdict is a pure function of arrays
and comes out "does not hold" on data that violate the claim; small runs of each experiment agree
with independent values (d = 3 closed forms, the bound I ≤ β_A, d' = k(d − 3) + 3)."""

import jax.numpy as jnp
import numpy as np
import pytest

from sumjax.experiments import fragility, information, readings, scaling
from sumjax.experiments._base import CAVEAT, FAILS, HOLDS, Context


def _ctx(cfg, tmp_path):
    return Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False)


# ----------------------------------------------------------------- verdicts fail on violating data


def test_readings_verdicts_can_fail():
    r = np.linspace(0, 4, 9)
    dims = np.array([10.0, 100.0])
    good_curve = np.maximum(r - 1, 0)[None, :] * dims[:, None]
    # S4: exponent 0.5 is not "∝ d"; S5: harm below the threshold; S6: onset exponent 2; S7: slope falls with d.
    h = readings.claim_holds([0.5], [0.1], [[2.0, 2.0]], [[3.0, 1.0]])
    assert not any(bool(v[0]) for v in h.values())
    h = readings.claim_holds([1.0], [0.0], [[1.0, 0.5]], readings.slopes_past_threshold(r, good_curve)[None])
    assert all(bool(v[0]) for v in h.values())
    assert readings.across_readings([False, True], [True, False]) == FAILS
    assert readings.across_readings([True, False], [True, False]) == CAVEAT
    assert readings.across_readings([True, True], [True, False]) == HOLDS
    np.testing.assert_allclose(readings.fit_exponent([1.0, 10.0, 100.0], [[2.0, 20.0, 200.0]]), [1.0])
    np.testing.assert_allclose(readings.scale_change([[1.0, 1.0, 1.5]]), [0.5])
    assert readings.below_threshold_max(r, good_curve[None])[0] == 0.0


def test_information_verdicts_can_fail():
    assert information.information_verdict([0.999, 1.0], 0.01) == HOLDS
    assert information.information_verdict([0.9, 1.0], 0.01) == FAILS
    assert information.zero_below_verdict([0.5, 1.0, 2.0], [[0.0, 0.0, 1.0]]) == HOLDS
    assert information.zero_below_verdict([0.5, 1.0, 2.0], [[0.1, 0.0, 1.0]]) == FAILS
    assert information.zero_below_verdict([0.5, 1.0, 2.0], [[0.0, 0.0, 0.0]]) == FAILS


def test_fragility_verdicts_can_fail():
    m = np.array([0.5, 0.6])
    assert fragility.literal_verdict(m, m, m, m, np.array([[4.0, 5.0]]), np.array([1.0, 2.0])) == HOLDS
    assert fragility.literal_verdict(m, m * 1.01, m, m, np.array([[4.0, 5.0]]), np.array([1.0, 2.0])) == FAILS
    assert fragility.literal_verdict(m, m, m, m, np.array([[5.0, 4.0]]), np.array([1.0, 2.0])) == FAILS
    H0 = np.array([1.0])
    assert fragility.covariance_verdict([[1.0, 1.0]], [[2.0, 3.0]], H0) == CAVEAT
    assert fragility.covariance_verdict([[1.0, 1.0]], [[1.0, 0.5]], H0) == FAILS
    assert fragility.covariance_verdict([[2.0, 3.0]], [[2.0, 3.0]], H0) == HOLDS


def test_scaling_superexponential_verdict_can_fail():
    assert scaling.superexponential_verdict([5.0, 3.0, 2.0, 2.5], 1.0, 1.5)[0] == HOLDS  # rate rises again
    assert scaling.superexponential_verdict([5.0, 3.0, 2.0, 1.0], 1.0, 1.5)[0] == CAVEAT  # only falls, from above
    assert scaling.superexponential_verdict([1.2, 1.1, 1.0, 1.0], 1.0, 1.5)[0] == FAILS  # never much faster
    assert scaling.superexponential_verdict([], 1.0, 1.5)[0] == FAILS


# ----------------------------------------------------------------- small runs


def test_readings_experiment_small(tmp_path):
    cfg = readings.Config(n_beta_h=3, fit_dims=(1e2, 1e4), plot_dims=(3.0, 30.0), n_ratios=5, onset_eps=(1e-4, 1e-3))
    data = readings.compute(_ctx(cfg, tmp_path))
    s = readings.summary(data, cfg)
    n = len(data["measure"])
    assert n == 24 and data["is_default"].sum() == 1
    # Scale-free exactly when the measure matches the progress (predicted), measured to 1e-12.
    np.testing.assert_array_equal(s["scale_change"] < 1e-12, data["scale_free_predicted"])
    # d = 3 closed form for the default reading at r = 4: H = 3·∫(1 − A)dD (test_readings has the reference).
    from tests.alignment.test_readings import int_D

    i = int(np.argmax(data["is_default"]))
    np.testing.assert_allclose(data["H_curve"][i, 0, -1], 3.0 * int_D(cfg.c_star), rtol=1e-9)
    # Onset exponents: ½ for √ReLU, 1 otherwise.
    onset = np.nanmax(s["onset_exponent"], axis=-1)
    np.testing.assert_allclose(onset, np.where(data["threshold"] == "sqrt_relu", 0.5, 1.0), atol=0.01)
    tab = readings.table(data)
    assert len({len(v) for v in tab.values()}) == 1
    print("\n" + readings.format_table(data, cfg))
    verdicts = {c.claim: c.verdict for c in readings.claims(data, cfg)}
    assert all(v in (HOLDS, CAVEAT, FAILS) for v in verdicts.values())
    import matplotlib.pyplot as plt

    plt.close(readings.plot(data, cfg))


def test_information_and_fragility_experiments_small(tmp_path):
    cfg = information.Config(dims=(2.0, 10.0), betas=(0.1, 10.0), n_cos=3, harm_dims=(10.0,), ratios=(0.5, 2.0),
                             num_nodes=8)
    data = idata = information.compute(_ctx(cfg, tmp_path / "i"))
    icfg = cfg
    assert np.all((data["ratio_uniform"] > 0) & (data["ratio_uniform"] < 1))
    np.testing.assert_allclose(data["ratio_uniform"][1, 1], 0.5423, atol=2e-3)  # d = 10, β = 10
    verdicts = [c.verdict for c in information.claims(data, cfg)]
    assert verdicts == [FAILS, HOLDS]
    cfg = fragility.Config(dims=(10.0,), exponents=(0.5, 2.0), check_kappas=(1.0, 20.0), quad_nodes=2000)
    data = fragility.compute(_ctx(cfg, tmp_path / "f"))
    np.testing.assert_allclose(data["d_literal"], [[6.5, 17.0]])
    np.testing.assert_allclose(data["H_isotropic"], data["H0"][:, None] * np.ones((1, 2)), rtol=1e-12)
    verdicts = [c.verdict for c in fragility.claims(data, cfg)]
    assert verdicts == [HOLDS, CAVEAT]
    import matplotlib.pyplot as plt

    plt.close(fragility.plot(data, cfg))
    plt.close(information.plot(idata, icfg))
