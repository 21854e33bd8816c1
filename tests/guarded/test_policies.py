"""Policy families against independent numpy/scipy computations and closed forms."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp, softmax

from sumjax.guarded import (
    FinitePolicies,
    ParametricPolicies,
    SoftPolicies,
    WeightDependentPolicies,
    as_policy_family,
    sample_simplex,
)

M, N1 = 12, 4
seeds = st.integers(0, 2**31 - 1)


def _data(seed, m=M, n1=N1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n1)), rng.dirichlet(np.ones(n1), size=8)


# One compiled function per family kind, reused by every hypothesis example (fixed shapes).
_finite = jax.jit(jax.vmap(lambda w, V: (FinitePolicies(V).f(w), jax.grad(FinitePolicies(V).f)(w), FinitePolicies(V).value(w)), (0, None)))
_soft = jax.jit(
    jax.vmap(lambda w, V, t: (SoftPolicies(V, t).f(w), jax.grad(SoftPolicies(V, t).f)(w), SoftPolicies(V, t).value(w)), (0, None, None))
)


@given(seeds)
def test_finite_f_is_brute_force_max_and_gradient_is_danskin(seed):
    V, w = _data(seed)
    fv, gv, val = map(np.asarray, _finite(jnp.asarray(w), jnp.asarray(V)))
    scores = w @ V.T
    np.testing.assert_allclose(fv, scores.max(1), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(val, V[scores.argmax(1)], rtol=0, atol=0)
    np.testing.assert_allclose(gv, V[scores.argmax(1)], atol=1e-13)  # ∇f = V(π_w), argmax a.s. unique


@given(seeds, st.sampled_from([1e-3, 0.1, 1.0, 10.0]))
def test_soft_f_is_tau_logsumexp_and_gradient_is_softmax_weighted_value(seed, tau):
    V, w = _data(seed)
    fv, gv, val = map(np.asarray, _soft(jnp.asarray(w), jnp.asarray(V), tau))
    s = w @ V.T
    np.testing.assert_allclose(fv, tau * logsumexp(s / tau, axis=1), rtol=1e-12, atol=1e-12)
    vbar = softmax(s / tau, axis=1) @ V
    np.testing.assert_allclose(gv, vbar, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(val, vbar, rtol=1e-9, atol=1e-11)
    # max <= f_tau <= max + tau log m
    assert np.all(fv >= s.max(1) - 1e-12) and np.all(fv <= s.max(1) + tau * np.log(M) + 1e-12)


def test_soft_gradient_matches_finite_differences():
    V, w = _data(3)
    fam = SoftPolicies(V, 0.3)
    h = 1e-6
    for x in w[:3]:
        x = jnp.asarray(x)
        gr = np.asarray(jax.grad(fam.f)(x))
        for j in range(N1):
            e = jnp.zeros(N1).at[j].set(h)
            fd = (float(fam.f(x + e)) - float(fam.f(x - e))) / (2 * h)
            assert gr[j] == pytest.approx(fd, abs=1e-7)


def test_soft_temperature_limits_and_edge_tau_zero():
    V, w = _data(5)
    x = jnp.asarray(w[0])
    hard = float(np.max(V @ w[0]))
    assert float(SoftPolicies(V, 0.0).f(x)) == hard  # tau = 0 is exactly the max
    assert abs(float(SoftPolicies(V, 1e-6).f(x)) - hard) <= 1e-6 * np.log(M)
    # df/dtau = H(softmax) (entropy), independent closed form; finite (0) at tau = 0.
    s = V @ w[0]
    p = softmax(s / 0.7)
    dfdt = float(jax.grad(lambda t: SoftPolicies(V, t).f(x))(0.7))
    assert dfdt == pytest.approx(-np.sum(p * np.log(p)), rel=1e-10)
    g0 = jax.grad(lambda t, y: SoftPolicies(V, t).f(y), argnums=(0, 1))(0.0, x)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in g0)
    np.testing.assert_allclose(np.asarray(g0[1]), V[np.argmax(s)])


def test_soft_g_is_affine_supporting_and_touches_at_v():
    V, w = _data(9)
    fam = SoftPolicies(V, 0.5)
    v, a, b = (jnp.asarray(x) for x in w[:3])
    assert float(fam.g(v, v)) == pytest.approx(float(fam.f(v)), rel=1e-13)
    lam = 0.3
    lhs = float(fam.g(v, lam * a + (1 - lam) * b))
    assert lhs == pytest.approx(lam * float(fam.g(v, a)) + (1 - lam) * float(fam.g(v, b)), rel=1e-13)
    for x in w:
        assert float(fam.g(v, jnp.asarray(x))) <= float(fam.f(jnp.asarray(x))) + 1e-13


def test_soft_float32_stays_accurate():
    V, w = _data(11)
    fam = SoftPolicies(jnp.asarray(V, jnp.float32), jnp.float32(0.05))
    out = jax.vmap(fam.f)(jnp.asarray(w, jnp.float32))
    assert out.dtype == jnp.float32
    ref = 0.05 * logsumexp((w @ V.T) / 0.05, axis=1)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=2e-6, atol=2e-6)


def test_weight_dependent_family_matches_numpy():
    rng = np.random.default_rng(0)
    V, C = rng.normal(size=(M, N1)), rng.normal(size=(M, N1, N1))
    w = rng.dirichlet(np.ones(N1), size=5)
    fam = WeightDependentPolicies(V, C)
    for x in w:
        table = V + np.einsum("mjl,l->mj", C, x)
        scores = table @ x
        assert float(fam.f(jnp.asarray(x))) == pytest.approx(scores.max(), rel=1e-13)
        np.testing.assert_allclose(np.asarray(fam.value(jnp.asarray(x))), table[scores.argmax()], rtol=1e-13)
        v = w[0]
        pv = np.argmax((V + np.einsum("mjl,l->mj", C, v)) @ v)
        assert float(fam.g(jnp.asarray(v), jnp.asarray(x))) == pytest.approx(x @ table[pv], rel=1e-12)
    soft = WeightDependentPolicies(V, C, 0.2)
    scores = (V + np.einsum("mjl,l->mj", C, w[1])) @ w[1]
    assert float(soft.f(jnp.asarray(w[1]))) == pytest.approx(0.2 * logsumexp(scores / 0.2), rel=1e-12)
    # zero coupling is the soft family
    z = WeightDependentPolicies(V, np.zeros((M, N1, N1)), 0.2)
    assert float(z.f(jnp.asarray(w[2]))) == pytest.approx(float(SoftPolicies(V, 0.2).f(jnp.asarray(w[2]))), rel=1e-13)


def _quadratic_value_map(theta):
    # V(θ) = θ − ½|θ|²·1, so w·V(θ) = w·θ − ½|θ|² on the simplex: argmax θ = w, f(w) = ½|w|².
    return theta - 0.5 * jnp.sum(theta**2)


@pytest.mark.parametrize("steps", [0, 3, 400])
def test_parametric_ascent_matches_closed_form_iterates(steps):
    # SGD with rate η on −(w·θ − ½|θ|²): θ_K = w + (1 − η)^K (θ0 − w) exactly.
    eta, theta0 = 0.1, jnp.array([2.0, -1.0, 0.5, 0.0])
    fam = ParametricPolicies(_quadratic_value_map, theta0, optax.sgd(eta), steps)
    w = np.asarray(sample_simplex(jax.random.PRNGKey(0), N1, (64,)))
    theta = np.asarray(jax.jit(jax.vmap(fam.best_policy))(jnp.asarray(w)))
    expected = w + (1 - eta) ** steps * (np.asarray(theta0) - w)
    np.testing.assert_allclose(theta, expected, rtol=1e-10, atol=1e-12)
    fv = np.asarray(jax.vmap(fam.f)(jnp.asarray(w)))
    np.testing.assert_allclose(fv, np.sum(w * expected, 1) - 0.5 * np.sum(expected**2, 1), rtol=1e-10)
    # Danskin/envelope gradient: ∇f = V(θ_w)
    gr = np.asarray(jax.vmap(jax.grad(fam.f))(jnp.asarray(w)))
    np.testing.assert_allclose(gr, expected - 0.5 * np.sum(expected**2, 1, keepdims=True), rtol=1e-10, atol=1e-12)
    if steps == 400:
        np.testing.assert_allclose(fv, 0.5 * np.sum(w**2, 1), rtol=1e-12)


def test_parametric_family_with_an_eqx_mlp_value_map():
    mlp = eqx.nn.MLP(3, 3, width_size=8, depth=1, key=jax.random.PRNGKey(0))
    fam = ParametricPolicies(mlp, jnp.zeros(3), optax.adam(0.05), 30)
    assert fam.n_utilities == 3
    w = jnp.array([0.2, 0.5, 0.3])
    fv = eqx.filter_jit(lambda fm, x: fm.f(x))(fam, w)
    theta = fam.best_policy(w)
    assert float(fv) == pytest.approx(float(jnp.dot(w, mlp(theta))), rel=1e-12)
    # ascent raised w·V above the start
    assert float(fv) >= float(jnp.dot(w, mlp(jnp.zeros(3))))
    # gradient reaches the MLP's parameters (envelope: θ_w held fixed) and is finite
    grads = eqx.filter_grad(lambda fm: fm.f(w))(fam)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads.value_map, eqx.is_array))
    assert leaves and all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    assert any(float(jnp.max(jnp.abs(x))) > 0 for x in leaves)


def test_families_are_pytrees_under_jit_vmap_grad():
    V, w = _data(1)
    for fam in (FinitePolicies(V), SoftPolicies(V, 0.4), WeightDependentPolicies(V, np.zeros((M, N1, N1)), 0.4)):
        out = jax.jit(lambda fm, x: jax.vmap(fm.f)(x))(fam, jnp.asarray(w))
        np.testing.assert_allclose(np.asarray(out), np.asarray(jax.vmap(fam.f)(jnp.asarray(w))), rtol=1e-14)
    # gradient of f with respect to the value matrix: ∂f/∂V = softmax ⊗ w
    gV = jax.grad(lambda V_: SoftPolicies(V_, 0.4).f(jnp.asarray(w[0])))(jnp.asarray(V))
    np.testing.assert_allclose(np.asarray(gV), np.outer(softmax(V @ w[0] / 0.4), w[0]), rtol=1e-9, atol=1e-12)
    assert isinstance(as_policy_family(V), FinitePolicies)
    fam = SoftPolicies(V, 0.4)
    assert as_policy_family(fam) is fam


def test_bad_inputs_raise_clear_errors():
    V = np.ones((3, 2))
    with pytest.raises(ValueError, match="`values` must be finite"):
        FinitePolicies(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"`values` must have shape \(\*, \*\)"):
        FinitePolicies(np.ones(3))
    with pytest.raises(ValueError, match=r"`temperature` must lie in \[0, inf\)"):
        SoftPolicies(V, -0.1)
    with pytest.raises(Exception, match="`temperature` must lie in"):
        jax.jit(lambda t: SoftPolicies(V, t).f(jnp.array([0.5, 0.5])))(-1.0).block_until_ready()
    with pytest.raises(Exception, match="`values` must be finite"):
        jax.jit(lambda V_: FinitePolicies(V_).f(jnp.array([0.5, 0.5])))(jnp.array([[jnp.inf, 0.0]])).block_until_ready()
    with pytest.raises(ValueError, match="`coupling` must have shape"):
        WeightDependentPolicies(V, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="`steps`"):
        ParametricPolicies(_quadratic_value_map, jnp.zeros(2), optax.sgd(0.1), -1)
    with pytest.raises(ValueError, match="`value_map`"):
        ParametricPolicies(3.0, jnp.zeros(2))
    with pytest.raises(ValueError, match="`value_map` must return a vector"):
        ParametricPolicies(lambda th: jnp.sum(th), jnp.zeros(2))
