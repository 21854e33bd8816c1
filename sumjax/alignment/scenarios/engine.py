"""The scenario engine: the alignment training loop as a `lax.scan` over rounds (docs/model.md, "Scenarios").

State of the loop (reconstructed; the SUM text's loop, generalised so that the effects its
conclusion lists "not included" can be switched on one at a time):

* the law of the AI's utility direction a on S^{d−1} is p(a) ∝ exp(k·a) with natural parameter
  k = κ(cos θ·h + sin θ·e) in the plane of the human direction h and one orthogonal direction e:
  its divergence from uniform is D = KL_d(κ) (`_vmf.kl`) and E[c] = A_d(κ)·cos θ. Every scenario
  of the text's own loop keeps θ = 0 (law vMF(h, κ)); sandboxing and the sharp left turn rotate it.
* a round credited δ nats tilts the law along its direction u (h; the sandbox direction e_S in a
  sandbox round): p(a) ← p(a)·exp(t·u·a)/Z, i.e. k ← k + t·u, with t ≥ 0 chosen so that the component
  k·u gains δ as the text's loop would: in the reading's progress coordinate P (P = D or √D),
  P(k·u) ← P(k·u) + `reading.progress_norm(δ)`, with P(κ) the progress of vMF(u, κ). On the text's
  own path (k ∥ h ∥ u) this is exactly D_n = nδ (n²δ over √D). A component of k orthogonal to u is
  left as it is: a law concentrated away from h (an orthogonal sandbox, new dimensions after a turn)
  must be out-tilted, not rotated for free. (Counting the law's total KL from uniform instead would
  rotate k for free and make even an orthogonal sandbox look useful.)
* humans stop when their *belief* about the law says E[c] ≥ c*; the belief equals the true law
  except for a deceptive AI (its mimicry is credited, but does not move the true law).

One round n (while not yet aligned): the AI acts with power β_A,n; the round's harm is
``harm_weight · T(β_A,n, β_H,n) · (F(law) + extra)`` (T = `reading.harm_scale`, F the reading's
functional; zero in harm-free sandbox rounds); then the law is updated with the round's credit δ_n
(``information="beta"``: `reading.step` of the informative power; ``"mutual"``: the mutual
information of the humans' observation, capped by β_H with the cap). After training, a scenario may
add deployment rounds that cause harm at the final true law.

With every effect off (`Baseline`) the engine gives exactly the round sum
Σ_{n<N} T·F(D_n), D_n = `reading.round_divergence(n, δ)`, N = ⌈D*/δ⌉ (⌈√(D*/δ)⌉ over √D), up to the
rounding of the running sum Σδ against nδ.

The scan length ``max_rounds`` is static. The run must reach E[c] ≥ c* within it: an eager call is
refused before any work when a lower bound on the rounds needed already exceeds it, and every run
checks at the end (ValueError eagerly, `equinox.error_if` under a trace) — a run never silently
stops short.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ..._numerics import safe_sqrt
from ..._validate import check_range, ensure, is_traced
from .. import _vmf
from .._bessel import vmf_core
from .._vmf import _kl_from_core
from ..readings import DEFAULT_READING, Reading
from ..information import _mutual_information

__all__ = ["Effects", "neutral_effects", "Scenario", "Baseline", "ScenarioResult", "scenario_harm", "simulate"]


# --------------------------------------------------------------------------- effects and scenarios


class Effects(eqx.Module):
    """Every effect's parameters at once; the neutral values switch an effect off. All scenarios are
    run through this one pytree, so that one compiled loop serves them all (compiling the loop is
    the expensive part: each round solves κ from D). Build it with `neutral_effects`.

    Attributes:
        k_frag: fragility power k, d' = k(d − 3) + 3 (off: 1).
        growth: power growth γ per round (off: 0).
        repeats: repeated observations R (off: 1).
        repeat_harm: 1 if each replay harms too (off: 0).
        coverage: sandbox coverage cos²φ (off when there are no sandbox rounds).
        beta_s: sandbox divergence per round (off: 0).
        sandbox_rounds: number of first rounds in the sandbox (off: 0).
        rho: deception's mimicry fraction (off: 0).
        deployment: harmful rounds after training (off: 0).
        d_after: sharp left turn's d₂ (≤ d: no turn; off: 0).
        turn_round: round of the turn (off: +inf).
        lam: goodharting curvature λ (off: 0).
        linear: 1 for β_A,n = β₀(1 + γn), 0 for β₀(1 + γ)^n.
    """

    k_frag: Float[Array, ""]  # fragility: d' = k(d − 3) + 3            (off: 1)
    growth: Float[Array, ""]  # power growth γ per round                 (off: 0)
    repeats: Float[Array, ""]  # repeated observations R                 (off: 1)
    repeat_harm: Float[Array, ""]  # 1: each replay harms too            (off: 0)
    coverage: Float[Array, ""]  # sandbox coverage cos²φ                 (any; off when no sandbox rounds)
    beta_s: Float[Array, ""]  # sandbox divergence per round             (off: 0)
    sandbox_rounds: Float[Array, ""]  # first rounds in the sandbox      (off: 0)
    rho: Float[Array, ""]  # deception: mimicry fraction                 (off: 0)
    deployment: Float[Array, ""]  # harmful rounds after training        (off: 0)
    d_after: Float[Array, ""]  # sharp left turn: d₂ (≤ d: no turn)       (off: 0)
    turn_round: Float[Array, ""]  # round of the turn                    (off: +inf)
    lam: Float[Array, ""]  # goodharting curvature λ                     (off: 0)
    linear: Float[Array, ""]  # 1: β_A,n = β₀(1 + γn) instead of β₀(1 + γ)^n (a value, not a static option:
    #                           one compiled loop for both schedules)


def neutral_effects(**values) -> Effects:
    """`Effects` with every effect off except the given ones (floats or arrays).

    Values are not range-checked (the scenario classes' `validate` does that).

    Args:
        **values: effect fields of `Effects` by name (``k_frag``, ``growth``, ``repeats``,
            ``repeat_harm``, ``coverage``, ``beta_s``, ``sandbox_rounds``, ``rho``,
            ``deployment``, ``d_after``, ``turn_round``, ``lam``, ``linear``), floats or arrays.

    Returns:
        An `Effects` whose fields share one float dtype.

    Raises:
        ValueError: listing the unknown names.
    """
    base = dict(k_frag=1.0, growth=0.0, repeats=1.0, repeat_harm=0.0, coverage=1.0, beta_s=0.0, sandbox_rounds=0.0,
                rho=0.0, deployment=0.0, d_after=0.0, turn_round=float("inf"), lam=0.0, linear=0.0)
    unknown = set(values) - set(base)
    if unknown:
        raise ValueError(f"unknown effect(s) {sorted(unknown)}; known: {sorted(base)}")
    base.update(values)
    dt = jnp.result_type(*base.values(), 1.0)
    return Effects(**{k: jnp.asarray(v, dt) for k, v in base.items()})


class Scenario(eqx.Module):
    """A scenario: its own parameters (fields) and `effects()`, the `Effects` it switches on.
    `validate(d)` returns a copy whose parameters passed the range checks."""

    def effects(self) -> Effects:
        """The `Effects` this scenario switches on (all off for the base class).

        Returns:
            An `Effects`.
        """
        return neutral_effects()

    def validate(self, d) -> "Scenario":
        """A copy whose fields passed their range checks for dimension `d`.

        Args:
            d: the run's dimension d ≥ 2.

        Returns:
            The checked scenario (the same one when there is nothing to check).

        Raises:
            ValueError: naming the field out of range (eagerly; `equinox.error_if` under a trace).
        """
        return self


class Baseline(Scenario):
    """No effect: the text's loop (reproduces `total_harm(..., method="sum")`)."""


# --------------------------------------------------------------------------- state and result


class LoopState(NamedTuple):
    prog: Array  # true progress coordinate (D or √D)
    kappa: Array  # |k| of the true law
    cos_t: Array  # cos θ, sin θ of the true law's direction
    sin_t: Array
    d: Array
    prog_b: Array  # believed progress (= prog unless the AI deceives)
    done: Array
    H: Array
    rounds: Array


class ScenarioResult(eqx.Module):
    """Outcome of one run (float scalars unless stated).

    Attributes:
        total: training + deployment harm.
        training: the harm summed over the training rounds.
        deployment: the harm of the deployment rounds after training.
        rounds: training rounds used.
        final_mean: true E[c] at the end.
        divergence: the law's true D (nats) at the end.
        believed_divergence: D as the humans credit it (differs only for a deceptive AI).
        aligned: bool; whether E[c] ≥ c* was reached (always True for a returned run).
        harm: per-round harm, shape (max_rounds,).
        mean: true E[c] at the start of each round, shape (max_rounds,).
    """

    total: Float[Array, ""]
    training: Float[Array, ""]
    deployment: Float[Array, ""]
    rounds: Float[Array, ""]
    final_mean: Float[Array, ""]
    divergence: Float[Array, ""]
    believed_divergence: Float[Array, ""]
    aligned: Bool[Array, ""]
    harm: Float[Array, " n"]
    mean: Float[Array, " n"]


# --------------------------------------------------------------------------- pieces


def functional_expectation(reading: Reading):
    """F(κ, d) of the reading's harm functional for the law vMF(h, κ).

    Args:
        reading: a `Reading`; its functional is a name in `sumjax.alignment.harm` or a
            `HarmFunctional` with an ``expectation``.

    Returns:
        The function (κ, d) ↦ E_{vMF(h, κ)}[F] (`_vmf.mean_complement` for 1 − c).

    Raises:
        ValueError: naming `reading` if its functional has no expectation the engine knows.
    """
    name = reading.functional
    if name == "one_minus_cosine":
        return _vmf.mean_complement
    fn = getattr(reading, "harm_functional", None)
    if fn is None:
        from .. import harm as _harm

        fn = getattr(_harm, name, None)
    if fn is None or not hasattr(fn, "expectation"):
        raise ValueError(f"argument `reading` has a functional {name!r} the scenario engine does not know")
    return fn.expectation


def _divergence(reading: Reading, prog):
    return reading.round_divergence(prog, 1.0)  # P or P²


def _tilt(kappa, cos_t, sin_t, t, ux, uy):
    """The law ∝ exp(k·a) tilted by exp(t·u·a): k ← k + t·u. Returns (|k|, cos θ, sin θ)."""
    kx = kappa * cos_t + t * ux
    ky = kappa * sin_t + t * uy
    r = safe_sqrt(kx * kx + ky * ky)
    ok = r > 0
    rs = jnp.where(ok, r, 1.0)
    return r, jnp.where(ok, kx / rs, cos_t), jnp.where(ok, ky / rs, sin_t)


def _beta_a(e: Effects, n, beta_a):
    return beta_a * jnp.where(e.linear > 0, 1.0 + e.growth * n, jnp.exp(n * jnp.log1p(e.growth)))


# --------------------------------------------------------------------------- the loop (pure)


def simulate(scenario, c_star, d, beta_a, beta_h, *, reading: Reading = DEFAULT_READING,
             rectify: bool = True, cap: bool = True, max_rounds: int) -> ScenarioResult:
    """The loop, unchecked (internal callers; `scenario_harm` validates and calls this). Scalars;
    ``scenario`` a `Scenario` or an `Effects`.

    Args:
        scenario: a `Scenario` (its `effects()` are used, not validated) or an `Effects`.
        c_star: the target E[c] = c* ∈ (0, 1).
        d: the dimension d ≥ 2 (real).
        beta_a: the AI's power β_A ≥ 0 (at round 0 for a growing power).
        beta_h: the humans' power β_H ≥ 0.
        reading: the `Reading` of the loop (default: the text's).
        rectify: apply the reading's threshold T(β_A, β_H) (default True).
        cap: cap each round's credit at β_H (default True).
        max_rounds: the static scan length (positive int).

    Returns:
        A `ScenarioResult`; ``aligned`` is False when the run did not reach c* within
        ``max_rounds`` (not checked here).
    """
    e = scenario if isinstance(scenario, Effects) else scenario.effects()
    return _simulate(e, c_star, d, beta_a, beta_h, jnp.asarray(cap), reading, rectify, max_rounds)


@eqx.filter_jit
def _simulate(e: Effects, c_star, d, beta_a, beta_h, cap, reading, rectify, max_rounds):
    # `cap` is an array (not static) so that capped and uncapped runs share one compiled loop
    dt = jnp.result_type(c_star, d, beta_a, beta_h, 1.0)
    c_star, d, beta_a, beta_h = (jnp.asarray(x, dt) for x in (c_star, d, beta_a, beta_h))
    e = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dt), e)
    F = functional_expectation(reading)
    linear_F = reading.functional == "one_minus_cosine"
    zero, one = jnp.zeros((), dt), jnp.ones((), dt)
    d0 = e.k_frag * (d - 3.0) + 3.0
    p_star = reading.progress_norm(_vmf.required_divergence(c_star, d0))  # as total_harm computes it
    ux_s, uy_s = safe_sqrt(e.coverage), safe_sqrt(1.0 - e.coverage)  # sandbox direction e_S in the (h, e) plane

    def law(kappa, cos_t, sin_t, dd, k_u=None):
        """(E[c], F, KL_d(k_u)): vMF(h, κ) uses the reading's functional; a rotated law needs F = 1 − E[c].
        One `vmf_core` call for both κ and k_u (each call site costs compile time in the scanned loop)."""
        ks = jnp.stack([kappa, kappa if k_u is None else k_u])
        nu = 0.5 * dd - 1.0
        R, Cc, L, Lc = vmf_core(ks, nu)
        A, comp = R[0], Cc[0]
        kl_u = _kl_from_core(ks[1], nu, R[1], Cc[1], L[1], Lc[1])
        rotated = sin_t != 0
        Fv = comp + A * sin_t * sin_t / (1.0 + cos_t) if linear_F else F(kappa, dd)  # 1 − cos θ without cancellation
        if not linear_F:
            Fv = eqx.error_if(Fv, rotated, f"the law of a left the human direction (sandbox or sharp left turn): "
                                           f"only the 'one_minus_cosine' functional is supported; got {reading.functional!r}")
        return A * cos_t, Fv, kl_u

    def aligned_now(s: LoopState, mean):
        straight = (s.sin_t == 0) & (s.d == d0)
        return jnp.where(straight, s.prog_b >= p_star, mean >= c_star)

    def turn(n, s: LoopState):
        d2 = jnp.maximum(e.d_after, s.d)
        at = (n == e.turn_round) & (d2 > s.d) & ~s.done
        cos_p = jnp.sqrt(s.d / d2)
        sin_p = safe_sqrt((d2 - s.d) / d2)
        # after a turn the law is off h (sin θ > 0): the carried progress is no longer used (the stop test
        # uses E[c]), so it is not recomputed in the new dimension
        cos_t = s.cos_t * cos_p - s.sin_t * sin_p
        sin_t = s.sin_t * cos_p + s.cos_t * sin_p
        w = lambda new, old: jnp.where(at, new, old)  # noqa: E731
        return s._replace(cos_t=w(cos_t, s.cos_t), sin_t=w(sin_t, s.sin_t), d=w(d2, s.d))

    def round_fn(s: LoopState, n):
        s = turn(n, s)
        sandbox = n < e.sandbox_rounds
        ux = jnp.where(sandbox, ux_s, one)
        uy = jnp.where(sandbox, uy_s, zero)
        k_u = jnp.maximum(s.kappa * (s.cos_t * ux + s.sin_t * uy), 0.0)
        mean, Fv, kl_u = law(s.kappa, s.cos_t, s.sin_t, s.d, k_u)
        done = s.done | aligned_now(s, mean)
        active = ~done
        ba = _beta_a(e, jnp.where(done, zero, n), beta_a)  # schedules never see rounds past the end
        T = reading.harm_scale(ba, beta_h, rectify)
        weight = (1.0 - e.rho) * (1.0 + e.repeat_harm * (e.repeats - 1.0))
        h = jnp.where(active & ~sandbox, weight * T * (Fv + e.lam * safe_sqrt(0.5 * ba)), zero)
        bi = e.repeats * ba  # power of the humans' (averaged) observation
        if reading.information == "mutual":
            delta = _mutual_information(s.kappa, s.d, bi)
        else:
            delta = bi
        delta = jnp.where(cap, jnp.minimum(delta, beta_h), delta)  # = reading.step(bi, β_H, cap) for "beta"
        delta_true = jnp.where(sandbox, e.beta_s, (1.0 - e.rho) * delta)
        delta_b = jnp.where(sandbox, e.beta_s, delta)
        # The round tilts the law along u (h, or e_S in the sandbox) by exp(t·u·a), with t such that the
        # component k·u gains the round's credit as the text's loop would: P_u ← P_u + progress(δ).
        straight = (s.sin_t == 0) & (uy == 0)  # the text's loop: k ∥ h ∥ u, P_u is the carried progress
        p_u = jnp.where(straight, s.prog, reading.progress_norm(kl_u))
        p_u = p_u + reading.progress_norm(delta_true)
        k_u_new = _vmf.kappa_from_kl(_divergence(reading, p_u), s.d)
        kappa, cos_t, sin_t = _tilt(s.kappa, s.cos_t, s.sin_t, k_u_new - k_u, ux, uy)
        kappa = jnp.where(straight, k_u_new, kappa)  # exact on the text's path
        prog = jnp.where(straight, p_u, s.prog)  # off the straight path P is not used (the stop test uses E[c])
        prog_b = s.prog_b + reading.progress_norm(delta_b)
        keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731 - frozen once aligned
        new = LoopState(keep(s.prog, prog), keep(s.kappa, kappa), keep(s.cos_t, cos_t), keep(s.sin_t, sin_t), s.d,
                        keep(s.prog_b, prog_b), done, s.H + h, s.rounds + jnp.where(active, one, zero))
        return new, (h, mean)

    init = LoopState(zero, zero, one, zero, d0, zero, jnp.zeros((), bool), zero, zero)
    final, (harm, mean) = jax.lax.scan(round_fn, init, jnp.arange(max_rounds, dtype=dt))
    final_mean, Fend, D_end = law(final.kappa, final.cos_t, final.sin_t, final.d)
    straight_end = (final.sin_t == 0) & (final.d == d0)
    D_end = jnp.where(straight_end, _divergence(reading, final.prog), D_end)
    aligned = final.done | aligned_now(final, final_mean)
    believed = _divergence(reading, final.prog_b)
    ba_end = _beta_a(e, jnp.where(aligned, final.rounds, zero), beta_a)
    T_end = reading.harm_scale(ba_end, beta_h, rectify)
    deploy = e.deployment * T_end * (Fend + e.lam * safe_sqrt(0.5 * ba_end))
    return ScenarioResult(final.H + deploy, final.H, deploy, final.rounds, final_mean, D_end, believed,
                          aligned, harm, mean)


# --------------------------------------------------------------------------- public entry


def _rounds_lower_bound(e: Effects, c_star, d, beta_a, beta_h, reading, cap):
    """Rounds needed at least, or 0 when no cheap bound applies. Without sandbox rounds, a turn or
    uncapped growth, E[c] ≤ A_d(κ) needs D ≥ D*(c*, d') and each round adds at most the credit of
    `reading.step` (the mutual information is below it)."""
    if float(e.sandbox_rounds) > 0 or float(e.d_after) > float(d) or (float(e.growth) > 0 and not cap):
        return 0
    d0 = e.k_frag * (d - 3.0) + 3.0
    p_star = float(reading.progress_norm(_vmf.required_divergence(c_star, d0)))
    bound = float(reading.progress_norm(reading.step(e.repeats * beta_a, beta_h, cap)))
    if bound <= 0:
        return np.inf
    return int(np.ceil(p_star / bound * (1 - 1e-9)))


def scenario_harm(scenario: Scenario, c_star, d, beta_a, beta_h=None, *, reading: Reading = DEFAULT_READING,
                  rectify: bool = True, cap_delta: bool | None = None, max_rounds: int = 10_000) -> ScenarioResult:
    """Total harm of the training loop under `scenario` until the humans believe E[c] ≥ c* (plus any
    deployment rounds), as a `lax.scan` of ``max_rounds`` rounds (module docstring for the model).

    c* ∈ (0, 1), real d ≥ 2, β_A ≥ 0, β_H ≥ 0 (required when rectifying or capping; the cap
    ``cap_delta=None`` follows ``rectify``), all scalars (use `jax.vmap` for batches); ``reading`` a
    `Reading`; ``max_rounds`` a positive int. Raises ValueError naming ``max_rounds`` when the run
    needs more rounds (error_if under a trace). Differentiable in every array argument and every
    array field of the scenario (round counts are piecewise constant: their gradient is zero).
    With every effect off it reproduces `total_harm(..., method="sum")` up to the rounding of the
    running sum (tests/alignment).

    Args:
        scenario: a `Scenario` (`Baseline`, `Sandbox`, `Repeats`, `PowerGrowth`, `Deception`,
            `LeftTurn`, `Goodharting`, `Fragility`); its fields are range-checked here.
        c_star: the target E[c] = c* ∈ (0, 1), float scalar.
        d: the dimension d ≥ 2 (real), float scalar.
        beta_a: the AI's power β_A ≥ 0 in nats, float scalar.
        beta_h: the humans' power β_H ≥ 0 in nats, float scalar; required when rectifying or
            capping (default None).
        reading: the `Reading` of the loop (default: the text's reading).
        rectify: apply the reading's threshold T(β_A, β_H) (default True).
        cap_delta: cap each round's credit at β_H; None (default) follows ``rectify``.
        max_rounds: the scan length, a positive int (default 10 000).

    Returns:
        A `ScenarioResult` with float scalars (and the per-round ``harm``/``mean`` of shape
        (max_rounds,)).

    Raises:
        ValueError: naming the argument: ``reading``/``scenario`` of the wrong type, a
            non-scalar or out-of-range number, a missing ``beta_h``, or ``max_rounds`` too small
            for the run.
    """
    if not isinstance(reading, Reading):
        raise ValueError(f"argument `reading` must be a sumjax.alignment.readings.Reading; got {reading!r}")
    if not isinstance(scenario, Scenario):
        raise ValueError(f"argument `scenario` must be a Scenario; got {type(scenario).__name__}")
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
        raise ValueError(f"argument `max_rounds` must be a positive int; got {max_rounds!r}")
    cap = rectify if cap_delta is None else bool(cap_delta)
    if beta_h is None:
        if rectify or cap:
            raise ValueError("argument `beta_h` is required when `rectify` or `cap_delta` is true")
        beta_h = 0.0
    dt = jnp.result_type(c_star, d, beta_a, beta_h, 1.0)
    for name, x in (("c_star", c_star), ("d", d), ("beta_a", beta_a), ("beta_h", beta_h)):
        if jnp.ndim(x) != 0:
            raise ValueError(f"argument `{name}` must be a scalar (use jax.vmap for batches); got shape {jnp.shape(x)}")
    c_star = check_range(jnp.asarray(c_star, dt), "c_star", 0.0, 1.0, lower_inclusive=False, upper_inclusive=False)
    d = check_range(jnp.asarray(d, dt), "d", 2.0)
    beta_a = check_range(jnp.asarray(beta_a, dt), "beta_a", 0.0)
    beta_h = check_range(jnp.asarray(beta_h, dt), "beta_h", 0.0)
    e = scenario.validate(d).effects()
    traced = is_traced(c_star, d, beta_a, beta_h, e)
    if not traced:
        need = _rounds_lower_bound(e, c_star, d, beta_a, beta_h, reading, cap)
        if need > max_rounds:
            raise ValueError(f"argument `max_rounds` ({max_rounds}) is too small: this run needs at least {need} rounds "
                             f"to reach E[c] = c*; raise `max_rounds`")
    out = _simulate(e, c_star, d, beta_a, beta_h, jnp.asarray(cap), reading, rectify, max_rounds)
    msg = (f"argument `max_rounds` ({max_rounds}) is too small: the run did not reach E[c] = c* within it "
           "(or never can: e.g. δ = 0); raise `max_rounds` or check the powers")
    total = ensure(out.total, ~out.aligned, msg)
    return eqx.tree_at(lambda r: r.total, out, total)
