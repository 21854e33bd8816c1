"""Best-of-n and the quantilizer: exact laws against brute force, continuous limits,
and the tilt's optimality at equal KL."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import entropy as scipy_kl

import sumjax as sj

N = 6
RUNTIME = (RuntimeError, ValueError)


@jax.jit
def bon(lp, v, n):
    r = sj.best_of_n(sj.DiscreteWorld(lp), sj.TabularUtility(v), n)
    return r.world.probs, r.kl, r.gain


@jax.jit
def quant(lp, v, q):
    r = sj.quantilizer(sj.DiscreteWorld(lp), sj.TabularUtility(v), q)
    return r.world.probs, r.kl, r.gain


@jax.jit
def tilt_gain(lp, v, beta):
    r = sj.tilt(sj.DiscreteWorld(lp), sj.TabularUtility(v), beta)
    return r.gain, r.kl


P = np.array([0.1, 0.25, 0.15, 0.2, 0.05, 0.25])
U = np.array([1.0, 2.0, 0.0, 2.0, -1.0, 1.0])  # two tie levels


def brute_best_of_n(p, u, n):
    """Enumerate all n-tuples of draws; the best is the first draw attaining the max U."""
    out = np.zeros(len(p))
    for tup in itertools.product(range(len(p)), repeat=n):
        prob = np.prod(p[list(tup)])
        vals = u[list(tup)]
        out[tup[int(np.argmax(vals))]] += prob
    return out


def brute_quantilizer(p, u, q):
    """Fill mass from the top U level down until q is used; the boundary level gets a fraction."""
    out = np.zeros(len(p))
    left = q
    for level in sorted(set(u), reverse=True):
        idx = u == level
        take = min(left, p[idx].sum())
        out[idx] = p[idx] * take / p[idx].sum()
        left -= take
    return out / q


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_best_of_n_exact_law_against_enumeration(n):
    probs, kl, gain = bon(np.log(P), U, float(n))
    ref = brute_best_of_n(P, U, n)
    np.testing.assert_allclose(np.asarray(probs), ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(float(kl), scipy_kl(ref, P), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(float(gain), ref @ U - P @ U, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("q", [1.0, 0.6, 0.45, 0.25, 0.1])
def test_quantilizer_against_brute_force(q):
    probs, kl, gain = quant(np.log(P), U, q)
    ref = brute_quantilizer(P, U, q)
    np.testing.assert_allclose(np.asarray(probs), ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(float(kl), scipy_kl(ref, P), rtol=1e-10, atol=1e-14)
    assert float(kl) <= -np.log(q) + 1e-12


def test_continuous_limits():
    """Fine discretisation of a continuous U: KL(best of n) → log n − (n−1)/n, KL(quantilizer) → −log q."""
    M = 5000
    lp = jnp.zeros(M)
    v = jnp.asarray(np.random.default_rng(0).permutation(M), dtype=jnp.float64)  # distinct values, any order

    @jax.jit
    def kls(ns, qs):
        b = jax.vmap(lambda n: sj.best_of_n(sj.DiscreteWorld(lp), sj.TabularUtility(v), n).kl)(ns)
        q = jax.vmap(lambda q: sj.quantilizer(sj.DiscreteWorld(lp), sj.TabularUtility(v), q).kl)(qs)
        return b, q

    ns, qs = np.array([2.0, 5.0, 10.0, 50.0]), np.array([0.5, 0.1, 0.01])
    kb, kq = kls(ns, qs)
    # M equal atoms: the exact discrete KL differs from the continuous one by ≤ 1.5e-6 relative here
    np.testing.assert_allclose(np.asarray(kb), np.log(ns) - (ns - 1) / ns, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(kq), -np.log(qs), rtol=1e-10)


probs_st = st.lists(st.floats(0.02, 1.0), min_size=N, max_size=N).map(lambda x: np.array(x) / np.sum(x))
values_st = st.lists(st.integers(-3, 3), min_size=N, max_size=N).map(lambda x: np.array(x, float))


@given(probs_st, values_st, st.floats(1.0, 30.0), st.floats(0.02, 1.0))
def test_tilt_beats_baselines_at_equal_kl(p, u, n, q):
    for probs, kl, gain in (bon(np.log(p), u, n), quant(np.log(p), u, q)):
        t_gain, t_kl = tilt_gain(np.log(p), u, float(kl))
        assert float(t_kl) <= float(kl) + 1e-10
        assert float(t_gain) >= float(gain) - 1e-9 * (1 + abs(float(gain)))


def test_gradients_and_particle_worlds():
    # d gain / d log P by finite differences (differentiable in the weights; piecewise constant in U)
    g = jax.grad(lambda lp: bon(lp, U, 3.0)[2])(np.log(P))
    h = 1e-6
    ref = [(float(bon(np.log(P) + h * e, U, 3.0)[2]) - float(bon(np.log(P) - h * e, U, 3.0)[2])) / (2 * h) for e in np.eye(N)]
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-6, atol=1e-9)
    gq = jax.grad(lambda lp: quant(lp, U, 0.3)[2])(np.log(P))
    ref = [(float(quant(np.log(P) + h * e, U, 0.3)[2]) - float(quant(np.log(P) - h * e, U, 0.3)[2])) / (2 * h) for e in np.eye(N)]
    np.testing.assert_allclose(np.asarray(gq), ref, rtol=1e-6, atol=1e-9)
    # d KL / d n for a continuous U: 1/n − 1/n²
    M = 2000
    f = jax.jit(jax.grad(lambda n: sj.best_of_n(sj.DiscreteWorld(jnp.zeros(M)), sj.TabularUtility(jnp.arange(M, dtype=float)), n).kl))
    np.testing.assert_allclose(float(f(4.0)), 1 / 4 - 1 / 16, rtol=1e-2)
    # particle world: same law as the equivalent discrete world
    xs = U[:, None]
    r = sj.best_of_n(sj.ParticleWorld(xs, np.log(P)), sj.LinearUtility(np.ones(1)), 2)
    np.testing.assert_allclose(np.asarray(r.world.weights), brute_best_of_n(P, U, 2), rtol=1e-12)


def test_errors():
    w, u = sj.DiscreteWorld(np.log(P)), sj.TabularUtility(U)
    with pytest.raises(ValueError, match="`n`"):
        sj.best_of_n(w, u, 0.5)
    with pytest.raises(ValueError, match="`q`"):
        sj.quantilizer(w, u, 0.0)
    with pytest.raises(ValueError, match="`q`"):
        sj.quantilizer(w, u, 1.5)
    with pytest.raises(TypeError, match="DiscreteWorld or ParticleWorld"):
        sj.best_of_n(sj.GaussianWorld.isotropic(2), sj.LinearUtility(np.ones(2)), 2)
    with pytest.raises(ValueError, match="per state|shape"):
        sj.quantilizer(w, sj.TabularUtility(np.ones(3)), 0.5)
    with pytest.raises(RUNTIME, match="`n`"):
        jax.block_until_ready(bon(np.log(P), U, 0.0))
