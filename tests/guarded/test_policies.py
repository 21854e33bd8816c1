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
    best_policy,
    check_forced_update,
    check_supporting_hyperplane,
    grad_f,
    sample_simplex,
)
from sumjax.guarded import f as guarded_f
from sumjax.guarded import g as guarded_g

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


def _tied_family():
    """Integer values and a dyadic w, so the scores below are exact: rows 1, 3, 4 tie at w."""
    w = np.array([0.5, 0.25, 0.125, 0.125])
    top = np.array([2.0, -1.0, 3.0, 0.0])
    V = np.array([
        top - [3, 0, 0, 0],  # below the max by 1.5
        top,
        top - [1, 1, 1, 1],  # below by 1
        top + [1, -2, 0, 0],  # (1, −2, 0, 0)·w = 0: tied
        top + [0, 0, 1, -1],  # (0, 0, 1, −1)·w = 0: tied
        top - [0, 4, 0, 0],  # below by 1
    ])
    scores = V @ w
    assert np.sum(scores == scores.max()) == 3 and np.array_equal(np.flatnonzero(scores == scores.max()), [1, 3, 4])
    return V, w


@jax.jit
def _at_tie(V, w, W):
    fam = FinitePolicies(V)
    fw, gw = jax.value_and_grad(fam.f)(w)
    return fw, gw, fam.value(w), fam.best_policy(w), jax.grad(lambda V_: FinitePolicies(V_).f(w))(V), jax.vmap(fam.f)(W)


def test_finite_gradient_at_a_tie_is_the_tie_average_and_a_valid_subgradient():
    V, w = _tied_family()
    W = np.random.default_rng(0).dirichlet(np.ones(4), size=512)
    W = np.concatenate([W, np.eye(4), 0.5 * (w + W[:64])])  # vertices and points near the tie too
    fw, gw, val, idx, gV, fW = map(np.asarray, _at_tie(jnp.asarray(V), jnp.asarray(w), jnp.asarray(W)))
    tied = [1, 3, 4]
    assert fw == (V @ w).max()
    np.testing.assert_allclose(gw, V[tied].mean(0), rtol=1e-15, atol=0)  # mean of the tied rows
    np.testing.assert_allclose(val, gw, rtol=1e-15, atol=0)  # V(π_w) = ∇f(w), also at the tie
    assert idx == 1  # best_policy: first maximiser, as np.argmax
    # the subgradient inequality f(w') ≥ f(w) + ∇f(w)·(w' − w), with f(w') a brute-force numpy max
    f_np = (W @ V.T).max(1)
    assert np.all(f_np >= fw + (W - w) @ gw - 1e-14)
    np.testing.assert_allclose(fW, f_np, rtol=1e-15, atol=1e-15)
    # ∂f/∂V: w spread evenly over the tied rows (∂(V_i·w)/∂V_i = w), zero on the others
    expected = np.zeros_like(V)
    expected[tied] = w / 3
    np.testing.assert_allclose(gV, expected, rtol=1e-15, atol=0)
    # the inequality can fail: a non-maximising row, or the mean of all rows, is no subgradient at w
    # (V[2] would be: it is V[1] − 1, the same on the tangent space Σ = 0)
    for wrong in (V[0], V[5], V.mean(0)):
        assert np.any(f_np < fw + (W - w) @ wrong - 1e-3)


def test_finite_ties_in_the_convexity_checks_and_learning_functions():
    V, w = _tied_family()
    W = np.random.default_rng(1).dirichlet(np.ones(4), size=64)
    pts = (np.repeat(w[None], 64, 0), W)
    rep = check_supporting_hyperplane(FinitePolicies(V), points=pts)
    assert not bool(rep.violated) and float(rep.worst) <= 1e-14
    rep = check_forced_update(FinitePolicies(V), points=(W, pts[0]))  # forcing onto the tie: g_w(U) ≤ f(U)
    assert not bool(rep.violated)
    np.testing.assert_array_equal(np.asarray(best_policy(pts[0], V)), np.ones(64, int))
    np.testing.assert_allclose(np.asarray(grad_f(pts[0], V)), np.repeat(V[[1, 3, 4]].mean(0)[None], 64, 0), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(guarded_f(W, V)), (W @ V.T).max(1), rtol=1e-15, atol=1e-15)
    # g_w(u) = u·V(π_w) with the tie average: affine in u and touching f at u = w
    gv = np.asarray(guarded_g(w, W, V))
    np.testing.assert_allclose(gv, W @ V[[1, 3, 4]].mean(0), rtol=1e-14, atol=1e-15)
    assert float(guarded_g(w, w, V)) == pytest.approx((V @ w).max(), rel=1e-15)  # the mean's division rounds


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
    x = jnp.asarray(w[:3])
    E = h * jnp.eye(N1)
    pts = jnp.concatenate([x[:, None, :] + E, x[:, None, :] - E], axis=1).reshape(-1, N1)
    vals, grads = jax.jit(lambda p, y: (jax.vmap(fam.f)(p), jax.vmap(jax.grad(fam.f))(y)))(pts, x)
    vals = np.asarray(vals).reshape(3, 2, N1)
    fd = (vals[:, 0] - vals[:, 1]) / (2 * h)
    np.testing.assert_allclose(np.asarray(grads), fd, atol=1e-7)


@jax.jit
def _tau_probe(V, x, t):
    fam = lambda tau: SoftPolicies(V, tau)  # noqa: E731
    return (
        fam(0.0).f(x),
        fam(t).f(x),
        jax.grad(lambda tau: fam(tau).f(x))(0.7),
        jax.grad(lambda tau, y: fam(tau).f(y), argnums=(0, 1))(0.0, x),
        jax.grad(lambda tau, y: fam(tau).f(y), argnums=(0, 1))(t, x),
        fam(1e6).f(x),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_soft_temperature_limits_and_edges(dtype):
    V, w = _data(5)
    V, x = V.astype(dtype), w[0].astype(dtype)
    tiny = 1e-300 if dtype == np.float64 else 1e-30
    f0, ftiny, dfdt, g0, gtiny, fhuge = _tau_probe(V, x, dtype(tiny))
    s = V.astype(np.float64) @ x.astype(np.float64)
    hard = float(np.max(s))
    tol = 1e-15 if dtype == np.float64 else 1e-6
    assert float(f0) == pytest.approx(hard, abs=tol)  # tau = 0 is exactly the max
    assert float(ftiny) == pytest.approx(hard, abs=tol)
    # df/dtau = H(softmax) (entropy), independent closed form
    p = softmax(s / 0.7)
    assert float(dfdt) == pytest.approx(-np.sum(p * np.log(p)), rel=10 * tol)
    # values and gradients finite at tau = 0 and at a denormal-small tau; huge tau: max + τ log m ≈ mean + τ log m
    for gr in (*g0, *gtiny):
        assert np.all(np.isfinite(np.asarray(gr)))
    np.testing.assert_allclose(np.asarray(g0[1]), V[np.argmax(s)], atol=tol)
    assert float(fhuge) == pytest.approx(1e6 * np.log(M) + s.mean(), rel=1e-11 if dtype == np.float64 else 1e-6)


def test_finite_f_equals_the_linear_programme_over_mixed_policies():
    # max over mixtures λ ∈ Δ^{m−1} of w·(λᵀV) (scipy linprog) = max over pure policies.
    from scipy.optimize import linprog

    V, w = _data(12)
    fv = np.asarray(jax.jit(jax.vmap(FinitePolicies(V).f))(jnp.asarray(w)))
    for x, fx in zip(w, fv):
        res = linprog(-(V @ x), A_eq=np.ones((1, M)), b_eq=[1.0], bounds=[(0, None)] * M, method="highs")
        assert res.status == 0 and fx == pytest.approx(-res.fun, abs=1e-9)


def test_soft_g_is_affine_supporting_and_touches_at_v():
    V, w = _data(9)
    fam = SoftPolicies(V, 0.5)
    W = jnp.asarray(w)
    G, F = jax.jit(lambda x: (jax.vmap(lambda v: jax.vmap(lambda y: fam.g(v, y))(x))(x), jax.vmap(fam.f)(x)))(W)
    G, F = np.asarray(G), np.asarray(F)  # G[i, j] = g_{w_i}(w_j)
    np.testing.assert_allclose(np.diag(G), F, rtol=1e-13)  # touches f at v
    assert np.all(G <= F[None, :] + 1e-13)  # supporting: below f everywhere
    # affine in w: g_v is exactly c_v + w·b_v; fit on the first n+1 points predicts the rest
    A = np.concatenate([w, np.ones((len(w), 1))], 1)
    coef, *_ = np.linalg.lstsq(A, G[0], rcond=None)
    np.testing.assert_allclose(A @ coef, G[0], atol=1e-12)


def test_soft_float32_stays_accurate():
    V, w = _data(11)
    fam = SoftPolicies(jnp.asarray(V, jnp.float32), jnp.float32(0.05))
    out = jax.jit(jax.vmap(fam.f))(jnp.asarray(w, jnp.float32))
    assert out.dtype == jnp.float32
    ref = 0.05 * logsumexp((w @ V.T) / 0.05, axis=1)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=2e-6, atol=2e-6)


@jax.jit
def _wd_probe(V, C, W):
    hard, soft, zero = WeightDependentPolicies(V, C), WeightDependentPolicies(V, C, 0.2), WeightDependentPolicies(V, 0 * C, 0.2)
    return (
        jax.vmap(hard.f)(W),
        jax.vmap(hard.value)(W),
        jax.vmap(lambda y: hard.g(W[0], y))(W),
        jax.vmap(soft.f)(W),
        jax.vmap(zero.f)(W) - jax.vmap(SoftPolicies(V, 0.2).f)(W),
    )


def test_weight_dependent_family_matches_numpy():
    rng = np.random.default_rng(0)
    V, C = rng.normal(size=(M, N1)), rng.normal(size=(M, N1, N1))
    w = rng.dirichlet(np.ones(N1), size=5)
    fh, val, gv, fs, zero_diff = map(np.asarray, _wd_probe(V, C, w))
    pv = np.argmax((V + np.einsum("mjl,l->mj", C, w[0])) @ w[0])  # π_{w_0}
    for i, x in enumerate(w):
        table = V + np.einsum("mjl,l->mj", C, x)  # V(π; x)
        scores = table @ x
        assert fh[i] == pytest.approx(scores.max(), rel=1e-13)
        np.testing.assert_allclose(val[i], table[scores.argmax()], rtol=1e-13)
        assert gv[i] == pytest.approx(x @ table[pv], rel=1e-12)  # g_{w0}(x) = x·V(π_{w0}; x)
        assert fs[i] == pytest.approx(0.2 * logsumexp(scores / 0.2), rel=1e-12)
    np.testing.assert_allclose(zero_diff, 0.0, atol=1e-14)  # zero coupling is the soft family


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
    fv = np.asarray(guarded_f(w, fam))  # the public f: all 64 weights solved in one vmapped call
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

    @eqx.filter_jit
    def probe(fm):
        # gradient reaches the MLP's parameters (envelope: θ_w held fixed)
        return fm.f(w), fm.best_policy(w), eqx.filter_grad(lambda m: m.f(w))(fm)

    fv, theta, grads = probe(fam)
    assert float(fv) == pytest.approx(float(jnp.dot(w, mlp(theta))), rel=1e-12)
    assert float(fv) > float(jnp.dot(w, mlp(jnp.zeros(3))))  # the ascent raised w·V above the start
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads.value_map, eqx.is_array))
    assert leaves and all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    assert any(float(jnp.max(jnp.abs(x))) > 0 for x in leaves)
    # the final-layer bias gradient is exactly w (f = w·(W h + b)), an independent closed form
    np.testing.assert_allclose(np.asarray(grads.value_map.layers[-1].bias), np.asarray(w), rtol=1e-12)


def test_families_are_pytrees_under_jit_vmap_grad():
    V, w = _data(1)
    run = jax.jit(lambda fm, x: jax.vmap(fm.f)(x))
    s = w @ V.T
    refs = (s.max(1), 0.4 * logsumexp(s / 0.4, axis=1), 0.4 * logsumexp(s / 0.4, axis=1))
    for fam, ref in zip((FinitePolicies(V), SoftPolicies(V, 0.4), WeightDependentPolicies(V, np.zeros((M, N1, N1)), 0.4)), refs):
        np.testing.assert_allclose(np.asarray(run(fam, jnp.asarray(w))), ref, rtol=1e-13)
    # gradient of f with respect to the value matrix: ∂f/∂V = softmax ⊗ w
    gV = jax.jit(jax.grad(lambda V_: SoftPolicies(V_, 0.4).f(jnp.asarray(w[0]))))(jnp.asarray(V))
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
