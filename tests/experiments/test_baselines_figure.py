"""Tilt vs best-of-n vs quantilizer on the Gaussian-grid world, against continuous closed forms
(SciPy quadrature for E[max of n normals]; φ(z)/q for the quantilizer; √(2 KL) for the tilt)."""

import jax.numpy as jnp
import numpy as np
from scipy import integrate, stats

from sumjax.experiments import baselines
from sumjax.experiments._base import HOLDS, Context


def test_gaussian_world_matches_continuous_closed_forms(tmp_path):
    cfg = baselines.Config(n_states=1601, n_points=6, n_max=200.0, chunk=18)
    data = baselines.compute(Context(cfg, seed=0, dtype=jnp.float64, folder=str(tmp_path), progress=False))
    g = data["world"] == 0
    n, q = data["n"][g], data["q"][g]
    e_max = np.array([integrate.quad(lambda x, m=m: x * m * stats.norm.pdf(x) * stats.norm.cdf(x) ** (m - 1), -12, 12)[0]
                      for m in n])
    np.testing.assert_allclose(data["bon_gain"][g], e_max, atol=2e-2)
    np.testing.assert_allclose(data["bon_kl"][g], np.log(n) - (n - 1) / n, atol=2e-2)
    z = stats.norm.isf(q)
    np.testing.assert_allclose(data["qua_kl"][g], -np.log(q), atol=2e-2)
    np.testing.assert_allclose(data["qua_gain"][g], stats.norm.pdf(z) / q, atol=2e-2)
    np.testing.assert_allclose(data["tilt_at_bon_gain"][g], np.sqrt(2 * data["bon_kl"][g]), atol=2e-2)
    # The tilt spent exactly the baseline's KL (equal-KL comparison), in every world.
    np.testing.assert_allclose(data["tilt_at_bon_kl"], data["bon_kl"], atol=1e-8)
    np.testing.assert_allclose(data["tilt_at_qua_kl"], data["qua_kl"], atol=1e-8)
    assert [c.verdict for c in baselines.claims(data, cfg)] == [HOLDS, HOLDS]
    import matplotlib.pyplot as plt

    plt.close(baselines.plot(data, cfg))
