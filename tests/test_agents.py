"""Agents acting in turn: each KL is measured from the world the agent was handed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import entropy as scipy_kl

import sumjax as sj


def test_gaussian_agents_in_turn_compose_closed_forms():
    """Two linear agents on N(0, I): the mean moves by √(2β_i)·u_i/|u_i| each; KL from the handed world."""
    u1, u2 = np.array([3.0, 0.0]), np.array([1.0, 1.0])
    agents = [sj.Agent(sj.LinearUtility(u1), 0.5), sj.Agent(sj.LinearUtility(u2), 2.0)]
    final, results = sj.act_in_turn(sj.GaussianWorld.isotropic(2), agents)
    want = np.sqrt(2 * 0.5) * u1 / 3.0 + np.sqrt(2 * 2.0) * u2 / np.sqrt(2)
    np.testing.assert_allclose(np.asarray(final.mean), want, rtol=1e-14)
    np.testing.assert_allclose([float(r.kl) for r in results], [0.5, 2.0], rtol=1e-14)
    # total KL from the start is NOT the sum (the shifts are not parallel): |want|²/2
    np.testing.assert_allclose(float(sj.kl(final, sj.GaussianWorld.isotropic(2))), 0.5 * want @ want, rtol=1e-14)


def test_discrete_agents_match_sequential_tilts_and_scipy():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    world = sj.DiscreteWorld.from_probs(p)
    a = sj.Agent(sj.TabularUtility(np.array([1.0, 0.0, 0.0, -1.0])), 0.1)
    b = sj.Agent(sj.TabularUtility(np.array([0.0, 0.0, 2.0, 1.0])), 0.2)
    final, (ra, rb) = sj.act_in_turn(world, [a, b])
    mid = sj.tilt(world, a.utility, 0.1).world
    np.testing.assert_allclose(np.asarray(final.probs), np.asarray(sj.tilt(mid, b.utility, 0.2).world.probs), rtol=1e-14)
    np.testing.assert_allclose(scipy_kl(np.asarray(ra.world.probs), p), 0.1, rtol=1e-9)
    np.testing.assert_allclose(scipy_kl(np.asarray(final.probs), np.asarray(mid.probs)), 0.2, rtol=1e-9)
    # a single Agent is accepted; act() is tilt()
    f1, (r1,) = sj.act_in_turn(world, a)
    np.testing.assert_allclose(np.asarray(f1.probs), np.asarray(mid.probs), rtol=1e-15)


def test_agents_jit_vmap_grad():
    def final_mean(powers):
        agents = [sj.Agent(sj.LinearUtility(jnp.array([1.0, 0.0])), powers[0]), sj.Agent(sj.LinearUtility(jnp.array([0.0, 2.0])), powers[1])]
        return sj.act_in_turn(sj.GaussianWorld.isotropic(2), agents)[0].mean

    pw = np.array([[0.5, 2.0], [0.125, 0.5]])
    out = jax.jit(jax.vmap(final_mean))(pw)
    np.testing.assert_allclose(np.asarray(out), np.sqrt(2 * pw), rtol=1e-14)
    g = jax.grad(lambda b: jnp.sum(final_mean(b)))(pw[0])
    np.testing.assert_allclose(np.asarray(g), 1 / np.sqrt(2 * pw[0]), rtol=1e-12)


def test_agent_errors():
    with pytest.raises(ValueError, match="power"):
        sj.Agent(sj.LinearUtility(np.ones(2)), -1.0)
    with pytest.raises(TypeError, match="Agent"):
        sj.act_in_turn(sj.GaussianWorld.isotropic(2), [(sj.LinearUtility(np.ones(2)), 1.0)])
