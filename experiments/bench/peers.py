"""NumPy/SciPy peers: each sumjax kernel written the way a researcher would without sumjax.

These are deliberately plain: `scipy.special.ive` for Bessel ratios, `scipy.optimize.brentq` for inverses,
`scipy.integrate.quad` for integrals, `scipy.stats.vonmises_fisher` for sampling, NumPy broadcasting where it
applies and Python loops where SciPy has nothing vectorised. They are the reference the benchmark compares
against, not a second implementation of the package; where they fail (NaN from underflowing `ive`, a d×d
rotation matrix that cannot be allocated) they fail the way the real thing does, and the benchmark reports it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, optimize, special, stats

__all__ = [
    "vmf_mean",
    "vmf_mean_kl",
    "required_divergence",
    "total_harm_grid",
    "total_harm_hoisted",
    "montecarlo_harm_cosine",
    "tfp",
    "required_divergence_quad",
    "kappa_schedule",
    "montecarlo_harm",
    "montecarlo_harm_numpy",
    "convexity_check",
]


# --- vMF mean and KL -------------------------------------------------------------------------------------------


def _vmf_mean_scalar(kappa: float, d: float) -> float:
    nu = d / 2.0 - 1.0
    return special.ive(nu + 1.0, kappa) / special.ive(nu, kappa)


def vmf_mean(kappa, d):
    """E[c] = I_{d/2}(κ)/I_{d/2−1}(κ) as a ratio of `scipy.special.ive` (NaN where both underflow)."""
    kappa, d = np.asarray(kappa, float), np.asarray(d, float)
    nu = d / 2.0 - 1.0
    with np.errstate(all="ignore"):
        return special.ive(nu + 1.0, kappa) / special.ive(nu, kappa)


def vmf_mean_kl(kappa, d):
    """E[c] = I_{d/2}(κ)/I_{d/2−1}(κ) and D = κE[c] − log M_d(κ), M_d = Γ(d/2)(2/κ)^{d/2−1}I_{d/2−1}(κ).

    Vectorised over broadcast `kappa`, `d` with exponentially scaled Bessel functions. Returns NaN where `ive`
    underflows to 0 (large order, small argument) — exactly what a researcher gets.
    """
    kappa, d = np.broadcast_arrays(np.asarray(kappa, float), np.asarray(d, float))
    nu = d / 2.0 - 1.0
    with np.errstate(all="ignore"):
        i0 = special.ive(nu, kappa)
        i1 = special.ive(nu + 1.0, kappa)
        mean = i1 / i0
        log_m = special.gammaln(d / 2.0) + nu * np.log(2.0 / kappa) + np.log(i0) + kappa
        kl = kappa * mean - log_m
    return mean, kl


# --- required divergence -----------------------------------------------------------------------------------------


def _kappa_from_mean_scalar(c: float, d: float) -> float:
    """Solve A_d(κ) = c by brentq on a bracket grown from the Banerjee guess; NaN if A_d is not finite."""
    if c <= 0.0:
        return 0.0
    guess = c * (d - c * c) / (1.0 - c * c)
    lo, hi = guess / 4.0, guess * 4.0 + 1.0

    def g(k):
        return _vmf_mean_scalar(k, d) - c

    with np.errstate(all="ignore"):
        glo, ghi = g(lo), g(hi)
        for _ in range(60):
            if not (np.isfinite(glo) and np.isfinite(ghi)):
                return math.nan
            if glo <= 0.0 <= ghi:
                break
            if glo > 0.0:
                lo /= 4.0
                glo = g(lo)
            if ghi < 0.0:
                hi *= 4.0
                ghi = g(hi)
        else:
            return math.nan
        return optimize.brentq(g, lo, hi, xtol=1e-14 * hi, rtol=4 * np.finfo(float).eps, maxiter=200)


def required_divergence(c_star, d):
    """D*(c*, d): brentq on A_d(κ) = c* per point (Python loop), then D(κ). Broadcasts `c_star`, `d`."""
    c_star, d = np.broadcast_arrays(np.asarray(c_star, float), np.asarray(d, float))
    out = np.empty(c_star.shape)
    for idx in np.ndindex(c_star.shape):
        k = _kappa_from_mean_scalar(float(c_star[idx]), float(d[idx]))
        out[idx] = 0.0 if k == 0.0 else (vmf_mean_kl(k, d[idx])[1] if np.isfinite(k) else math.nan)
    return out


# --- total harm --------------------------------------------------------------------------------------------------


def _total_harm_scalar(c_star: float, d: float, beta_a: float, beta_h: float, rectify: bool, cap_delta: bool) -> float:
    """(1/δ)∫₀^{D*} w·(1 − A_d(κ(D))) dD with D = D(κ), substituted to κ: dD = κA'(κ)dκ, A' = 1 − A² − (d−1)A/κ.

    The substitution avoids a root solve inside the integrand (the naive peer nests brentq in quad and is slower
    still); w = √β_A, or ReLU(√β_A − √β_H) with rectification; δ = β_A, or min(β_A, β_H) when capped.
    """
    weight = max(math.sqrt(beta_a) - math.sqrt(beta_h), 0.0) if rectify else math.sqrt(beta_a)
    if weight == 0.0:
        return 0.0
    delta = min(beta_a, beta_h) if cap_delta else beta_a
    k_star = _kappa_from_mean_scalar(c_star, d)
    if not np.isfinite(k_star):
        return math.nan

    def integrand(k):
        if k == 0.0:
            return 0.0
        a = _vmf_mean_scalar(k, d)
        return (1.0 - a) * k * (1.0 - a * a - (d - 1.0) * a / k)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", integrate.IntegrationWarning)
        val, _ = integrate.quad(integrand, 0.0, k_star, epsabs=0.0, epsrel=1e-10, limit=200)
    _QUAD_WARNINGS[0] += len(caught)
    return weight * val / delta


_QUAD_WARNINGS = [0]  # IntegrationWarnings raised by the last `total_harm_grid` call


def total_harm_grid(c_star, d, beta_a, beta_h, *, rectify=True, cap_delta=True):
    """Total harm over broadcast arrays, one `quad` per point (Python loop).

    `quad`'s IntegrationWarnings (round-off limits) are counted in `peers.quad_warnings()`, not printed.
    """
    _QUAD_WARNINGS[0] = 0
    c_star, d, beta_a, beta_h = np.broadcast_arrays(*(np.asarray(x, float) for x in (c_star, d, beta_a, beta_h)))
    out = np.empty(d.shape)
    with np.errstate(all="ignore"):
        for idx in np.ndindex(d.shape):
            out[idx] = _total_harm_scalar(
                float(c_star[idx]), float(d[idx]), float(beta_a[idx]), float(beta_h[idx]), rectify, cap_delta
            )
    return out


def total_harm_hoisted(c_star, d, ratios, beta_h, *, rectify=True, cap_delta=True):
    """Total harm on the (β_A/β_H) × d grid with the β scale hoisted: one brentq + one `quad` per d, then
    the per-β factor w/δ broadcast over the ratios — what a competent SciPy user writes (the integral
    ∫(1 − A)dD does not depend on the powers). Returns an (len(ratios), len(d)) array."""
    d, ratios = np.asarray(d, float).reshape(-1), np.asarray(ratios, float).reshape(-1)
    beta_a = ratios * beta_h
    weight = np.maximum(np.sqrt(beta_a) - math.sqrt(beta_h), 0.0) if rectify else np.sqrt(beta_a)
    delta = np.minimum(beta_a, beta_h) if cap_delta else beta_a
    _QUAD_WARNINGS[0] = 0
    with np.errstate(all="ignore"):
        integral = np.array([_total_harm_scalar(c_star, float(x), 4.0, 1.0, False, False) * 2.0 for x in d])
    # _total_harm_scalar with β_A = 4, unrectified and uncapped returns √4·∫/4 = ∫/2, hence the factor 2.
    return (weight / delta)[:, None] * integral[None, :]


def quad_warnings() -> int:
    """How many IntegrationWarnings the last `total_harm_grid` call raised."""
    return _QUAD_WARNINGS[0]


# --- Monte Carlo training loop (full vectors) --------------------------------------------------------------------


def _vmf_moments_quad(kappa: float, d: float) -> tuple[float, float]:
    """(E[c], D) by `quad` over the cosine law p_d(c) ∝ (1 − c²)^{(d−3)/2}, tilted by e^{κc}, in log space.

    The integrand is shifted by its value at the mode c₀ (κ(1 − c²) = (d − 3)c), so it neither overflows nor
    underflows where `ive` does; used for the Monte Carlo κ schedule, which must work at d in the thousands.
    """
    if kappa == 0.0:
        return 0.0, 0.0
    a = d - 3.0
    c0 = 2.0 * kappa / (a + math.sqrt(a * a + 4.0 * kappa * kappa)) if a > 0 else 0.0
    log_norm = special.betaln(0.5, (d - 1.0) / 2.0)

    def logp(c):
        return kappa * c + 0.5 * a * math.log1p(-c * c)

    shift = logp(c0)
    f = lambda c: math.exp(logp(c) - shift) if abs(c) < 1.0 else 0.0  # noqa: E731
    width = 1.0 / math.sqrt(kappa + d)
    pts = [max(-1.0, c0 - 8 * width), c0, min(1.0, c0 + 8 * width)]
    z, _ = integrate.quad(f, -1.0, 1.0, points=pts, epsabs=0.0, epsrel=1e-12, limit=400)
    m1, _ = integrate.quad(lambda c: (c - c0) * f(c), -1.0, 1.0, points=pts, epsabs=1e-14 * z, epsrel=1e-12, limit=400)
    mean = c0 + m1 / z
    log_m = shift + math.log(z) - log_norm
    return mean, kappa * mean - log_m


def _kappa_from_kl_scalar(D: float, d: float) -> float:
    """Solve D(κ) = D by brentq over the quadrature D(κ); κ = 0 at D = 0."""
    if D <= 0.0:
        return 0.0
    g = lambda k: _vmf_moments_quad(k, d)[1] - D  # noqa: E731
    hi = max(1.0, math.sqrt(2.0 * d * D))
    while g(hi) < 0.0:
        hi *= 4.0
    return optimize.brentq(g, 1e-12, hi, rtol=1e-13, maxiter=200)


def required_divergence_quad(c_star: float, d: float) -> float:
    """D*(c*, d) by quadrature moments + brentq on E[c](κ) = c* (works where `ive` underflows)."""
    g = lambda k: _vmf_moments_quad(k, d)[0] - c_star  # noqa: E731
    hi = max(1.0, c_star * (d - c_star * c_star) / (1.0 - c_star * c_star))
    while g(hi) < 0.0:
        hi *= 2.0
    k = optimize.brentq(g, 1e-12, hi, rtol=1e-13, maxiter=200)
    return _vmf_moments_quad(k, d)[1]


def kappa_schedule(D, d):
    """κ_n with D(κ_n) = D_n for each round (quadrature + brentq, Python loop)."""
    return np.array([_kappa_from_kl_scalar(float(x), float(d)) for x in np.asarray(D, float).reshape(-1)])


def montecarlo_harm(kappas, weight, d, n_trials, seed=0, *, sampler="scipy"):
    """Realised harm weight·(1 − a_n·h) per trial and round, a_n ~ vMF(h, κ_n), full d-vectors.

    `kappas` is the per-round concentration schedule. `sampler="scipy"` draws with
    `scipy.stats.vonmises_fisher.rvs` (what a researcher reaches for; it builds a d×d rotation by QR, O(d³)
    per round, and rotates with an O(N·d²) einsum); `sampler="numpy"` is a hand-written Wood + Householder
    sampler in NumPy (O(N·d) per round). One h for all trials (the law of a·h does not depend on h).
    Returns the (n_trials, rounds) per-round harms.
    """
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(d)
    h /= np.linalg.norm(h)
    kappas = np.asarray(kappas, float).reshape(-1)
    out = np.empty((n_trials, kappas.size))
    for j, k in enumerate(kappas):
        if sampler == "scipy":
            if k == 0.0:
                a = rng.standard_normal((n_trials, d))
                a /= np.linalg.norm(a, axis=1, keepdims=True)
            else:
                a = stats.vonmises_fisher(h, k).rvs(n_trials, random_state=rng)
        else:
            a = _wood_householder(rng, h, k, n_trials)
        out[:, j] = weight * (1.0 - a @ h)
    return out


def montecarlo_harm_numpy(kappas, weight, d, n_trials, seed=0):
    """`montecarlo_harm` with the hand-written NumPy sampler (no d×d matrix)."""
    return montecarlo_harm(kappas, weight, d, n_trials, seed, sampler="numpy")


def montecarlo_harm_cosine(kappas, weight, d, n_trials, seed=0):
    """The cosine-path peer: harm weight·(1 − c) with c drawn by NumPy Wood directly from its 1-D law.

    For the plain loop the harm depends on a only through c = a·h, and c is exactly Wood's w, so no
    d-vector is ever needed: O(N) per round. This is what a user who knows the model writes."""
    rng = np.random.default_rng(seed)
    kappas = np.asarray(kappas, float).reshape(-1)
    out = np.empty((n_trials, kappas.size))
    for j, k in enumerate(kappas):
        out[:, j] = weight * (1.0 - _wood_cosine(rng, float(d), k, n_trials))
    return out


def _wood_cosine(rng, d, kappa, n):
    """Wood (1994) rejection for the cosine w of vMF on S^{d−1} (Beta proposal), vectorised."""
    m = d - 1.0
    if kappa == 0.0:
        return 2.0 * rng.beta(m / 2.0, m / 2.0, n) - 1.0
    b = m / (2.0 * kappa + math.sqrt(4.0 * kappa * kappa + m * m))
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m * math.log(1.0 - x0 * x0)
    w = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        z = rng.beta(m / 2.0, m / 2.0, todo.size)
        cand = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        u = rng.random(todo.size)
        ok = kappa * cand + m * np.log(1.0 - x0 * cand) - c >= np.log(u)
        w[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return w


def tfp():
    """`tensorflow_probability.substrates.jax`, or None when the optional bench extra is not installed."""
    try:
        from tensorflow_probability.substrates import jax as tfp_jax
    except Exception:  # noqa: BLE001 — missing, or incompatible with this jax
        return None
    return tfp_jax


def tfp_version() -> str | None:
    t = tfp()
    return None if t is None else t.__version__


def tfp_vmf_mean(kappa, d):
    """E[c] = I_{d/2}/I_{d/2−1} with `tfp.math.bessel_iv_ratio` (JAX; jit it)."""
    import jax.numpy as jnp

    return tfp().math.bessel_iv_ratio(0.5 * d, kappa)


def tfp_vmf_kl(kappa, d):
    """D = κA − log M assembled from TFP pieces: A by `bessel_iv_ratio`, log I_ν by `log_bessel_ive` + κ."""
    import jax
    import jax.numpy as jnp

    t = tfp()
    nu = 0.5 * d - 1.0
    a = t.math.bessel_iv_ratio(nu + 1.0, kappa)
    log_m = jax.lax.lgamma(nu + 1.0) + nu * jnp.log(2.0 / kappa) + t.math.log_bessel_ive(nu, kappa) + kappa
    return kappa * a - log_m


def tfp_sample_vmf(key, mu, kappa, n):
    """n draws from `tfp.distributions.VonMisesFisher(mu, kappa)` (JAX; jit it)."""
    return tfp().distributions.VonMisesFisher(mean_direction=mu, concentration=kappa).sample(n, seed=key)


def _wood_householder(rng, h, kappa, n):
    """Wood (1994) rejection for the cosine w, uniform tangent direction, Householder e₁ → h. O(n·d)."""
    d = h.shape[0]
    m = d - 1.0
    if kappa == 0.0:
        w = 2.0 * rng.beta(m / 2.0, m / 2.0, n) - 1.0
    else:
        b = m / (2.0 * kappa + math.sqrt(4.0 * kappa * kappa + m * m))
        x0 = (1.0 - b) / (1.0 + b)
        c = kappa * x0 + m * math.log(1.0 - x0 * x0)
        w = np.empty(n)
        todo = np.arange(n)
        while todo.size:
            z = rng.beta(m / 2.0, m / 2.0, todo.size)
            cand = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
            u = rng.random(todo.size)
            ok = kappa * cand + m * np.log(1.0 - x0 * cand) - c >= np.log(u)
            w[todo[ok]] = cand[ok]
            todo = todo[~ok]
    v = rng.standard_normal((n, d))
    v[:, 0] = 0.0
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    x = v * np.sqrt(np.clip(1.0 - w * w, 0.0, None))[:, None]
    x[:, 0] = w
    # Householder reflection mapping e1 to h: H = I − 2uuᵀ, u = (e1 − h)/|e1 − h|.
    u = -h.copy()
    u[0] += 1.0
    nu = np.linalg.norm(u)
    if nu < 1e-12:
        return x
    u /= nu
    return x - 2.0 * np.outer(x @ u, u)


# --- guarded learning: convexity of f over the simplex -----------------------------------------------------------


def convexity_check(w, w_prime, values):
    """Worst supporting-hyperplane violation of f(w) = max_π w·V(π) over pairs (w_i, w'_i), in NumPy.

    viol_i = f(w_i) + ∇f(w_i)·(w'_i − w_i) − f(w'_i), ∇f(w) = V(π_w) (Danskin). Returns (worst, index, viol, f at all points).
    """
    w, w_prime, values = (np.asarray(x, float) for x in (w, w_prime, values))
    sw = w @ values.T
    f_w = sw.max(axis=1)
    grad = values[sw.argmax(axis=1)]
    f_wp = (w_prime @ values.T).max(axis=1)
    viol = f_w + np.einsum("ij,ij->i", grad, w_prime - w) - f_wp
    i = int(np.argmax(viol))
    return float(viol[i]), i, viol, np.concatenate([f_w, f_wp])
