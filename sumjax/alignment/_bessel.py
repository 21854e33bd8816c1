"""Log-Bessel machinery for real order ν ≥ 0 and argument κ ≥ 0 (private).

Everything the vMF tilt of the cosine law needs is a function of the modified
Bessel function I_ν. We never form I_ν itself (it overflows for κ ≳ 700);
instead `vmf_core(kappa, nu)` returns four cancellation-free quantities

    R  = I_{ν+1}(κ)/I_ν(κ)                      (= E[c] of vMF on S^{d-1}, ν = d/2-1)
    C  = 1 - R                                  (relative accuracy even when R → 1)
    L  = log M,  M = Γ(ν+1)(2/κ)^ν I_ν(κ) = ₀F₁(;ν+1;κ²/4)   (relative accuracy as κ → 0)
    Lc = κ - log M                              (no cancellation for huge κ)

Method. At order μ = ν + n, n ∈ {1..40} the smallest with μ² + κ² ≥ 40², the uniform
(Debye) asymptotic expansion of I_μ(μz) and I'_μ(μz) with the polynomials u_k, v_k
(DLMF 10.41.10-11) up to k = 12 is exact to double precision: u_k(t) = t^k p_k(t) with
t = μ/√(μ²+κ²), so the first omitted term is ≤ max|p_13|/40¹³ ≈ 3e-17. The expansion is
rewritten so that nothing cancels: log M uses Stirling-normalised quantities (exactly 0
at κ = 0), and R, C use (U+Q)/U with Q = (V-U)/(1-t) a polynomial, because
u_k(1) = v_k(1). The sums are evaluated by nested Horner schemes in τ = t² (u_k, v_k have
parity k), ~300 multiply-adds per point. Then n steps of the backward three-term recurrence
(stable for the minimal solution I_ν)

    R_{m-1} = κ/(2m + κR_m),  C_{m-1} = (2m - κC_m)/(2m + κR_m),
    log M_{m-1} = log M_m + log1p(κR_m/(2m))

bring the order down to ν exactly: the first step as written, the other n - 1 (κ < 40 only)
in the equivalent linear form M_{m-1} = M_m + κ²/(4m(m+1)) M_{m+1} on M/M_top (one
log1p at the end instead of one per step). Each step is a positive sum or a ratio of
positive terms; for κ ≥ 40 only one step is taken (a step can amplify rounding in C by
(m+½)/(m-½) when κ ≫ m). Measured against mpmath: ≲ 1e-14 relative in float64 for
ν ∈ [0, 10⁶], κ ∈ [0, 10⁷], and ~1e-6 in float32. Everything is smooth in κ
and ν (gradients by autodiff are finite at κ = 0).
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from .._numerics import log as _log
from .._numerics import log1p as _log1p
from .._numerics import logs_for, long_pass

__all__: list[str] = []

_N_RECUR = 40  # at most this many backward recurrence steps
_R_MIN = 40.0  # Debye expansion used where μ² + κ² ≥ 40²
_K_DEBYE = 12  # number of Debye correction terms u_1..u_12
_STIRLING_MU = 15.0  # below this order the Stirling/U(1) mismatch is added explicitly
# Stirling series of log Γ: S(y) = Σ_k B_2k/(2k(2k-1) y^(2k-1)); 7 terms are exact to 1e-22 for y ≥ 16.
_STIRLING_COEFFS = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def _poly_mul(a, b):
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _poly_add(a, b):
    n = max(len(a), len(b))
    a = a + [Fraction(0)] * (n - len(a))
    b = b + [Fraction(0)] * (n - len(b))
    return [x + y for x, y in zip(a, b)]


def _poly_scale(a, s):
    return [x * s for x in a]


def _poly_div_one_minus_t(a):
    """Exact quotient q with a(t) = (1 - t) q(t); requires a(1) = 0."""
    assert sum(a) == 0
    # a(t) = (1 - t) q(t)  <=>  a_i = q_i - q_{i-1}
    q, acc = [], Fraction(0)
    for ai in a[:-1]:
        acc += ai
        q.append(acc)
    return q or [Fraction(0)]


def _debye_polynomials(K: int):
    """Coefficients (ascending powers of t) of u_k, v_k for k = 0..K, exact rationals.

    u_{k+1} = ½t²(1-t²)u_k' + ⅛∫₀ᵗ(1-5s²)u_k ds,  v_{k+1} = u_{k+1} - ½t(1-t²)u_k - t²(1-t²)u_k'.
    """
    one_m_t2 = [Fraction(1), Fraction(0), Fraction(-1)]
    us, vs = [[Fraction(1)]], [[Fraction(1)]]
    for _ in range(K):
        u = us[-1]
        du = [i * u[i] for i in range(1, len(u))] or [Fraction(0)]
        a = _poly_mul(_poly_mul([Fraction(0), Fraction(0), Fraction(1, 2)], one_m_t2), du)
        integrand = _poly_mul([Fraction(1), Fraction(0), Fraction(-5)], u)
        b = _poly_scale([Fraction(0)] + [integrand[i] / (i + 1) for i in range(len(integrand))], Fraction(1, 8))
        un = _poly_add(a, b)
        vn = _poly_add(un, _poly_scale(_poly_mul(_poly_mul([Fraction(0), Fraction(1, 2)], one_m_t2), u), -1))
        vn = _poly_add(vn, _poly_scale(_poly_mul(_poly_mul([Fraction(0), Fraction(0), Fraction(1)], one_m_t2), du), -1))
        us.append(un)
        vs.append(vn)
    return us, vs


def _parity_part(a, k: int):
    """Coefficients in τ = t² of a(t)/t^(k mod 2), for a(t) of parity k (checked)."""
    assert all(c == 0 for c in a[1 - k % 2 :: 2])
    return a[k % 2 :: 2]


def _debye_tau_polynomials(K: int):
    """The Debye sums in the variable τ = t², which halves the work (u_k, v_k have parity k).

    U = Σ_k y^k A_k(τ) with y = t/μ;  Q = (1+t) Σ_k y^k E_k(τ), E_k = (v_k - u_k)/(t^k(1 - t²));
    P = Σ_{k odd} μ^-k u_k(1) + (1+t)[Σ_{k even} μ^-k G_k(τ) + t Σ_{k odd} μ^-k H_k(τ)], where
    u_k = B_k(τ) (k even) or t B_k(τ) (k odd) and G_k, H_k = (B_k(1) - B_k(τ))/(1 - τ).
    """
    us, vs = _debye_polynomials(K)
    u1 = [sum(u) for u in us]
    A = [_parity_part(u, k)[k // 2 :] for k, u in enumerate(us)]
    assert all(all(c == 0 for c in _parity_part(u, k)[: k // 2]) for k, u in enumerate(us))
    E = [[Fraction(0)]] + [
        _poly_div_one_minus_t(_parity_part(_poly_add(v, _poly_scale(u, -1)), k)[k // 2 :])
        for k, (u, v) in enumerate(zip(us[1:], vs[1:]), start=1)
    ]
    GH = []
    for k, u in enumerate(us):
        b = _parity_part(u, k)
        GH.append(_poly_div_one_minus_t(_poly_add([sum(b)], _poly_scale(b, -1))))
    return A, E, GH[0::2], GH[1::2], u1[1::2], u1


def _floats(p):
    """Python floats (baked into the graph as constants), trailing zeros dropped."""
    if isinstance(p[0], list):
        return tuple(_floats(q) for q in p)
    p = [float(c) for c in p]
    while len(p) > 1 and p[-1] == 0.0:
        p.pop()
    return tuple(p)


_A, _E, _G, _H, _U1_ODD, _U1 = (_floats(p) for p in _debye_tau_polynomials(_K_DEBYE))


def _horner(coeffs, x):
    """Σ_j coeffs[j] x^j (Python floats, unrolled: one fused elementwise kernel)."""
    acc = jnp.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = acc * x + c
    return acc


def _horner2(rows, inner, outer):
    """Σ_k outer^k Σ_j rows[k][j] inner^j."""
    acc = _horner(rows[-1], inner)
    for row in rows[-2::-1]:
        acc = acc * outer + _horner(row, inner)
    return acc


def _debye_series(t, inv_mu):
    """(U, P, Q, U(1)) = Σ_k poly_k(t) μ^{-k} by nested Horner in τ = t² and y = t/μ or 1/μ².

    For μ ≥ 40 the k-th term is ≤ Σ_j|coeff|/40^k ≤ 2.5e-2 (k = 1), ≤ 1.1e-3 (k ≥ 2), so rounding
    stays at a few ulps: measured ≤ 4e-16 relative against the exact rational sums.
    """
    tau = t * t
    y = t * inv_mu
    x2 = inv_mu * inv_mu
    U = _horner2(_A, tau, y)
    Q = (1.0 + t) * y * _horner2(_E[1:], tau, y)
    P_even = x2 * _horner2(_G[1:], tau, x2)  # G_0 = 0 (u_0 = 1)
    P_odd = inv_mu * _horner2(_H, tau, x2)
    P = inv_mu * _horner(_U1_ODD, x2) + (1.0 + t) * (P_even + t * P_odd)
    U1 = _horner(_U1, inv_mu)
    return U, P, Q, U1


def _debye(kappa, mu):
    """(R, C, log M, κ - log M) at order μ ≥ 32 from the uniform asymptotic expansion, log M and
    κ - log M without the Stirling correction (`_stirling_correction`) that orders μ < 15 need."""
    _, log1p = logs_for(kappa.size)
    z = kappa / mu
    s = jnp.hypot(1.0, z)  # no overflow even for z > 1e154
    t = 1.0 / s
    zs = z / (1.0 + s)  # (s - 1)/z
    w = z * zs  # s - 1 without cancellation
    omt = w / s  # 1 - t
    inv_mu = 1.0 / mu
    U, P, Q, U1 = _debye_series(t, inv_mu)
    log_u_ratio = log1p(-omt * P / U1)  # log(U(t)/U(1))
    quarter_log = 0.5 * log1p(w)  # ¼log(1+z²) = ½log s, relative as z → 0, no overflow
    log_half_1ps = log1p(0.5 * w)  # log((1+s)/2)
    # log M = μ(s - 1 - log((1+s)/2)) - ¼log(1+z²) + log(U(t)/U(1)); the Stirling series of
    # log Γ(μ+1) cancels U(1) order by order, which makes log M exactly 0 at κ = 0. Below μ = 15
    # the two no longer cancel: `_stirling_correction` is added to L (and taken from Lc) afterwards.
    L = mu * (w - log_half_1ps) - quarter_log + log_u_ratio
    Lc = mu * ((w + z) / (s + z) + log_half_1ps) + quarter_log - log_u_ratio
    ratio = Q / U
    R = zs * (1.0 + ratio)
    C = (1.0 + 1.0 / (s + z)) / (1.0 + s) - zs * ratio
    return R, C, L, Lc


def _stirling_correction(mu, fast: bool):
    """S(μ) + log U(1) where μ < 15, else 0: S(μ) = log Γ(μ+1) - (μ+½)log μ + μ - ½log 2π is the Stirling
    remainder. For small μ (then κ ≥ 37 and log M ≥ 20) it and log U(1) no longer cancel. Only below
    μ = 15: above, S + log U(1) ≤ 3e-18, while the computed sum carries ~1e-14 absolute rounding, which
    would swamp log M ≈ κ²/(4μ) when μ → 40 and κ → 0. μ = ν + n ≥ 1 here.

    `fast` (long passes): S is shifted up by N = 15 orders, Γ(μ+1) = Γ(μ+N+1)/Π_{j=1..N}(μ+j), where its
    series is exact: S(μ) = S(μ+N) - N + (μ+½)log(1 + N/μ) + log((μ+N)^N/Π_j(μ+j)) — two fdlibm logarithms
    instead of `lgamma` (a Lanczos sum with scalar libm logarithms, ~10× the cost on XLA:CPU, less code).
    The terms are ≤ 15 in size, so the absolute error is ~1e-14 (float64): ≤ 1e-15 relative to log M ≥ 20."""
    small_mu = mu < _STIRLING_MU
    n = _STIRLING_MU

    def shifted(_):
        mu_s = jnp.where(small_mu, mu, 1.0)
        top = mu_s + n
        ratio = jnp.ones_like(mu_s)  # (μ+N)^N/Π_j(μ+j), each factor ≥ 1: ≤ 16^15/16! ≈ 5.5e4
        for j in range(1, int(n)):
            ratio = ratio * (top / (mu_s + j))
        iy, iy2 = 1.0 / top, 1.0 / (top * top)
        series = jnp.zeros_like(top)
        for c in _STIRLING_COEFFS[::-1]:
            series = series * iy2 + c
        stirling = series * iy - n + (mu_s + 0.5) * _log1p(n / mu_s)
        u1 = _horner(_U1, 1.0 / mu_s)  # U(1) = Σ_k u_k(1)/μ^k
        return jnp.where(small_mu, stirling + _log(ratio * u1), 0.0)

    def direct(_):
        mu_s = jnp.where(small_mu, mu, 1.0)
        stirling = jax.lax.lgamma(mu_s + 1.0) - (mu_s + 0.5) * jnp.log(mu_s) + mu_s - float(0.5 * np.log(2.0 * np.pi))
        return jnp.where(small_mu, stirling + jnp.log(_horner(_U1, 1.0 / mu_s)), 0.0)

    # Lazy: one branch per chunk, so the pass is skipped where no order is below 15 (the usual
    # case). Under a user's vmap the predicate is batched and both branches run (same values).
    return jax.lax.cond(jnp.any(small_mu), shifted if fast else direct, lambda _: jnp.zeros_like(mu), None)


def vmf_core(kappa, nu):
    """(R, C, L, Lc) = (I_{ν+1}/I_ν, 1 - R, log ₀F₁(;ν+1;κ²/4), κ - L) for κ ≥ 0, ν ≥ 0.

    Relative accuracy ≲ 1e-14 (float64) / ~1e-6 (float32) for κ ∈ [0, 1e150], ν ∈ [0, 1e12]
    (inputs are assumed valid; callers validate). Broadcasts; jit/vmap/grad-safe (forward and reverse).

    The Debye sums run in one element-wise pass over all points (XLA:CPU spreads it over the cores).
    The rest runs in chunks of `_CHUNK` points, in place: a chunk is visited only if one of its points
    needs more than one recurrence step or the Stirling correction (order below 15), runs only as many
    steps as its worst point needs, and stays in cache at 1e6+ points. A point's value does not depend
    on its chunk (a skipped step is one the masked form would have discarded). Above 4096 points the
    logarithms are `sumjax._numerics.log`/`log1p` (vectorised fdlibm; XLA:CPU's float64 log is a scalar
    libm call) and the Stirling correction avoids `lgamma`; below, XLA's own functions keep the program
    small (a point's value then moves by a few ulp at most).

    Derivatives: the map is element-wise, so its JVP is ∂_κ·κ̇ + ∂_ν·ν̇ with the partials computed
    by forward mode (tangents of ones) of the same kernel. Reverse mode then transposes only those
    products, not the recurrence loop: compiling `grad` costs about what compiling a JVP does.
    """
    kappa, nu = jnp.broadcast_arrays(kappa, nu)
    return _vmf_core(kappa, nu)


@jax.custom_jvp
def _vmf_core(kappa, nu):
    return _vmf_core_impl(kappa, nu)


def _core_partials(kappa, nu, use_k: bool, use_n: bool):
    """(outputs, ∂/∂κ or None, ∂/∂ν or None) by forward mode with tangents of ones; both partials
    in one pass (two tangent lanes, one recurrence loop) when both are wanted."""
    ones, zeros = jnp.ones_like(kappa), jnp.zeros_like(kappa)
    if use_k and use_n:
        lanes = (jnp.stack([ones, zeros]), jnp.stack([zeros, ones]))
        out, parts = jax.vmap(lambda tk, tn: jax.jvp(_vmf_core_impl, (kappa, nu), (tk, tn)), out_axes=(None, 0))(*lanes)
        return out, tuple(p[0] for p in parts), tuple(p[1] for p in parts)
    out, part = jax.jvp(_vmf_core_impl, (kappa, nu), (ones, zeros) if use_k else (zeros, ones))
    return out, (part if use_k else None), (None if use_k else part)


def _vmf_core_jvp(primals, tangents):
    kappa, nu = primals
    dk, dn = tangents
    # Symbolic zeros: a caller differentiating in κ only (or ν only) pays for one tangent lane.
    use_k = not isinstance(dk, SymbolicZero)
    use_n = not isinstance(dn, SymbolicZero)
    if not (use_k or use_n):  # not reached (JAX does not call a rule with all-zero tangents)
        out = _vmf_core_impl(kappa, nu)
        return out, tuple(jnp.zeros_like(o) for o in out)
    out, pk, pn = _core_partials(kappa, nu, use_k, use_n)
    dout = [jnp.zeros_like(o) for o in out]
    if use_k:
        dout = [t + p * dk for t, p in zip(dout, pk)]
    if use_n:
        # At κ = 0 every output is constant in ν (R = 0, C = 1, L = Lc = 0): exactly 0, not rounding.
        dout = [t + jnp.where(kappa == 0, 0.0, p) * dn for t, p in zip(dout, pn)]
    return out, tuple(dout)


_vmf_core.defjvp(_vmf_core_jvp, symbolic_zeros=True)


def _steps(kappa, nu):
    """n: recurrence steps from the order ν + n where the Debye expansion starts. Its error at term k is
    |u_k(t)/t^k|/(μ² + κ²)^{k/2}, so μ² + κ² ≥ 40² is enough. Fewer steps matter for large κ: each step
    can amplify relative rounding in C by (m+½)/(m-½)."""
    need = jnp.sqrt(jnp.maximum(_R_MIN**2 - kappa * kappa, 0.0)) - nu
    return jnp.clip(jnp.ceil(need), 1.0, float(_N_RECUR))


def _vmf_core_impl(kappa, nu):
    return core_finish(kappa, nu, *core_top(kappa, nu))


def core_top(kappa, nu):
    """`vmf_core`'s first stage, element-wise: (n, R, C, L, Lc, x) of κ's shape — the step count n, the Debye
    sums at order m = ν + n and the top step from there. `core_finish` completes it; the two are one
    computation, split so that a caller can run them as two programs (`_vmf.kl`)."""
    shape = kappa.shape
    kappa, nu = kappa.reshape(-1), nu.reshape(-1)
    n_steps = _steps(kappa, nu)
    m = nu + n_steps
    # The Debye sums are most of the flops and element-wise: one pass over all points, which XLA:CPU
    # spreads over the cores (a pass inside the chunk loop below would run on one).
    R, C, L, Lc = _debye(kappa, m)

    # Top step (every point takes it), from order m = ν + n, in ratio form: for κ ≥ 40 it is
    # the only step and x = κR/(2m) (log M increases by log1p(x)) can be as large as κ/2.
    x = kappa * R / (2.0 * m)
    den = 2.0 * m + kappa * R
    R, C = kappa / den, (2.0 * m - kappa * C) / den
    return tuple(o.reshape(shape) for o in (n_steps, R, C, L, Lc, x))


def core_finish(kappa, nu, n_steps, R, C, L, Lc, x):
    """`vmf_core`'s second stage: the remaining recurrence steps and the Stirling correction, chunked
    (`_chunked`), on `core_top`'s outputs; returns (R, C, L, Lc) of κ's shape."""
    shape = kappa.shape
    kappa, nu, n_steps, R, C, L, Lc, x = (a.reshape(-1) for a in (kappa, nu, n_steps, R, C, L, Lc, x))
    E, T, W, corr = _chunked(kappa, nu, n_steps, R, C)
    P = 1.0 + E
    inc = logs_for(kappa.size)[1](x + E * (1.0 + x)) + corr  # log((1 + x)(1 + E)), one log for all n steps
    return tuple(o.reshape(shape) for o in (T / P, W / P, L + inc, Lc - inc))


def _chunked(kappa, nu, n_steps, R, C):
    """`_chunk_pass` over chunks of `_CHUNK` points, in place: (E, T, W, correction) start as (0, R, C, 0), the
    answer for a point that needs neither more steps nor the Stirling correction, and only chunks with a point
    that needs one are visited. The last chunk is aligned to the end (it may overlap its neighbour, which
    recomputes the same values): no padded copies."""
    n = kappa.shape[0]
    fast = long_pass(n)  # the shifted Stirling series and fdlibm logarithms (more code) on long passes
    if n <= _CHUNK:
        return _chunk_pass(kappa, nu, n_steps, R, C, fast)

    def body(i, carry):
        start = jnp.minimum(i * _CHUNK, n - _CHUNK)
        cut = lambda a: jax.lax.dynamic_slice(a, (start,), (_CHUNK,))  # noqa: E731
        k, v, ns = cut(kappa), cut(nu), cut(n_steps)

        def visit(carry):
            out = _chunk_pass(k, v, ns, cut(R), cut(C), fast)
            return tuple(jax.lax.dynamic_update_slice(a, o, (start,)) for a, o in zip(carry, out))

        return jax.lax.cond(jnp.any((ns > 1.0) | (v + ns < _STIRLING_MU)), visit, lambda c: c, carry)

    zeros = jnp.zeros_like(R)
    return jax.lax.fori_loop(0, -(-n // _CHUNK), body, (zeros, R, C, zeros))


_CHUNK = 4096  # points per chunk: 4 carries × 32 KiB stay in L1/L2, and the trip count adapts per chunk


def _chunk_pass(kappa, nu, n_steps, R, C, fast: bool):
    """The per-chunk part of `vmf_core` on one flat chunk: the Stirling correction where an order is below
    15, and the n - 1 ≤ 39 remaining recurrence steps (κ < 40 only) where a point needs them. Returns
    (E, T, W, correction) with T/(1+E) = R, W/(1+E) = C and log(1+E) added to log M at order ν. `n_steps`
    is `_steps(kappa, nu)`, computed once for all points by the caller."""
    corr = _stirling_correction(nu + n_steps, fast)

    # The remaining steps without a log or a division by the carry:
    # with P_m = M_m/M_top (M_{m-1} = M_m + κ²/(4m(m+1)) M_{m+1}), T = R·P and W = C·P,
    #   P_{m-1} = P_m + cT_m,  T_{m-1} = cP_m,  W_{m-1} = P_m - cW_m,  c = κ/(2m),
    # all positive sums except W (as in the ratio form). E = P - 1 keeps log M relative as κ → 0;
    # P ≤ e^κ < e^40, so nothing overflows even in float32. Three carries (fewer memory passes).
    half_k = 0.5 * kappa
    n_max = jnp.max(n_steps)  # this chunk's trip count: steps j ≥ n_max change no point

    def step(j, carry):
        E, T, W = carry
        c = half_k / (nu + j)
        P = 1.0 + E
        new = (E + c * T, c * P, P - c * W)
        active = j < n_steps
        return tuple(jnp.where(active, a, b) for a, b in zip(new, carry))

    def block(i, carry):
        # three steps per branch (unrolled); the chunk-level `cond` skips blocks above n_max. A static
        # trip count with `cond` (not a `while_loop`) keeps the loop reverse-differentiable.
        j0 = float(_N_RECUR - 1) - 3.0 * jnp.asarray(i, kappa.dtype)  # steps j0, j0-1, j0-2 (j ≥ 1 is active)

        def run(c):
            for r in range(3):
                c = step(j0 - r, c)
            return c

        return jax.lax.cond(j0 - 2.0 < n_max, run, lambda c: c, carry)

    # One branch around the loop: a chunk of large orders (n_max = 1, the usual case) pays for one `cond`,
    # not for the loop's 13 (each passes the three carries through: ~2.5 µs per 4096 points).
    E, T, W = jax.lax.cond(
        n_max > 1.0,
        lambda c: jax.lax.fori_loop(0, _N_BLOCKS, block, c),
        lambda c: c,
        (jnp.zeros_like(R), R, C),
    )
    return E, T, W, corr


_N_BLOCKS = -(-(_N_RECUR - 1) // 3)  # 13 blocks of 3 steps cover j = 39 … 1


def log_gamma_ratio_half(x):
    """log Γ(x + ½) - log Γ(x) for x > 0, to ~1e-16 ABSOLUTE accuracy for all x.

    For x ≥ 8 the difference of Stirling series is used (the direct difference of two
    `lgamma` values of size x·log x would lose ~x·log x ulps: 1e-9 at x = 5e5).
    """
    x = jnp.asarray(x)
    big = x >= 8.0
    xb = jnp.where(big, x, 8.0)
    u = 0.5 / xb
    # x log(1 + 1/(2x)) - ½ = (log1p(u) - u)/(2u): the absolute error is ~eps/2
    head = (jnp.log1p(u) - u) / (2.0 * u) + 0.5 * jnp.log(xb)
    # Stirling tail Σ B_2k / (2k(2k-1) y^(2k-1)), differenced between y = x + ½ and y = x
    coeffs = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)

    def tail(y):
        iy, iy2 = 1.0 / y, 1.0 / (y * y)
        acc = jnp.zeros_like(y)
        for c in coeffs[::-1]:
            acc = acc * iy2 + c
        return acc * iy

    big_val = head + (tail(xb + 0.5) - tail(xb))
    xs = jnp.where(big, 1.0, x)
    small_val = jax.lax.lgamma(xs + 0.5) - jax.lax.lgamma(xs)
    return jnp.where(big, big_val, small_val)
