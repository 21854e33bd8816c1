"""f_t, g_v, the bias penalty and the value of an action: every fact of the guarded-learning text
(docs/model.md §4.4), each checked against an independent numpy computation or a number worked by hand."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import softmax

import sumjax
from sumjax.guarded import (
    SoftPolicies,
    WeightDependentPolicies,
    action_value,
    best_policy,
    expected_update,
    f,
    forced_update_value,
    g,
    grad_f,
    is_unbiased,
    penalty,
    policy_value,
)

seeds = st.integers(0, 2**31 - 1)
M, N1, K = 12, 4, 3

# --- independent numpy oracle (finite family) -------------------------------------------------


def np_f(w, V):
    return np.max(np.asarray(w) @ V.T, axis=-1)


def np_pi(w, V):
    return V[np.argmax(V @ np.asarray(w))]


def np_penalty(u, O, p, V):
    eu = p @ O
    return sum(pi * (u @ np_pi(o, V) - eu @ np_pi(o, V)) for o, pi in zip(O, p))


def np_action_value(u, O, p, V):
    return sum(pi * np_f(o, V) for o, pi in zip(O, p)) + np_penalty(u, O, p, V)


def _action(seed, m=M, n1=N1, k=K):
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(m, n1))
    O = rng.dirichlet(np.ones(n1) * 0.5, size=k)
    p = rng.dirichlet(np.ones(k))
    u = rng.dirichlet(np.ones(n1))
    return V, O, p, u


_pen_av = jax.jit(lambda u, O, p, V: (penalty(u, O, p, V), action_value(u, O, p, V)))

# --- the text's two-utility example, with numbers worked by hand --------------------------------
# Policies A, B, C with value vectors (E v0, E v1); on w = (1 − x, x): A = 1 − .1x, B = x, C = 1.2 − .4x.
TEXT_V = np.array([[1.0, 0.9], [0.0, 1.0], [1.2, 0.8]])
U_T = np.array([0.5, 0.5])  # ½v₀ + ½v₁ : C wins, f = 1.0
W_PRIME = np.array([0.25, 0.75])  # ¼v₀ + ¾v₁ : A wins, f = .925
V0, V1 = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def test_text_example_penalty_is_positive_for_the_forced_quarter_update():
    assert float(f(U_T, TEXT_V)) == pytest.approx(1.0, abs=1e-15)
    assert float(f(W_PRIME, TEXT_V)) == pytest.approx(0.925, abs=1e-15)  # the red point
    one = np.array([1.0])
    pen = float(penalty(U_T, W_PRIME[None], one, TEXT_V))
    assert pen == pytest.approx(0.025, abs=1e-15)  # V_A·(U_t − w') = (1, .9)·(¼, −¼) > 0
    av = float(action_value(U_T, W_PRIME[None], one, TEXT_V))
    assert av == pytest.approx(0.95, abs=1e-15)  # the orange point, above the red one
    assert float(forced_update_value(U_T, W_PRIME, TEXT_V)) == pytest.approx(0.95, abs=1e-15)
    assert av < float(f(U_T, TEXT_V))  # ...but still below keeping U_t (the blue point)
    assert not bool(is_unbiased(U_T, W_PRIME[None], one))


def test_text_example_subagent_loophole_scores_as_information():
    O, p = np.stack([V0, V1]), np.array([0.5, 0.5])
    assert bool(is_unbiased(U_T, O, p))
    assert float(penalty(U_T, O, p, TEXT_V)) == 0.0
    loophole = float(action_value(U_T, O, p, TEXT_V))
    # Being told "v0 or v1" with probability ½ each (genuine information) is the same lottery of
    # U_{t+1}; both are worth ½f(v0) + ½f(v1) = ½·1.2 + ½·1 = 1.1 > f(U_t) = 1.
    informative = 0.5 * 1.2 + 0.5 * 1.0
    assert loophole == pytest.approx(informative, abs=1e-15)
    assert loophole > float(f(U_T, TEXT_V))
    # forcing v0 alone is not rewarded: g_{v0}(U_t) = U_t·V_C = 1.0 ≤ f(U_t)
    assert float(forced_update_value(U_T, V0, TEXT_V)) == pytest.approx(1.0, abs=1e-15)


def test_text_example_slightly_biased_informative_update_is_still_worth_it():
    # (v0, .51), (v1, .49): EU = (.51, .49); penalty = (.51·V_C + .49·V_B)·(U_t − EU)
    #  = (.612, .898)·(−.01, .01) = .00286; value = .51·1.2 + .49·1 + .00286 = 1.10486.
    O, p = np.stack([V0, V1]), np.array([0.51, 0.49])
    assert float(penalty(U_T, O, p, TEXT_V)) == pytest.approx(0.00286, abs=1e-14)
    assert float(action_value(U_T, O, p, TEXT_V)) == pytest.approx(1.10486, abs=1e-14)


def test_f_lies_above_every_line_g_v_and_below_every_chord_on_the_segment():
    x = np.linspace(0, 1, 201)
    w = np.stack([1 - x, x], -1)
    fw = np.asarray(f(w, TEXT_V))
    np.testing.assert_allclose(fw, np_f(w, TEXT_V), rtol=0, atol=1e-15)
    lines = np.asarray(jax.vmap(lambda v: g(v, w, TEXT_V))(jnp.asarray(w)))  # lines[i, j] = g_{w_i}(w_j)
    assert np.all(lines <= fw[None, :] + 1e-15)
    np.testing.assert_allclose(np.diag(lines), fw, atol=1e-15)  # touching at v
    # chord between f(v0) and f(v1), and between every pair of grid points
    assert np.all(fw <= (1 - x) * fw[0] + x * fw[-1] + 1e-15)
    i, j = np.triu_indices(201, 1)
    for t in (0.25, 0.5, 0.8):
        mid = np.asarray(f((1 - t) * w[i] + t * w[j], TEXT_V))
        assert np.all(mid <= (1 - t) * fw[i] + t * fw[j] + 1e-14)


@given(seeds)
def test_penalty_and_action_value_match_numpy(seed):
    V, O, p, u = _action(seed)
    pen, av = map(float, _pen_av(u, O, p, V))
    assert pen == pytest.approx(np_penalty(u, O, p, V), abs=1e-13)
    assert av == pytest.approx(np_action_value(u, O, p, V), abs=1e-13)
    # the product form of the penalty, computed independently
    vbar = sum(pi * np_pi(o, V) for o, pi in zip(O, p))
    assert pen == pytest.approx(vbar @ (u - p @ O), abs=1e-13)


@given(seeds)
def test_unbiased_action_has_zero_penalty_and_informative_value_at_least_f(seed):
    V, O, p, _ = _action(seed)
    u = p @ O  # unbiased by construction
    assert bool(is_unbiased(u, O, p))
    pen, av = map(float, _pen_av(u, O, p, V))
    assert abs(pen) <= 1e-13
    assert av == pytest.approx(sum(pi * np_f(o, V) for o, pi in zip(O, p)), abs=1e-13)
    assert av >= np_f(u, V) - 1e-13  # Jensen on the convex f


_forced = jax.jit(lambda u, w, V: (forced_update_value(u, w, V), f(u, V), f(w, V), penalty(u, w[None], jnp.ones(1), V)))


@given(seeds)
def test_forced_update_is_worth_g_and_never_more_than_f(seed):
    V, O, _, u = _action(seed)
    wp = O[0]
    forced, fu, fw, pen = map(float, _forced(u, wp, V))
    assert forced == pytest.approx(u @ np_pi(wp, V), abs=1e-13)  # g_{w'}(U_t)
    assert forced == pytest.approx(fw + pen, abs=1e-13)  # f(w') + penalty
    assert forced <= fu + 1e-13


@pytest.mark.parametrize("n1", [2, 64])
def test_penalty_matches_numpy_in_2_and_64_utilities(n1):
    V, O, p, u = _action(n1, m=50, n1=n1, k=5)
    assert float(penalty(u, O, p, V)) == pytest.approx(np_penalty(u, O, p, V), abs=1e-12)
    assert float(action_value(u, O, p, V)) == pytest.approx(np_action_value(u, O, p, V), abs=1e-12)


def test_soft_family_penalty_uses_softmax_weighted_values():
    V, O, p, u = _action(4)
    tau = 0.3
    fam = SoftPolicies(V, tau)
    vbar = sum(pi * softmax(V @ o / tau) @ V for o, pi in zip(O, p))
    assert float(penalty(u, O, p, fam)) == pytest.approx(vbar @ (u - p @ O), abs=1e-13)
    fsoft = [tau * np.log(np.sum(np.exp(V @ o / tau))) for o in O]
    assert float(action_value(u, O, p, fam)) == pytest.approx(p @ fsoft + vbar @ (u - p @ O), abs=1e-12)


def test_weight_dependent_penalty_is_the_defining_sum():
    rng = np.random.default_rng(8)
    V, C = rng.normal(size=(M, N1)), rng.normal(size=(M, N1, N1))
    _, O, p, u = _action(8)
    eu = p @ O

    def np_g(v, w):  # g_v(w) = w·V(π_v; w)
        table_v = V + np.einsum("mjl,l->mj", C, v)
        pv = np.argmax(table_v @ v)
        return w @ (V[pv] + C[pv] @ w)

    ref = sum(pi * (np_g(o, u) - np_g(o, eu)) for o, pi in zip(O, p))
    fam = WeightDependentPolicies(V, C)
    assert float(penalty(u, O, p, fam)) == pytest.approx(ref, abs=1e-12)
    assert float(g(O[0], u, fam)) == pytest.approx(np_g(O[0], u), abs=1e-12)


def test_grad_f_is_danskin_and_best_policy_is_the_argmax():
    V, O, _, _ = _action(2)
    star = V[np.argmax(O @ V.T, 1)]
    np.testing.assert_allclose(np.asarray(grad_f(O, V)), star, atol=1e-14)
    np.testing.assert_allclose(np.asarray(policy_value(O, V)), star, atol=0)
    np.testing.assert_array_equal(np.asarray(best_policy(O, V)), np.argmax(O @ V.T, 1))
    q = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(np.asarray(expected_update(O, q)), q @ O)
    # the same under jit and vmap, and grad of f through the public function
    jitted = jax.jit(lambda o: (grad_f(o, V), policy_value(o, V), best_policy(o, V), expected_update(o, q)))(O)
    np.testing.assert_allclose(np.asarray(jitted[0]), star, atol=1e-14)
    np.testing.assert_allclose(np.asarray(jitted[1]), star, atol=0)
    np.testing.assert_array_equal(np.asarray(jitted[2]), np.argmax(O @ V.T, 1))
    np.testing.assert_allclose(np.asarray(jitted[3]), q @ O, atol=1e-15)
    vm = jax.vmap(lambda o: (jax.grad(f)(o, V), g(o, O[0], V)))(jnp.asarray(O))
    np.testing.assert_allclose(np.asarray(vm[0]), star, atol=1e-14)
    np.testing.assert_allclose(np.asarray(vm[1]), star @ O[0], atol=1e-14)


def test_gradients_of_penalty_and_action_value():
    V, O, p, u = _action(6)
    vbar = sum(pi * np_pi(o, V) for o, pi in zip(O, p))
    # penalty is linear in U_t with slope Σ p_i V(π_{U^i})
    np.testing.assert_allclose(np.asarray(jax.grad(penalty)(jnp.asarray(u), O, p, V)), vbar, atol=1e-13)
    # d action_value / dp along a tangent direction of the probability simplex vs finite differences
    d = np.array([1.0, -1.0, 0.0])
    ad = float(jnp.dot(jax.grad(action_value, argnums=2)(u, O, jnp.asarray(p), V), d))
    h = 1e-6
    fd = (np_action_value(u, O, p + h * d, V) - np_action_value(u, O, p - h * d, V)) / (2 * h)
    assert ad == pytest.approx(fd, abs=1e-7)


def test_jit_vmap_and_batching():
    V, O, p, u = _action(7)
    W = np.random.default_rng(0).dirichlet(np.ones(N1), size=(2, 3))
    assert f(W, V).shape == (2, 3)
    np.testing.assert_allclose(np.asarray(f(W, V)), np_f(W, V), atol=1e-14)
    np.testing.assert_allclose(np.asarray(jax.jit(f)(W, V)), np_f(W, V), atol=1e-14)
    # batched actions: leading axes of u_t / outcomes / probs broadcast
    U = np.stack([u, p @ O])
    pens = np.asarray(penalty(U, O, p, V))
    np.testing.assert_allclose(pens, [np_penalty(x, O, p, V) for x in U], atol=1e-13)
    vm = np.asarray(jax.vmap(lambda x: action_value(x, O, p, V))(jnp.asarray(U)))
    np.testing.assert_allclose(vm, [np_action_value(x, O, p, V) for x in U], atol=1e-13)
    np.testing.assert_allclose(
        np.asarray(jax.jit(forced_update_value)(u, O, V)), [u @ np_pi(o, V) for o in O], atol=1e-13
    )
    assert np.asarray(jax.jit(jax.vmap(is_unbiased, (0, None, None)))(U, O, p)).tolist() == [False, True]
    # vmap over a stack of value matrices (and over temperatures of the soft family)
    Vs = np.stack([V, -V, 2 * V])
    np.testing.assert_allclose(np.asarray(jax.vmap(lambda A: f(u, A))(Vs)), [np_f(u, A) for A in Vs], atol=1e-14)
    ft = jax.vmap(lambda t: f(u, SoftPolicies(V, t)))(jnp.array([0.0, 0.5]))
    assert float(ft[0]) == pytest.approx(np_f(u, V), abs=1e-14) and float(ft[1]) > float(ft[0])
    # the soft family passes through jit as a pytree argument
    out = jax.jit(penalty)(u, O, p, SoftPolicies(V, 0.2))
    assert out.shape == () and np.isfinite(float(out))
    # the top-level names exist where users' scripts look for them
    assert sumjax.guarded.f is f and sumjax.guarded.penalty is penalty and sumjax.guarded.action_value is action_value


def test_float32_inputs_stay_float32_and_accurate():
    V, O, p, u = _action(3)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    pen = penalty(f32(u), f32(O), f32(p), f32(V))
    av = action_value(f32(u), f32(O), f32(p), f32(V))
    assert pen.dtype == jnp.float32 and av.dtype == jnp.float32
    assert float(pen) == pytest.approx(np_penalty(u, O, p, V), abs=2e-6)
    assert float(av) == pytest.approx(np_action_value(u, O, p, V), abs=2e-6)
    assert bool(is_unbiased(f32(p @ O), f32(O), f32(p)))


def test_grad_f_of_the_soft_family_matches_finite_differences_in_64_utilities():
    rng = np.random.default_rng(64)
    V, tau = rng.normal(size=(200, 64)), 0.25
    w = rng.dirichlet(np.ones(64))
    fam = SoftPolicies(V, tau)
    gr = np.asarray(grad_f(w, fam))
    np.testing.assert_allclose(gr, softmax(V @ w / tau) @ V, rtol=1e-10, atol=1e-12)  # Danskin, soft
    # directional finite differences along tangent directions (so w ± h·d stays on the simplex)
    h, fnp = 1e-6, lambda x: tau * np.log(np.sum(np.exp((V @ x - (V @ x).max()) / tau))) + (V @ x).max()  # noqa: E731
    for j in range(3):
        d = np.zeros(64)
        d[j], d[j + 1] = 1.0, -1.0
        assert gr @ d == pytest.approx((fnp(w + h * d) - fnp(w - h * d)) / (2 * h), abs=1e-7)


def test_scale_1e5_points_1e4_policies_float32():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(10_000, 4)).astype(np.float32)
    W = rng.dirichlet(np.ones(4), size=100_000).astype(np.float32)
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(W, V))
    elapsed = time.perf_counter() - t0
    assert out.shape == (100_000,) and out.dtype == jnp.float32
    idx = rng.choice(100_000, 2000, replace=False)
    ref = np_f(W[idx].astype(np.float64), V.astype(np.float64))
    np.testing.assert_allclose(np.asarray(out)[idx], ref, rtol=0, atol=5e-6 * np.abs(ref).max())
    print(f"f on 1e5 points x 1e4 policies x 4 utilities (float32, CPU): {elapsed:.2f} s")


def test_bad_inputs_raise_clear_errors():
    V, O, p, u = _action(1)
    with pytest.raises(ValueError, match="`w` must lie on the simplex"):
        f(np.array([0.5, 0.6, 0.0, 0.0]), V)
    with pytest.raises(Exception, match="`w` must lie on the simplex"):
        jax.jit(f)(np.array([0.5, 0.6, 0.0, 0.0]), V).block_until_ready()
    with pytest.raises(ValueError, match="`w` must have a last axis of n \\+ 1 = 4"):
        f(np.array([0.5, 0.5]), V)
    with pytest.raises(ValueError, match="`values` must be finite"):
        f(u, np.where(np.eye(M, N1) > 0, np.nan, V))
    with pytest.raises(ValueError, match="`probs` must lie on the simplex"):
        penalty(u, O, np.array([0.5, 0.3, 0.1]), V)
    with pytest.raises(Exception, match="`probs` must lie on the simplex"):
        jax.jit(action_value)(u, O, np.array([0.5, 0.3, 0.1]), V).block_until_ready()
    with pytest.raises(ValueError, match="`probs` must have shape"):
        penalty(u, O, np.array([0.5, 0.5]), V)
    with pytest.raises(ValueError, match="`outcomes` must lie on the simplex"):
        action_value(u, O * 2, p, V)
    with pytest.raises(ValueError, match="`outcomes` must have shape"):
        penalty(u, O[0], np.array([1.0]), V)
    with pytest.raises(ValueError, match="`u_t` must lie on the simplex"):
        penalty(u + 0.1, O, p, V)
    with pytest.raises(ValueError, match="`outcomes` must have a last axis"):
        penalty(u, O[:, :3] / O[:, :3].sum(1, keepdims=True), p, V)
    with pytest.raises(ValueError, match="`w_prime`"):
        forced_update_value(u, np.array([1.0, 0.0]), V)
    with pytest.raises(ValueError, match="`probs`"):
        expected_update(O, np.array([1.0]))
    with pytest.raises(ValueError, match="`u_t` must lie on the simplex"):
        is_unbiased(np.array([np.nan, 0.5, 0.25, 0.25]), O, p)
