"""Convexity checks: they hold where the theorem says so, and FIND the break where it fails
(weight-dependent value maps, an optax ascent stopped early), verified independently."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp, softmax

from sumjax.guarded import (
    ConvexityReport,
    FinitePolicies,
    ParametricPolicies,
    SoftPolicies,
    WeightDependentPolicies,
    check_forced_update,
    check_hessian_psd,
    check_jensen,
    check_penalty_gradient,
    check_supporting_hyperplane,
    forced_update_slope,
    tangent_basis,
)

KEY = jax.random.PRNGKey(0)
M, N1 = 16, 5


@jax.jit
def _all_checks(V, tau, key):
    """Worst violation minus tolerance of every check, finite and soft family, one compile."""
    out = []
    for fam in (FinitePolicies(V), SoftPolicies(V, tau)):
        for chk in (check_supporting_hyperplane, check_jensen, check_forced_update):
            r = chk(fam, key, **({"n_chords": 64} if chk is check_jensen else {"n_pairs": 128}))
            out.append(r.worst - r.tol)
    for chk in (check_hessian_psd, check_penalty_gradient):
        r = chk(SoftPolicies(V, tau), key, **({"n_points": 32} if chk is check_hessian_psd else {"n_pairs": 64}))
        out.append(r.worst - r.tol)
    return jnp.stack(out)


@given(st.integers(0, 2**31 - 1), st.sampled_from([0.05, 0.5, 2.0]))
def test_finite_and_soft_families_pass_every_check(seed, tau):
    V = np.random.default_rng(seed).normal(size=(M, N1)) * 3
    margins = np.asarray(_all_checks(jnp.asarray(V), tau, jax.random.PRNGKey(seed % 1000)))
    assert np.all(margins <= 0), margins


def _np_soft(V, tau):
    """Independent numpy f_τ, its Hessian, and g_v(u) for the soft family."""

    def f(w):
        return tau * logsumexp(V @ w / tau)

    def hess(w):
        p = softmax(V @ w / tau)
        vbar = p @ V
        return (V.T * p) @ V / tau - np.outer(vbar, vbar) / tau  # Cov_p(V)/τ

    def g(v, u):
        p = softmax(V @ v / tau)
        return u @ (p @ V) + f(v) - v @ (p @ V)

    return f, hess, g


@pytest.mark.parametrize("n1", [2, 64])
def test_penalty_gradient_sign_and_formula_in_2_to_64_utilities(n1):
    rng = np.random.default_rng(n1)
    V, tau = rng.normal(size=(40, n1)), 0.4
    fam = SoftPolicies(V, tau)
    U = rng.dirichlet(np.ones(n1), size=6)
    Wp = rng.dirichlet(np.ones(n1), size=6)
    slopes = np.asarray(jax.jit(forced_update_slope)(U, Wp, fam))
    np_f, np_hess, np_g = _np_soft(V, tau)
    h = 1e-5
    for u, wp, s in zip(U, Wp, slopes):
        d = u - wp
        assert s == pytest.approx(-d @ np_hess(wp) @ d, rel=1e-8, abs=1e-12)  # −(U_t−w')ᵀ∇²f(w')(U_t−w')
        # central finite difference of s ↦ g_{w' + s(w' − U_t)}(U_t) in numpy (stays on the simplex)
        fd = (np_g(wp - h * d, u) - np_g(wp + h * d, u)) / (2 * h)
        assert s == pytest.approx(fd, rel=1e-5, abs=1e-9)
        assert s <= 0
        # maximal at w' = U_t: value there is f(U_t)
        assert np_g(wp, u) <= np_f(u) + 1e-12
    rep = check_penalty_gradient(fam, KEY, n_pairs=64)
    assert not bool(rep.violated) and rep.n_violations == 0 and rep.n_checked == 64


@pytest.mark.parametrize("n1", [3, 12])
def test_tangent_hessian_matches_closed_form_and_is_psd(n1):
    rng = np.random.default_rng(10 + n1)
    V, tau = rng.normal(size=(20, n1)), 0.3
    w = rng.dirichlet(np.ones(n1), size=4)
    rep = check_hessian_psd(SoftPolicies(V, tau), points=(w,))
    _, np_hess, _ = _np_soft(V, tau)
    B = np.asarray(tangent_basis(n1))
    lam = [np.linalg.eigvalsh(B.T @ np_hess(x) @ B)[0] for x in w]
    assert float(rep.worst) == pytest.approx(-min(lam), rel=1e-8, abs=1e-12)
    assert min(lam) > 0 and not bool(rep.violated)
    np.testing.assert_allclose(np.asarray(rep.where[0]), w[int(np.argmin(lam))])


# --- weight-dependent value maps: the checker finds the break, or reports none -------------------


def _np_wd_f(V, C, w, tau):
    scores = (V + np.einsum("mjl,l->mj", C, w)) @ w
    return tau * logsumexp(scores / tau) if tau > 0 else scores.max()


def _wd(sign, tau):
    rng = np.random.default_rng(3)
    V = rng.normal(size=(6, 3))
    A = rng.normal(size=(6, 3, 3))
    C = sign * (np.einsum("mij,mkj->mik", A, A) + 0.5 * np.eye(3))  # ±(positive definite)
    return V, C


@pytest.mark.parametrize("tau", [0.0, 0.2])
def test_checker_finds_non_convexity_of_a_concave_weight_dependent_map(tau):
    V, C = _wd(-1.0, tau)
    fam = WeightDependentPolicies(V, C, tau)
    rep = check_jensen(fam, KEY, n_chords=128)
    assert bool(rep.violated) and int(rep.n_violations) > 0
    w, wp, pt = (np.asarray(x) for x in rep.where)
    t = (pt - w) @ (wp - w) / ((wp - w) @ (wp - w))
    np.testing.assert_allclose(pt, (1 - t) * w + t * wp, atol=1e-12)
    # independent: numpy f on the segment lies ABOVE the chord at the reported point
    gap = _np_wd_f(V, C, pt, tau) - ((1 - t) * _np_wd_f(V, C, w, tau) + t * _np_wd_f(V, C, wp, tau))
    assert gap == pytest.approx(float(rep.worst), rel=1e-9) and gap > 1e-3
    hyp = check_supporting_hyperplane(fam, KEY, n_pairs=256)
    assert bool(hyp.violated)
    if tau > 0:
        hes = check_hessian_psd(fam, KEY, n_points=32)
        assert bool(hes.violated) and float(hes.worst) > 0.1
    # a forced update is still never worth more than f(U_t): f(w) = max_π holds pointwise
    assert not bool(check_forced_update(fam, KEY, n_pairs=256).violated)


@pytest.mark.parametrize("tau", [0.0, 0.2])
def test_checker_reports_none_for_a_convex_weight_dependent_map(tau):
    V, C = _wd(+1.0, tau)  # each w·V(π; w) convex on the simplex, so f is convex
    fam = WeightDependentPolicies(V, C, tau)
    for rep in (
        check_jensen(fam, KEY, n_chords=128),
        check_supporting_hyperplane(fam, KEY, n_pairs=256),
        *((check_hessian_psd(fam, KEY, n_points=32),) if tau > 0 else ()),
    ):
        assert not bool(rep.violated) and int(rep.n_violations) == 0, rep.summary()


# --- parametric family: an optax ascent stopped early -------------------------------------------


def _quadratic_value_map(theta):
    return theta - 0.5 * jnp.sum(theta**2)  # w·V(θ) = w·θ − ½|θ|², maximiser θ = w


def _np_quadratic(w, theta0, b):
    th = w + b * (theta0 - w)  # SGD iterate after K steps, b = (1 − η)^K
    v = th - 0.5 * th @ th
    return w @ v, v


@pytest.mark.parametrize("steps", [2, 300])
def test_checker_reports_early_stopping_and_none_with_enough_steps(steps):
    eta, theta0 = 0.1, np.array([3.0, -2.0, 0.0, 1.0])
    fam = ParametricPolicies(_quadratic_value_map, jnp.asarray(theta0), optax.sgd(eta), steps)
    rep = check_supporting_hyperplane(fam, KEY, n_pairs=512)
    forced = check_forced_update(fam, KEY, n_pairs=512)
    b = (1 - eta) ** steps
    w, wp = (np.asarray(x) for x in rep.where)
    fw, vw = _np_quadratic(w, theta0, b)
    fwp, _ = _np_quadratic(wp, theta0, b)
    # independent closed form of the reported violation: g_w(w') − f(w') = w'·V(θ_w) − f(w')
    assert float(rep.worst) == pytest.approx(fw + vw @ (wp - w) - fwp, rel=1e-9, abs=1e-12)
    if steps == 2:
        assert bool(rep.violated) and float(rep.worst) > 0.1 and int(rep.n_violations) > 10
        assert bool(forced.violated)
    else:
        assert not bool(rep.violated) and int(rep.n_violations) == 0
        assert not bool(forced.violated)


def test_checks_in_float32():
    rng = np.random.default_rng(32)
    V = rng.normal(size=(M, N1)).astype(np.float32)
    key = KEY
    for rep in (
        check_supporting_hyperplane(SoftPolicies(V, np.float32(0.3)), key, n_pairs=256),
        check_hessian_psd(SoftPolicies(V, np.float32(0.3)), key, n_points=16),
    ):
        assert rep.worst.dtype == jnp.float32 and rep.where.dtype == jnp.float32
        assert not bool(rep.violated) and int(rep.n_violations) == 0, rep.summary()
    Vw, C = _wd(-1.0, 0.0)
    rep = check_jensen(WeightDependentPolicies(Vw.astype(np.float32), C.astype(np.float32)), key, n_chords=128)
    assert rep.worst.dtype == jnp.float32 and bool(rep.violated) and float(rep.worst) > 1e-3


def test_chunked_evaluation_with_10k_policies_matches_numpy():
    # 10⁴ policies: the checks evaluate f in chunks (lax.map); the worst margin must be numpy's.
    rng = np.random.default_rng(4)
    V = rng.normal(size=(10_000, 4))
    w, wp = rng.dirichlet(np.ones(4), size=300), rng.dirichlet(np.ones(4), size=300)
    rep = check_supporting_hyperplane(V, points=(w, wp))
    star = V[np.argmax(w @ V.T, 1)]
    margin = np.sum(w * star, 1) + np.sum(star * (wp - w), 1) - np.max(wp @ V.T, 1)
    assert float(rep.worst) == pytest.approx(margin.max(), abs=1e-12)
    # For a convex f every margin is ≤ 0 up to rounding, so the worst is a rounding-level tie: `where`
    # must be one of the input pairs whose numpy margin is within rounding of the largest.
    i = int(np.argmin(np.abs(w - np.asarray(rep.where)[0]).sum(1)))
    np.testing.assert_array_equal(np.asarray(rep.where), np.stack([w[i], wp[i]]))
    assert margin[i] >= margin.max() - 1e-12
    assert not bool(rep.violated)


# --- the report under transformations, and bad input ---------------------------------------------


def test_reports_under_jit_vmap_grad():
    V = np.random.default_rng(0).normal(size=(M, N1))
    taus = jnp.array([0.1, 0.5, 1.0])
    worst = jax.jit(jax.vmap(lambda t: check_hessian_psd(SoftPolicies(V, t), KEY, n_points=8).worst))(taus)
    assert worst.shape == (3,) and np.all(np.asarray(worst) < 0)
    gr = jax.jit(jax.grad(lambda t: check_jensen(SoftPolicies(V, t), KEY, n_chords=8, n_t=3).worst))(0.5)
    assert np.isfinite(float(gr))
    rep = check_jensen(FinitePolicies(V), KEY, n_chords=8, n_t=3)
    assert isinstance(rep, ConvexityReport) and rep.n_checked == 24 and rep.where.shape == (3, N1)
    assert "holds" in rep.summary()
    assert "VIOLATED" in check_jensen(FinitePolicies(V), KEY, n_chords=8, tol=-1.0).summary()


def test_a_family_producing_nan_is_reported_not_passed():
    # V(θ) = θ/|θ| from θ0 = 0 is NaN everywhere: the check must flag it (worst = +inf).
    fam = ParametricPolicies(lambda th: th / jnp.linalg.norm(th), jnp.zeros(3), optax.sgd(0.1), 3)
    rep = check_supporting_hyperplane(fam, KEY, n_pairs=16)
    assert bool(rep.violated) and float(rep.worst) == np.inf


def test_bad_inputs_raise_clear_errors():
    V = np.ones((3, 4))
    with pytest.raises(ValueError, match="`key`"):
        check_jensen(V)
    with pytest.raises(ValueError, match="`n_pairs` must be an integer >= 1"):
        check_supporting_hyperplane(V, KEY, n_pairs=0)
    with pytest.raises(ValueError, match="`n_t`"):
        check_jensen(V, KEY, n_t=0)
    with pytest.raises(ValueError, match="`points` must hold arrays"):
        check_hessian_psd(V, points=(np.ones((2, 3)) / 3,))
    with pytest.raises(ValueError, match="`points` must be a tuple of 2"):
        check_forced_update(V, points=(np.ones((2, 4)) / 4,))
    with pytest.raises(ValueError, match="`points` must lie on the simplex"):
        check_supporting_hyperplane(V, points=(np.ones((2, 4)), np.ones((2, 4)) / 4))
    with pytest.raises(ValueError, match="`u_t` must lie on the simplex"):
        forced_update_slope(np.array([0.5, 0.6, 0.0, 0.0]), np.ones(4) / 4, V)
    with pytest.raises(ValueError, match="last axis of n \\+ 1 = 4"):
        forced_update_slope(np.ones(3) / 3, np.ones(3) / 3, V)


def test_two_matmul_hyperplane_on_exact_ties_matches_tie_averaged_subgradient():
    # w = (½, ½) ties the rows (1, 0) and (0, 1): the subgradient is their mean (½, ½), so the margin at
    # w' is ½w'₀ + ½w'₁ − max(w'₀, w'₁, 0.4) = ½ − max(...) (numpy, by hand); the worst is at w' = (½, ½).
    V = np.array([[1.0, 0.0], [0.0, 1.0], [0.4, 0.4]])
    w = np.tile([0.5, 0.5], (3, 1))
    wp = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    rep = check_supporting_hyperplane(V, points=(w, wp))
    margin = 0.5 - np.max(wp @ V.T, axis=1)
    assert float(rep.worst) == pytest.approx(margin.max(), abs=1e-15)
    np.testing.assert_array_equal(np.asarray(rep.where[1]), wp[1])
    assert int(rep.n_violations) == 0
