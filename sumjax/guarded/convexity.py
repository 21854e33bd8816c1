"""Convexity checks for f_t: supporting hyperplanes, Jensen chords, Hessians, forced updates.

Each check evaluates an inequality that holds when f_t is convex (the text's theorem: utility
depending only on actions) at many points in one vmapped call and returns a
`ConvexityReport` with the worst violation and where it happens. A violation is the amount
by which the inequality fails (> 0 means broken); it counts when above `tol`, by default
√ε·(1 + max|f|) on the sampled points (ε the machine epsilon of the family's dtype), which
absorbs rounding in float64 and float32 alike.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .learning import _map
from .policies import FinitePolicies, ParametricPolicies, PolicyFamily, as_policy_family
from .simplex import check_weights, sample_simplex, tangent_basis

__all__ = [
    "ConvexityReport",
    "forced_update_slope",
    "check_supporting_hyperplane",
    "check_jensen",
    "check_hessian_psd",
    "check_forced_update",
    "check_penalty_gradient",
]


class ConvexityReport(eqx.Module):
    """Outcome of one convexity check.

    `worst` is the largest violation (> 0: the inequality fails by that much; ≤ 0: it holds
    with that margin everywhere sampled; +inf where the family produced NaN), `where` the points at which it occurs (rows named by
    `labels`), `n_violations` how many samples exceed `tol`, `n_checked` how many were tested.

    Attributes:
        check: name of the check.
        labels: names of the rows of `where`.
        worst: the largest violation, shape ().
        where: the points where it occurs, shape (r, n+1).
        n_violations: samples with violation > `tol`, int shape ().
        n_checked: samples tested (static int).
        tol: the threshold used, shape ().
    """

    check: str = eqx.field(static=True)
    labels: tuple[str, ...] = eqx.field(static=True)
    worst: Float[Array, ""]
    where: Float[Array, "r n1"]
    n_violations: Int[Array, ""]
    n_checked: int = eqx.field(static=True)
    tol: Float[Array, ""]

    @property
    def violated(self) -> Bool[Array, ""]:
        """True when some sample breaks the inequality by more than `tol`."""
        return self.worst > self.tol

    def summary(self) -> str:
        """One human-readable line (concrete reports only).

        Returns:
            A one-line string: check name, verdict, worst violation and counts.
        """
        pts = "; ".join(f"{lab}={jnp.round(p, 4).tolist()}" for lab, p in zip(self.labels, self.where))
        verdict = "VIOLATED" if bool(self.violated) else "holds"
        return (
            f"{self.check}: {verdict}; worst {float(self.worst):.3e} (tol {float(self.tol):.1e}), "
            f"{int(self.n_violations)}/{self.n_checked} samples over tol; at {pts}"
        )


def _dtype(family: PolicyFamily):
    if isinstance(family, ParametricPolicies):
        return jax.eval_shape(family.value_map, family.theta0).dtype
    return family.values.dtype


def _points(family: PolicyFamily, key, n: int, points, n_sets: int, name: str):
    """`points` (a tuple of n_sets arrays (p, n+1) on Δⁿ) or n_sets × n uniform samples."""
    n1 = family.n_utilities
    if points is not None:
        points = tuple(points) if isinstance(points, (tuple, list)) else (points,)
        if len(points) != n_sets:
            raise ValueError(f"argument `points` must be a tuple of {n_sets} arrays of shape (p, {n1}); got {len(points)}")
        out = [check_weights(p, "points") for p in points]
        shapes = {p.shape for p in out}
        if len(shapes) != 1 or any(p.ndim != 2 or p.shape[-1] != n1 for p in out):
            raise ValueError(f"argument `points` must hold arrays of one shape (p, {n1}); got {[p.shape for p in out]}")
        return out
    if key is None:
        raise ValueError("argument `key` (a jax.random key) is required when `points` is not given")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"argument `{name}` must be an integer >= 1; got {n!r}")
    return list(_sample(key, n1, n, n_sets, _dtype(family)))


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _sample(key, n1, n, n_sets, dtype):
    return tuple(sample_simplex(k, n1, (n,), dtype=dtype) for k in jax.random.split(key, n_sets))


def _tol(tol, fvals, dtype):
    if tol is not None:
        return jnp.asarray(tol, dtype=dtype)
    scale = jnp.max(jnp.where(jnp.isfinite(fvals), jnp.abs(fvals), 0))  # NaNs must not poison tol
    return jnp.sqrt(jnp.finfo(dtype).eps) * (1 + scale)


def _report(check, labels, viol, where_rows, tol):
    viol = jnp.where(jnp.isnan(viol), jnp.inf, viol)  # a NaN (broken family) is reported, never passed
    i = jnp.argmax(viol)
    where = jnp.stack([r[i] for r in where_rows])
    return ConvexityReport(
        check=check,
        labels=labels,
        worst=viol[i],
        where=where,
        n_violations=jnp.sum(viol > tol),
        n_checked=int(viol.size),
        tol=tol,
    )


def check_supporting_hyperplane(values, key: PRNGKeyArray | None = None, *, n_pairs: int = 1024, points=None, tol=None) -> ConvexityReport:
    """f(w') ≥ f(w) + ∇f(w)·(w' − w) for random pairs (w, w') (∇f by autodiff).

    Violation = f(w) + ∇f(w)·(w' − w) − f(w'). For a (sub)gradient equal to V(π_w) this is
    g_w(w') − f(w'), i.e. whether π_w beats π_{w'} at judging w' — it catches non-convex f and
    families whose π_w is not the maximiser (e.g. an ascent stopped early).

    Args:
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key for the uniform samples of Δⁿ; required unless `points` is given (default None).
        n_pairs: number of random pairs (w, w'), an int ≥ 1 (default 1024).
        points: explicit test points instead of samples: a tuple of two arrays (w, w') of shape
            (p, n+1) on Δⁿ; None (default) samples them.
        tol: violation threshold (float scalar); None (default) is √ε·(1 + max|f|) on the sampled points.

    Returns:
        A `ConvexityReport` (``worst``, ``where`` (rows named by ``labels``), ``n_violations``,
        ``n_checked``, ``tol``; ``violated`` says whether the inequality fails).

    Raises:
        ValueError: if neither `key` nor `points` is given, or a count or point is invalid.

    References:
        Danskin, J. M. (1967) The Theory of Max-Min and its Application to Weapons Allocation
        Problems, Springer (∇f(w) = V(π_w) for f(w) = max_π w·V(π)).
    """
    family = as_policy_family(values)
    w, wp = _points(family, key, n_pairs, points, 2, "n_pairs")
    return _hyperplane(family, w, wp, tol)


@eqx.filter_jit
def _hyperplane(family, w, wp, tol):
    def one(a, b):
        fa, ga = jax.value_and_grad(family.f)(a)
        fb = family.f(b)
        return fa + jnp.dot(ga, b - a) - fb, fa, fb

    if type(family) is FinitePolicies:
        viol, fw, fwp = _hyperplane_finite(family.values, w, wp)
        return _report("supporting hyperplane", ("w", "w_prime"), viol, (w, wp), _tol(tol, jnp.concatenate([fw, fwp]), fw.dtype))

    # One pass over the pairs: each chunk's scores are still in cache for f(w'), ∇f(w) and the violation.
    viol, fw, fwp = _map(one, w, wp, family=family)
    return _report("supporting hyperplane", ("w", "w_prime"), viol, (w, wp), _tol(tol, jnp.concatenate([fw, fwp]), fw.dtype))


_CVX_ROWS = 1024  # pairs per chunk (fewer for many policies): the two score blocks stay in cache for the mask
_CVX_ELEMENTS = 1 << 20


def _hyperplane_finite(values, w, wp):
    """The violation for a finite family from two score matrices S_a = W Vᵀ, S_b = W' Vᵀ (two matmuls
    instead of three): f(a) + ∇f(a)·(b − a) − f(b) = ∇f(a)·b − max s_b by linearity (∇f(a)·a = f(a)),
    and ∇f(a)·b is s_b averaged over the maximisers of s_a (Danskin, tie-averaged). Equal to the
    autodiff form up to one dot product's rounding. Chunked over pairs (`lax.map`)."""

    def block(ab):
        a, b = ab
        sa, sb = a @ values.T, b @ values.T
        fa, fb = jnp.max(sa, axis=-1), jnp.max(sb, axis=-1)
        mask = (sa == fa[:, None]).astype(sa.dtype)  # all False only for NaN scores: 0/0 = NaN → +inf
        return jnp.sum(mask * sb, axis=-1) / jnp.sum(mask, axis=-1) - fb, fa, fb

    n = w.shape[0]
    rows = max(1, min(_CVX_ROWS, _CVX_ELEMENTS // values.shape[0]))
    if n <= rows:
        return block((w, wp))
    return _chunked(block, w, wp, n, rows)


def _chunked(block, w, wp, n, rows):
    n_chunks = -(-n // rows)
    pad = n_chunks * rows - n
    shp = lambda x: jnp.pad(x, ((0, pad), (0, 0)), mode="edge").reshape(n_chunks, rows, x.shape[-1])  # noqa: E731
    out = jax.lax.map(block, (shp(w), shp(wp)))
    return tuple(o.reshape(-1)[:n] for o in out)


def check_jensen(values, key: PRNGKeyArray | None = None, *, n_chords: int = 512, n_t: int = 9, points=None, tol=None) -> ConvexityReport:
    """f((1−t)w + t w') ≤ (1−t)f(w) + t f(w') on random chords at t = 1/(n_t+1), …, n_t/(n_t+1).

    Violation = f on the segment minus the chord; `where` gives w, w' and the worst point.

    Args:
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key for the uniform samples of Δⁿ; required unless `points` is given (default None).
        n_chords: number of random chords, an int ≥ 1 (default 512).
        n_t: interior points per chord, an int ≥ 1 (default 9).
        points: explicit test points instead of samples: a tuple of two arrays (w, w') of shape
            (p, n+1) on Δⁿ; None (default) samples them.
        tol: violation threshold (float scalar); None (default) is √ε·(1 + max|f|) on the sampled points.

    Returns:
        A `ConvexityReport` (``worst``, ``where`` (rows named by ``labels``), ``n_violations``,
        ``n_checked``, ``tol``; ``violated`` says whether the inequality fails).

    Raises:
        ValueError: if neither `key` nor `points` is given, or a count or point is invalid.
    """
    family = as_policy_family(values)
    if isinstance(n_t, bool) or not isinstance(n_t, int) or n_t < 1:
        raise ValueError(f"argument `n_t` must be an integer >= 1; got {n_t!r}")
    w, wp = _points(family, key, n_chords, points, 2, "n_chords")
    return _jensen(family, w, wp, n_t, tol)


@eqx.filter_jit
def _jensen(family, w, wp, n_t, tol):
    t = (jnp.arange(1, n_t + 1, dtype=w.dtype) / (n_t + 1))[None, :, None]
    mid = (1 - t) * w[:, None, :] + t * wp[:, None, :]
    fw, fwp = _map(family.f, w, family=family), _map(family.f, wp, family=family)
    fmid = _map(family.f, mid, family=family)
    chord = (1 - t[..., 0]) * fw[:, None] + t[..., 0] * fwp[:, None]
    viol = (fmid - chord).reshape(-1)
    rep = lambda x: jnp.repeat(x, n_t, axis=0)  # noqa: E731
    return _report(
        "Jensen (chord)", ("w", "w_prime", "point"), viol, (rep(w), rep(wp), mid.reshape(-1, w.shape[-1])),
        _tol(tol, jnp.concatenate([fw, fwp]), fw.dtype),
    )


def check_hessian_psd(values, key: PRNGKeyArray | None = None, *, n_points: int = 256, points=None, tol=None) -> ConvexityReport:
    """λ_min(Bᵀ ∇²f(w) B) ≥ 0, the Hessian restricted to the tangent space Σ = 0 (B orthonormal).

    For smooth families (soft, weight-dependent with τ > 0). Violation = −λ_min; `tol` defaults
    to √ε·(1 + max|f|) — scale it for very small temperatures (Hessian ~ 1/τ).

    Args:
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key for the uniform samples of Δⁿ; required unless `points` is given (default None).
        n_points: number of random points, an int ≥ 1 (default 256).
        points: explicit test points instead of samples: a tuple of one array (w,) of shape (p, n+1)
            on Δⁿ; None (default) samples them.
        tol: violation threshold (float scalar); None (default) is √ε·(1 + max|f|) on the sampled points.

    Returns:
        A `ConvexityReport` (``worst``, ``where`` (rows named by ``labels``), ``n_violations``,
        ``n_checked``, ``tol``; ``violated`` says whether the inequality fails).

    Raises:
        ValueError: if neither `key` nor `points` is given, or a count or point is invalid.
    """
    family = as_policy_family(values)
    (w,) = _points(family, key, n_points, points, 1, "n_points")
    return _hessian(family, w, tol)


@eqx.filter_jit
def _hessian(family, w, tol):
    basis = tangent_basis(family.n_utilities, dtype=w.dtype)

    def lam_min(x):
        h = jax.hessian(family.f)(x)
        return jnp.linalg.eigvalsh(basis.T @ h @ basis)[0] if basis.shape[1] else jnp.zeros((), x.dtype)

    fw = _map(family.f, w, family=family)
    viol = -_map(lam_min, w, family=family, factor=family.n_utilities)
    return _report("tangent Hessian PSD", ("w",), viol, (w,), _tol(tol, fw, fw.dtype))


def forced_update_slope(u_t: Float[Array, "... n1"], w_prime: Float[Array, "... n1"], values) -> Float[Array, "..."]:
    """d/ds g_{w'+s(w'−U_t)}(U_t) at s = 0: how the value of forcing U_{t+1} = w' changes as w'
    moves away from U_t (autodiff). Equals −(U_t − w')ᵀ∇²f(w')(U_t − w') ≤ 0 for smooth convex f.

    Args:
        u_t: current weights U_t ∈ Δⁿ, float array of shape (..., n+1).
        w_prime: forced next weights w' ∈ Δⁿ, float array of shape (..., n+1), broadcast with `u_t`.
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).

    Returns:
        Float array of the broadcast batch shape (...): the slope (≤ 0 for smooth convex f).
    """
    family = as_policy_family(values)
    u_t, w_prime = check_weights(u_t, "u_t"), check_weights(w_prime, "w_prime")
    n1 = family.n_utilities
    if u_t.shape[-1] != n1 or w_prime.shape[-1] != n1:
        raise ValueError(f"arguments `u_t`, `w_prime` must have a last axis of n + 1 = {n1}; got {u_t.shape}, {w_prime.shape}")

    return _slopes(family, u_t, w_prime)


@eqx.filter_jit
def _slopes(family, u_t, w_prime):
    def slope(u, wp):
        return jax.jvp(lambda x: family.g(x, u), (wp,), (wp - u,))[1]

    return _map(slope, u_t, w_prime, family=family)


def check_forced_update(values, key: PRNGKeyArray | None = None, *, n_pairs: int = 1024, points=None, tol=None) -> ConvexityReport:
    """Forcing U_{t+1} = w' is worth g_{w'}(U_t) ≤ f(U_t) (maximal at w' = U_t).

    Violation = g_{w'}(U_t) − f(U_t); pairs are (U_t, w').

    Args:
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key for the uniform samples of Δⁿ; required unless `points` is given (default None).
        n_pairs: number of random pairs (U_t, w'), an int ≥ 1 (default 1024).
        points: explicit test points instead of samples: a tuple of two arrays (U_t, w') of shape
            (p, n+1) on Δⁿ; None (default) samples them.
        tol: violation threshold (float scalar); None (default) is √ε·(1 + max|f|) on the sampled points.

    Returns:
        A `ConvexityReport` (``worst``, ``where`` (rows named by ``labels``), ``n_violations``,
        ``n_checked``, ``tol``; ``violated`` says whether the inequality fails).

    Raises:
        ValueError: if neither `key` nor `points` is given, or a count or point is invalid.
    """
    family = as_policy_family(values)
    u, wp = _points(family, key, n_pairs, points, 2, "n_pairs")
    return _forced(family, u, wp, tol)


@eqx.filter_jit
def _forced(family, u, wp, tol):
    fu = _map(family.f, u, family=family)
    viol = _map(lambda a, b: family.g(b, a), u, wp, family=family) - fu
    return _report("forced update <= f(U_t)", ("u_t", "w_prime"), viol, (u, wp), _tol(tol, fu, fu.dtype))


def check_penalty_gradient(values, key: PRNGKeyArray | None = None, *, n_pairs: int = 256, points=None, tol=None) -> ConvexityReport:
    """The sign of the penalty gradient: `forced_update_slope(U_t, w')` ≤ 0 for random pairs.

    Meaningful for smooth families (the slope is −(U_t − w')ᵀ∇²f(w')(U_t − w')); violation = slope.

    Args:
        values: the policy family: a `PolicyFamily`, or an (m, n+1) float array of value vectors
            (read as `FinitePolicies`).
        key: a JAX PRNG key for the uniform samples of Δⁿ; required unless `points` is given (default None).
        n_pairs: number of random pairs (U_t, w'), an int ≥ 1 (default 256).
        points: explicit test points instead of samples: a tuple of two arrays (U_t, w') of shape
            (p, n+1) on Δⁿ; None (default) samples them.
        tol: violation threshold (float scalar); None (default) is √ε·(1 + max|f|) on the sampled points.

    Returns:
        A `ConvexityReport` (``worst``, ``where`` (rows named by ``labels``), ``n_violations``,
        ``n_checked``, ``tol``; ``violated`` says whether the inequality fails).

    Raises:
        ValueError: if neither `key` nor `points` is given, or a count or point is invalid.
    """
    family = as_policy_family(values)
    u, wp = _points(family, key, n_pairs, points, 2, "n_pairs")
    return _penalty_gradient(family, u, wp, tol)


@eqx.filter_jit
def _penalty_gradient(family, u, wp, tol):
    fu = _map(family.f, u, family=family)
    viol = _slopes(family, u, wp)
    return _report("penalty gradient <= 0", ("u_t", "w_prime"), viol, (u, wp), _tol(tol, fu, fu.dtype))
