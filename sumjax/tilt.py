"""The KL-bounded optimal action: the exponential tilt P_k ∝ P·exp(kU) (docs/model.md, "Worlds, agents, power").

An agent with utility U and power β ≥ 0 replaces P by the P' maximising E_P'[U]
subject to KL(P'‖P) ≤ β. The optimum is P_k ∝ P·e^{kU} with k ≥ 0 the smallest
solution of KL(P_k‖P) = β, where, with Λ(k) = log E_P[e^{kU}],
KL(k) = kΛ'(k) − Λ(k) and the gain in expected utility is Λ'(k) − Λ'(0).

References:
    Jaynes, E. T. (1957) "Information theory and statistical mechanics", Physical Review
    106(4):620–630 (maximum entropy; the exponential family/tilt as the solution of a
    moment-constrained relative-entropy problem).
    Csiszár, I. (1975) "I-divergence geometry of probability distributions and minimization
    problems", Annals of Probability 3(1):146–158 (the I-projection is an exponential tilt).
    Peters, J., Mülling, K., Altün, Y. (2010) "Relative entropy policy search", Proc. AAAI
    24:1607–1612 (the KL-constrained improvement step, solved by a 1-D dual in the multiplier).
    Abdolmaleki, A., Springenberg, J. T., Tassa, Y., Munos, R., Heess, N., Riedmiller, M.
    (2018) "Maximum a posteriori policy optimisation", ICLR (the particle tilt is MPO's
    KL-constrained E-step: weights ∝ exp(Q/η) with η = 1/k from the dual).
    Cover, T. M., Thomas, J. A. (2006) Elements of Information Theory, 2nd ed., Wiley (KL).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float

from ._numerics import expm1_minus_x as _expm1_minus_x
from ._numerics import safe_sqrt
from ._root import implicit_root, newton_bisection
from ._validate import as_float_of, check_range, ensure_all, is_traced
from .divergence import _check_gaussian_utility, checked_utility_values, expected_utility
from .utilities import LinearUtility, QuadraticUtility
from .worlds import AbstractWeightedWorld, AbstractWorld, GaussianWorld

__all__ = ["TiltResult", "tilt", "tilt_kl"]


class TiltResult(eqx.Module):
    """Outcome of `tilt`. Every array field has the shape of `power` (scalar for a scalar power).

    Attributes:
        world: the tilted world P' (same kind as the input; its arrays gain `power`'s shape as
            leading axes when `power` is an array).
        multiplier: k, float (0 for β = 0 or constant U; +inf when saturated with
            non-constant U).
        kl: the achieved KL(P'‖P) in nats, float (= power unless saturated).
        gain: E_P'[U] − E_P[U] ≥ 0, float.
        saturated: bool; True when the power exceeds the largest reachable KL (P' is then P
            conditioned on the argmax set of U; for constant U, P' = P with k = 0).
        converged: bool; True when the 1-D root for k met its tolerance within the iteration
            cap (always True for the closed forms); never silently False — check it.
    """

    world: Any
    multiplier: Float[Array, ""]
    kl: Float[Array, ""]
    gain: Float[Array, ""]
    saturated: Bool[Array, ""]
    converged: Bool[Array, ""]


# --------------------------------------------------------------------------- reweighting (discrete, particle)


def _kl_and_mean(k, lw, v):
    """(KL(P_k‖P), Λ'(k) − Λ'(0)) for Λ(k) = log E_P[e^{kv}]: KL = kΛ' − Λ, the second is the gain.

    For k·max|v − E_P v| ≤ ½ uses log1p/expm1 forms on the centred v, so KL ≈ ½k²Var is
    accurate to relative ~eps/k rather than eps/k² (what keeps small powers accurate in
    float32). Otherwise logsumexp on `v` as given (max-centred by the caller), which keeps
    near-ties below the argmax distinguishable at huge k.
    """
    p = jnp.exp(lw)
    mean = jnp.sum(p * v)
    vc = v - mean
    small = k * jnp.max(jnp.abs(vc)) <= 0.5
    ks = jnp.where(small, k, 0.0)
    # Σp·expm1(k·vc) would carry k·Σp·vc (a rounding residue ~eps·k); dropping it is the same
    # as shifting U by that residue, which leaves the KL unchanged.
    lam_s = jnp.log1p(jnp.sum(p * _expm1_minus_x(ks * vc)))
    dlam_s = jnp.sum(p * vc * jnp.expm1(ks * vc - lam_s))
    kb = jnp.where(small, 0.0, k)
    logits = lw + kb * v
    lam_b = jax.nn.logsumexp(logits)
    dlam_b = jnp.sum(jnp.exp(logits - lam_b) * v)
    kl = jnp.where(small, ks * dlam_s - lam_s, kb * dlam_b - lam_b)
    gain = jnp.where(small, dlam_s, dlam_b - mean)
    return kl, gain


def _reweight_kl(k, params):
    """KL(P_k‖P) = kΛ'(k) − Λ(k) on weighted states."""
    lw, v = params
    return _kl_and_mean(k, lw, v)[0]


def _minus_target(kl_fn):
    """The tilt equation KL(k; θ) − β = 0 as a function of (k, (θ, β))."""

    def equation(k, params):
        theta, target = params
        return kl_fn(k, theta) - target

    return equation


_reweight_equation = _minus_target(_reweight_kl)


def _solve_multiplier(equation, params, target, guess, limit=jnp.inf):
    """k ≥ 0 in [0, limit) with equation(k, params) = 0 (the package solver, not differentiated).

    Tolerance: |KL − β| ≤ 8·eps·β or k to 8 ulp. Returns `Root(k, converged)`.
    """
    target = jnp.asarray(target)
    dtype = target.dtype
    eps = jnp.finfo(dtype).eps
    limit = jnp.asarray(limit, dtype)
    guess = jnp.where(jnp.isfinite(guess) & (guess > 0), guess, 1.0).astype(dtype)
    guess = jnp.where(jnp.isfinite(limit), jnp.minimum(guess, 0.5 * limit), guess)
    guess = jnp.where(target > 0, guess, 0.0)  # β = 0: k = 0 is the root
    params = lax.stop_gradient(params)
    return newton_bisection(equation, params, 0.0, limit, guess, rtol=8 * eps, ftol=8 * eps * target, max_iter=200)


def _tilt_weights(lw, values, beta):
    """Tilt log-weights `lw` (normalised) by utility `values`: returns (lw', k, kl, gain, saturated)."""
    support = lw > -jnp.inf
    p = jnp.exp(lw)
    umax = jnp.max(jnp.where(support, values, -jnp.inf))
    umin = jnp.min(jnp.where(support, values, jnp.inf))
    scale = umax - umin
    const = scale <= 0
    top = support & (values == umax)
    log_top = jax.nn.logsumexp(jnp.where(top, lw, -jnp.inf))
    kl_max = -log_top  # largest reachable KL: −log P(argmax set)
    saturated = (beta >= kl_max) & (beta > 0)

    # U → (U − max U)/range leaves P' unchanged and k → k·range; the solver sees O(1) numbers
    # and ties/near-ties at the top stay exact. Held fixed under differentiation: P' does not
    # depend on them, and k = k̃/s holds for any fixed s.
    s = lax.stop_gradient(jnp.where(const, 1.0, scale))
    v = jnp.where(support, (values - lax.stop_gradient(umax)) / s, 0.0)
    params = (lw, v)

    target = jnp.where(saturated, 0.0, beta)
    var0 = jnp.sum(p * v * v) - jnp.sum(p * v) ** 2
    guess = jnp.sqrt(2 * target / jnp.where(var0 > 0, var0, 1.0))
    root = _solve_multiplier(_reweight_equation, (params, target), target, guess)
    kt = implicit_root(_reweight_kl, params, target, root.value, "zero")

    logits = lw + kt * v
    lw_tilt = logits - jax.nn.logsumexp(logits)
    lw_sat = jnp.where(top, lw - log_top, -jnp.inf)
    lw_new = jnp.where(saturated, lw_sat, lw_tilt)

    kl_tilt, gain_v = _kl_and_mean(kt, lw, v)
    gain_tilt = s * gain_v
    p_new = jnp.exp(lw_new)
    gain_sat = jnp.sum(jnp.where(support, (p_new - p) * values, 0.0))
    k = jnp.where(saturated & ~const, jnp.inf, kt / s)
    kl = jnp.where(saturated, kl_max, kl_tilt)
    gain = jnp.where(saturated, gain_sat, gain_tilt)
    return lw_new, k, kl, gain, saturated, root.converged | saturated


# --------------------------------------------------------------------------- Gaussian worlds


def _linear_pieces(mean, L, u, beta, xp=jnp):
    """(k, new mean, gain, u ≠ 0) of the linear tilt, with Lᵀu rescaled by s = 2^e ≥ max|Lᵀu|.

    U → U/s leaves P' unchanged (k → k·s), so with w = Lᵀu/s: k = √(2β)/(s|w|),
    Δμ = √(2β)·Lw/|w|, gain = √(2β)·s|w| — no overflow of uᵀΣu for any representable u
    (|u| up to the float maximum) and exact KL = β.
    """
    Ltu = L.T @ u
    # w = Ltu/2^e with 2^e ≥ max|Ltu| > 2^(e−1), scaled by two normal powers of two: XLA divides
    # by multiplying with a reciprocal, which flushes to 0 for |Ltu| near the float maximum.
    mant, e = xp.frexp(xp.max(xp.abs(Ltu)))
    pos = mant > 0
    e1 = e // 2
    w = xp.ldexp(xp.ldexp(Ltu, -e1), e1 - e)  # max|w| in [½, 1)
    norm = xp.sqrt(xp.where(pos, xp.sum(w * w), 1.0))  # |Lᵀu|/2^e in [½, √d); double-where: u = 0
    # √2·√β, not √(2β): 2β overflows for β near the float maximum; safe gradient at β = 0
    r = math.sqrt(2.0) * (safe_sqrt(beta) if xp is jnp else np.sqrt(beta))
    k = xp.where(pos, xp.ldexp(xp.ldexp(r / norm, -e1), e1 - e), 0.0)
    new_mean = mean + xp.where(pos, r / norm, 0.0) * (L @ w)
    gain = xp.where(pos, xp.ldexp(xp.ldexp(r * norm, e1), e - e1), 0.0)
    return k, new_mean, gain, pos


def _tilt_gaussian_linear(world: GaussianWorld, utility: LinearUtility, beta):
    """Closed form: P' = N(μ + kΣu, Σ), k = √(2β/uᵀΣu), KL = β, gain = √(2β·uᵀΣu)."""
    k, new_mean, gain, pos = _linear_pieces(world.mean, world.chol, utility.u, beta)
    new = world.replace(new_mean, world.chol)
    return TiltResult(new, k, jnp.where(pos, beta, 0.0), gain, ~pos & (beta > 0), jnp.asarray(True))


def _phi(t):
    """log1p(t) − t/(1+t) = t²/2 − 2t³/3 + …, the variance part of a 1-D Gaussian KL (t > −1)."""
    small = jnp.abs(t) < 0.1
    ts = jnp.where(small, t, 0.0)
    series = sum(((-1) ** n) * (n - 1) / n * ts**n for n in range(2, 13))
    tb = jnp.where(small, 1.0, t)
    return jnp.where(small, series, jnp.log1p(tb) - tb / (1 + tb))


def _quad_kl_eig(k, params):
    """KL(P_k‖P) in the whitened eigenbasis of M = LᵀAL: Σ_i ½[φ(kλ_i) + (k h_i/(1+kλ_i))²]."""
    lam, h = params
    m = k * h / (1 + k * lam)
    return 0.5 * jnp.sum(_phi(k * lam) + m * m)


def _quad_gain_eig(k, lam, h):
    """E_{P_k}[U] − E_P[U] = Σ_i [½kλ_i²/(1+kλ_i) − ½λ_i m_i² + h_i m_i], m_i = k h_i/(1+kλ_i)."""
    m = k * h / (1 + k * lam)
    return jnp.sum(0.5 * k * lam * lam / (1 + k * lam) - 0.5 * lam * m * m + h * m)


def _quad_pieces(k, M, g):
    """B = I + kM (whitened precision of P_k), its Cholesky factor, and the whitened mean m = kB⁻¹g."""
    d = g.shape[0]
    eye = jnp.eye(d, dtype=g.dtype)
    C = jnp.linalg.cholesky(eye + k * M)
    Binv = jax.scipy.linalg.cho_solve((C, True), eye)
    m = k * jax.scipy.linalg.cho_solve((C, True), g)
    return C, Binv, m


def _quad_kl_basis_free(k, params):
    """Same KL written without an eigenbasis (for derivatives; eigh has none at repeated eigenvalues)."""
    M, g = params
    C, Binv, m = _quad_pieces(k, M, g)
    return 0.5 * (jnp.trace(Binv) - g.shape[0] + 2 * jnp.sum(jnp.log(jnp.diagonal(C))) + m @ m)


_quad_eig_equation = _minus_target(_quad_kl_eig)


def _value_with_grad_of(value, differentiable):
    """`value` numerically, with the derivative of `differentiable` (same quantity, other formula)."""
    return lax.stop_gradient(value) + differentiable - lax.stop_gradient(differentiable)


def _whitened_quadratic(world: GaussianWorld, utility: QuadraticUtility):
    """(M, g): the curvature LᵀAL (symmetrised) and the gradient of U at μ, whitened by Σ = LLᵀ."""
    L, A = world.chol, utility.A_sym
    M = L.T @ A @ L
    return 0.5 * (M + M.T), L.T @ (utility.b - A @ world.mean)


def _tilt_gaussian_quadratic(world: GaussianWorld, utility: QuadraticUtility, beta):
    """P' = N((Σ⁻¹+kA)⁻¹(Σ⁻¹μ + kb), (Σ⁻¹+kA)⁻¹), k by the 1-D root on the admissible range Σ⁻¹ + kA ≻ 0."""
    L, mu = world.chol, world.mean
    M, g = _whitened_quadratic(world, utility)
    const = jnp.all(M == 0) & jnp.all(g == 0)
    lam, V = jnp.linalg.eigh(lax.stop_gradient(M))
    h = V.T @ lax.stop_gradient(g)
    lmin = jnp.min(lam)
    limit = jnp.where(lmin < 0, -1.0 / jnp.where(lmin < 0, lmin, -1.0), jnp.inf)
    target = jnp.where(const, 0.0, beta)
    var0 = jnp.sum(0.5 * lam * lam + h * h)
    guess = jnp.sqrt(2 * target / jnp.where(var0 > 0, var0, 1.0))
    root = _solve_multiplier(_quad_eig_equation, ((lam, h), target), target, guess, limit)
    k = implicit_root(_quad_kl_basis_free, (M, g), target, root.value, "zero")

    _, Binv, m = _quad_pieces(k, M, g)
    Binv = 0.5 * (Binv + Binv.T)
    new = world.replace(mu + L @ m, L @ jnp.linalg.cholesky(Binv))
    kl = _value_with_grad_of(_quad_kl_eig(k, (lam, h)), _quad_kl_basis_free(k, (M, g)))
    gain_bf = expected_utility(new, utility) - expected_utility(world, utility)
    gain = _value_with_grad_of(_quad_gain_eig(k, lam, h), gain_bf)
    return TiltResult(new, k, kl, gain, const & (beta > 0), root.converged)


# --------------------------------------------------------------------------- public entry point


def _tilt_scalar(world, utility, beta):
    """The tilt kernel for one power (no checks). `utility` is, for weighted worlds, the array
    of its (checked) values at the states."""
    if isinstance(world, GaussianWorld):
        if isinstance(utility, LinearUtility):
            return _tilt_gaussian_linear(world, utility, beta)
        return _tilt_gaussian_quadratic(world, utility, beta)
    lw_new, k, kl, gain, sat, conv = _tilt_weights(world.log_mass, utility, beta)
    return TiltResult(world.with_log_mass(lw_new), k, kl, gain, sat, conv)


def _quadratic_power_limit(world: GaussianWorld, utility: QuadraticUtility, xp):
    """The largest power whose quadratic tilt is representable and accurate: KL(k_top), with
    k_top = min(√max/max(1, |λ|, |h|), (1 − √eps)·limit) in the whitened eigenbasis (λ, h)."""
    fi = np.finfo(np.dtype(world.dtype))
    L, mu, A, b = world.chol, world.mean, utility.A_sym, utility.b
    if xp is np:
        L, mu, A, b = (np.asarray(x) for x in (L, mu, A, b))
    M = L.T @ A @ L
    M = 0.5 * (M + M.T)
    g = L.T @ (b - A @ mu)
    lam, V = xp.linalg.eigh(M)
    h = V.T @ g
    scale = xp.maximum(1.0, xp.maximum(xp.max(xp.abs(lam)), xp.max(xp.abs(h))))
    k_top = np.sqrt(fi.max) / scale
    lmin = xp.min(lam)
    k_lim = xp.where(lmin < 0, (1.0 - np.sqrt(fi.eps)) / xp.where(lmin < 0, -lmin, 1.0), xp.inf)
    k_top = xp.minimum(k_top, k_lim)
    t = k_top * lam
    m = k_top * h / (1 + t)
    top = 0.5 * xp.sum(xp.log1p(t) - t / (1 + t) + m * m)
    const = xp.all(M == 0) & xp.all(g == 0)  # constant U: any power leaves P unchanged (saturated)
    return xp.where(const, xp.inf, top)


def _check_power(world, utility, beta):
    """One check of `power` (eager in NumPy on concrete input, one error_if under a trace) on
    the value the tilt is computed from, so the check cannot be compiled away."""
    gaussian = isinstance(world, GaussianWorld)
    traced = is_traced(beta, world, utility) if gaussian else is_traced(beta)
    xp = jnp if traced else np
    b = beta if traced else np.asarray(beta)
    base = "argument `power` must lie in [0, inf)"
    conds = [(xp.isnan(b) | xp.isinf(b) | (b < 0), base)]
    if isinstance(world, GaussianWorld) and isinstance(utility, LinearUtility):
        mean, L, u = (world.mean, world.chol, utility.u) if traced else map(np.asarray, (world.mean, world.chol, utility.u))
        with np.errstate(all="ignore"):
            _, new_mean, gain, _ = _linear_pieces(mean, L, u, xp.where(xp.isfinite(b) & (b >= 0), b, 0.0), xp)
        msg = (
            "argument `power` is too large for this world and utility: the tilted mean μ + √(2β/uᵀΣu)·Σu or the "
            "gain √(2β·uᵀΣu) would overflow the float range"
        )
        conds.append((~xp.isfinite(gain) | ~xp.all(xp.isfinite(new_mean), axis=-1), msg))
    elif isinstance(world, GaussianWorld) and isinstance(utility, QuadraticUtility):
        with np.errstate(all="ignore"):
            top = _quadratic_power_limit(world, utility, xp)
        hint = "" if traced else f" = {float(top):.6g}"
        msg = (
            f"argument `power` must lie in [0, KL_top{hint}]: beyond it the quadratic tilt's multiplier k is not "
            "representable accurately in this precision (KL grows like log k; use float64 or rescale)"
        )
        conds.append((b > top, msg))
    return ensure_all(beta, conds)


def tilt(world: AbstractWorld, utility, power) -> TiltResult:
    """The optimal action of an agent with `utility` and `power` β = KL budget on `world`.

    P' = argmax E_P'[U] s.t. KL(P'‖P) ≤ β, i.e. P_k ∝ P·e^{kU} with KL(P_k‖P) = β.

    - GaussianWorld + LinearUtility: closed form, exact for any representable u (Lᵀu is
      rescaled by its largest entry); `power` must keep the tilted mean and gain finite.
    - GaussianWorld + QuadraticUtility: Gaussian P' with precision Σ⁻¹ + kA, k by the
      1-D root, restricted to Σ⁻¹ + kA ≻ 0 (indefinite A allowed; KL → ∞ at the limit).
      Accurate range: power ≤ KL(k_top) with k_top = min(√max_float/max(1, |λ|, |h|),
      (1 − √eps)·limit) in the whitened eigenbasis — larger powers are refused with an error
      naming `power` (in float32 this is ~20–40 nats per dimension).
    - DiscreteWorld + TabularUtility (or a callable on the state index), and
      ParticleWorld + any callable on one state: reweighting log w ← log w + kU − Λ(k).
      If β ≥ −log P(argmax U) the result is P conditioned on the argmax set,
      `saturated=True`, k = +inf (k = 0 for constant U).

    Accuracy (measured against a 40-digit mpmath root, discrete n = 6, β from 1e-12 to
    KL_max − 0.006): k, KL and gain within 2e-15 relative in float64 and 1.1e-6 in
    float32. Within ~1e-5 of saturation k is ill-conditioned (KL(k) flattens; k off by
    ~1e-3 at KL_max − 3e-5) while P', KL and gain stay accurate (~2e-8). Gradients with
    respect to the power, the utility's and the world's parameters come from the implicit
    function theorem (the solver is not unrolled; exact to any order, e.g. Hessians). At β = 0 the
    derivative in β is infinite (k ∝ √β); it is returned as 0. `power` may be an array:
    the tilt is vmapped over it and every field of the result gains its shape as leading
    axes. `converged` reports whether the 1-D root met its tolerance. Compiled once per
    (world kind, utility type, shapes) when called eagerly. Validation: `power` once (on the
    value used), a callable utility's values once (finite); worlds and utilities at construction.

    Args:
        world: a `GaussianWorld`, `DiscreteWorld` or `ParticleWorld` P.
        utility: a `LinearUtility` or `QuadraticUtility` (Gaussian worlds; dimension d), a
            `TabularUtility` or callable on the state index (discrete worlds), or a callable on
            one state (particle worlds); its values must be finite.
        power: β ≥ 0 in nats, a float or an array of any shape (the tilt is vmapped over it);
            finite, and for quadratic utilities ≤ KL(k_top) (see above).

    Returns:
        A `TiltResult` (world P', multiplier k, kl, gain, saturated, converged), each field with
        `power`'s shape as leading axes.

    Raises:
        TypeError: if `world` is not a world.
        ValueError: naming `power` (negative, NaN/inf, or too large to represent) or the
            utility (wrong kind or dimension for the world, non-finite values).
    """
    if not isinstance(world, AbstractWorld):
        raise TypeError(f"tilt: expected a GaussianWorld, DiscreteWorld or ParticleWorld; got {type(world).__name__}")
    if isinstance(world, GaussianWorld):
        _check_gaussian_utility(world, utility)
    else:
        utility = checked_utility_values(world, utility)
    beta = as_float_of(power, world.dtype)
    beta = _check_power(world, utility, beta)
    return _tilt_compiled(world, utility, beta)


@eqx.filter_jit
def _tilt_compiled(world, utility, beta):
    # Compiled once per (world kind, utility type, shapes): eager calls do not re-trace the solver.
    if beta.ndim == 0:
        return _tilt_scalar(world, utility, beta)
    flat = jax.vmap(lambda b: _tilt_scalar(world, utility, b))(beta.reshape(-1))
    return jax.tree_util.tree_map(lambda x: x.reshape(beta.shape + x.shape[1:]), flat)


def tilt_kl(world: AbstractWorld, utility, multiplier) -> Float[Array, "..."]:
    """KL(P_k‖P) for a given multiplier k ≥ 0 (the map that `tilt` inverts).

    KL(k) = kΛ'(k) − Λ(k) with Λ(k) = log E_P[e^{kU}]; ½k²uᵀΣu for a Gaussian world and a
    linear utility (exact), the closed Gaussian KL for a quadratic one, log-sum-exp on
    weighted states (the kernels `tilt` solves with; its accuracy statement applies).

    Args:
        world: a `GaussianWorld`, `DiscreteWorld` or `ParticleWorld` P.
        utility: as for `tilt` (linear/quadratic for Gaussian worlds, tabular or callable
            for weighted worlds).
        multiplier: k ≥ 0, a float or array (broadcast; for a quadratic utility it must keep
            Σ⁻¹ + kA ≻ 0).

    Returns:
        KL(P_k‖P) in nats, float array of `multiplier`'s shape.

    Raises:
        TypeError: if `world` is not a world.
        ValueError: naming `multiplier` if it is negative or NaN, or the utility if it does
            not fit the world.
    """
    if not isinstance(world, AbstractWorld):
        raise TypeError(f"tilt_kl: expected a GaussianWorld, DiscreteWorld or ParticleWorld; got {type(world).__name__}")
    k = as_float_of(multiplier, world.dtype)
    k = check_range(k, "multiplier", 0.0)
    if isinstance(world, GaussianWorld):
        _check_gaussian_utility(world, utility)
        if isinstance(utility, LinearUtility):
            Ltu = world.chol.T @ utility.u
            return 0.5 * k * k * jnp.sum(Ltu * Ltu)
        return _quad_kl_basis_free(k, _whitened_quadratic(world, utility))
    values = checked_utility_values(world, utility)
    lw = world.log_mass
    support = lw > -jnp.inf
    return _reweight_kl(k, (lw, jnp.where(support, values, 0.0)))
