"""Readings of the reconstructed SUM training loop (docs/model.md §2.5–§2.7).

The SUM text lost its formulas; what survives fixes the loop only up to a few choices. A
*reading* fixes all of them at once:

* ``measure``   — units of the AI's push per round: ``"sqrt_kl"`` (√β_A, the text's Appendix 2)
  or ``"kl"`` (β_A). Homogeneity degree m = ½ or 1 in the powers.
* ``progress``  — what a round adds to alignment: ``"D"`` (δ of KL) or ``"sqrt_D"`` (√δ of √KL,
  Appendix 2's "integrate with respect to √KL"). Degree q = 1 or ½ in δ.
* ``threshold`` — the rectification, "a threshold function" of the powers in the text:
  ``"relu_sqrt"`` ReLU(√β_A − √β_H), ``"sqrt_relu"`` √ReLU(β_A − β_H), ``"relu"`` ReLU(β_A − β_H).
* ``functional`` — the harm functional F of the law of a (``"one_minus_cosine"``: 1 − E[c];
  ``"negative_part"``: E[max(0, −c)]; or any `HarmFunctional`).
* ``information`` — alignment divergence gained per round: ``"beta"`` (δ = β_A, the text's
  "expected information"; an upper bound) or ``"mutual"`` (δ = I(a; x), the mutual information of
  the humans' observation x = √(2β_A)·a + z under the current law of a; `information.py`).

**Semantics (why).** Per-round harm is h = T·F(D_n) with T = β_A^m·θ, where θ ∈ [0, 1] is the
fraction of the AI's push the humans leave uncancelled: θ = t/β_A^k for the threshold formula t of
degree k (θ = 1 − √(β_H/β_A), √(1 − β_H/β_A), 1 − β_H/β_A for the three shapes), and θ = 1 without
rectification. In its own units each threshold is the text's literal formula (ReLU(√β_A − √β_H)
and √ReLU(β_A − β_H) in √KL, ReLU(β_A − β_H) in KL); read in the other unit it is the same
fraction of the push. This keeps the three choices independent — all 2 × 3 (measure, threshold)
pairs are distinct functions (converting the threshold's *value* instead, t² or √t, would make
√ReLU and ReLU coincide) — and puts the whole power-scale dependence in the measure: with δ = β_H
(rectified, β_A ≥ β_H) H = T/δ^q·∫F d(progress) depends on the powers only through r = β_A/β_H
exactly when m = q, i.e. (``kl``, ``D``) or (``sqrt_kl``, ``sqrt_D``), for every threshold shape
and functional (with ``information="beta"``; I(a; x) depends on β_A itself, so ``"mutual"`` is not
scale-free). The anchors: ``SCALE_FREE_KL`` gives H = (r − 1)₊·∫₀^{D*}(1 − E[c]) dD ∝ d;
``SCALE_FREE_SQRT_KL`` gives H ∝ √d; ``FIRST_RECONSTRUCTION`` (√KL harm, progress in D, the
package's first reading) gives H ∝ 1/√β_H at fixed r.

Kernel module: the methods never validate (the loop's public functions do).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp

from .._numerics import safe_sqrt
from .functionals import FUNCTIONALS, HarmFunctional, as_functional

__all__ = [
    "Reading",
    "Measure",
    "Progress",
    "Threshold",
    "Information",
    "SCALE_FREE_KL",
    "SCALE_FREE_SQRT_KL",
    "FIRST_RECONSTRUCTION",
    "DEFAULT_READING",
    "READINGS",
    "as_reading",
    "all_readings",
]

Measure = Literal["sqrt_kl", "kl"]
Progress = Literal["D", "sqrt_D"]
Threshold = Literal["relu_sqrt", "sqrt_relu", "relu"]
Information = Literal["beta", "mutual"]

MEASURES = ("sqrt_kl", "kl")
PROGRESSES = ("D", "sqrt_D")
THRESHOLDS = ("relu_sqrt", "sqrt_relu", "relu")
INFORMATIONS = ("beta", "mutual")


def _one_of(x, name, allowed):
    if not isinstance(x, str) or x not in allowed:
        raise ValueError(f"argument `{name}` must be one of {tuple(allowed)}; got {x!r}")
    return x


class Reading(eqx.Module):
    """One complete reading of the reconstructed loop (all fields static; hashable).

    Attributes:
        measure: ``"kl"`` (default) or ``"sqrt_kl"``: units of the push per round.
        progress: ``"D"`` (default) or ``"sqrt_D"``: what a round adds to alignment.
        threshold: ``"relu"`` (default), ``"relu_sqrt"`` or ``"sqrt_relu"``: the rectification.
        functional: a `HarmFunctional` or the name ``"one_minus_cosine"`` (default) /
            ``"negative_part"``.
        information: ``"beta"`` (default; δ = β_A) or ``"mutual"`` (δ = I(a; x)).
        name: a label (default ``"custom"``).

    Raises:
        ValueError: naming the field, if a field is not one of its allowed values.
    """

    measure: Measure = eqx.field(static=True, default="kl")
    progress: Progress = eqx.field(static=True, default="D")
    threshold: Threshold = eqx.field(static=True, default="relu")
    functional: str | HarmFunctional = eqx.field(static=True, default="one_minus_cosine")
    information: Information = eqx.field(static=True, default="beta")
    name: str = eqx.field(static=True, default="custom")

    def __check_init__(self):
        _one_of(self.measure, "measure", MEASURES)
        _one_of(self.progress, "progress", PROGRESSES)
        _one_of(self.threshold, "threshold", THRESHOLDS)
        as_functional(self.functional)
        _one_of(self.information, "information", INFORMATIONS)

    # ---- static facts

    @property
    def harm_functional(self) -> HarmFunctional:
        return as_functional(self.functional)

    @property
    def functional_name(self) -> str:
        return self.harm_functional.name

    @property
    def measure_degree(self) -> float:
        """m: T ∝ β^m under a common rescaling of the powers."""
        return 0.5 if self.measure == "sqrt_kl" else 1.0

    @property
    def progress_degree(self) -> float:
        """q: one round adds δ^q to the progress measure."""
        return 1.0 if self.progress == "D" else 0.5

    @property
    def scale_free(self) -> bool:
        """H depends on (β_A, β_H) only through β_A/β_H (m = q and δ = min(β_A, β_H) or β_A)."""
        return self.measure_degree == self.progress_degree and self.information == "beta"

    @property
    def label(self) -> str:
        return f"{self.measure}/{self.progress}/{self.threshold}/{self.functional_name}/{self.information}"

    def replace(self, **changes) -> "Reading":
        """A copy with some fields changed (the name becomes "custom" unless given).

        Args:
            **changes: new values of fields (any of the constructor's arguments).

        Returns:
            A new `Reading`.
        """
        changes.setdefault("name", "custom")
        return dataclasses.replace(self, **changes)

    # ---- the pieces every loop (integral, round sum, series, Monte Carlo, scenarios) uses

    def threshold_value(self, beta_a, beta_h):
        """t: the threshold formula in its own units (degree k = ½, ½, 1).

        Args:
            beta_a: the AI's push power β_A ≥ 0 (float array), broadcast with `beta_h`.
            beta_h: the humans' power β_H ≥ 0 (float array).

        Returns:
            Float array of the broadcast shape of the arguments, in their dtype: t ≥ 0.
        """
        if self.threshold == "relu_sqrt":
            return jax.nn.relu(safe_sqrt(beta_a) - safe_sqrt(beta_h))
        if self.threshold == "sqrt_relu":
            return safe_sqrt(jax.nn.relu(beta_a - beta_h))
        return jax.nn.relu(beta_a - beta_h)

    def harm_scale(self, beta_a, beta_h, rectify: bool = True):
        """T: the per-round harm is T·F(D). T = β_A^m·θ with θ the uncancelled fraction (module doc);
        unrectified θ = 1. Exact; gradient 0 (not inf/NaN) where β_A = 0.

        Args:
            beta_a: the AI's push power β_A ≥ 0 (float array), broadcast with `beta_h`.
            beta_h: the humans' power β_H ≥ 0 (float array).
            rectify: apply the threshold (default True); False gives θ = 1.

        Returns:
            Float array of the broadcast shape of the arguments, in their dtype: T ≥ 0.
        """
        if not rectify:
            return safe_sqrt(beta_a) if self.measure == "sqrt_kl" else beta_a
        t = self.threshold_value(beta_a, beta_h)
        t_sqrt_units = self.threshold != "relu"
        if self.measure == "kl" and t_sqrt_units:
            return t * safe_sqrt(beta_a)  # θ·β_A with θ = t/√β_A
        if self.measure == "sqrt_kl" and not t_sqrt_units:
            pos = t > 0  # t > 0 ⇒ β_A > β_H ≥ 0
            return jnp.where(pos, t / safe_sqrt(jnp.where(pos, beta_a, 1.0)), 0.0)  # θ·√β_A with θ = t/β_A
        return t

    def step(self, beta_a, beta_h, cap: bool = True):
        """δ under ``information="beta"``: β_A, or min(β_A, β_H) with the cap.

        Args:
            beta_a: the AI's push power β_A ≥ 0 (float array), broadcast with `beta_h`.
            beta_h: the humans' power β_H ≥ 0 (float array).
            cap: cap δ at β_H (default True).

        Returns:
            Float array of the broadcast shape of the arguments, in their dtype: δ ≥ 0.
        """
        return jnp.minimum(beta_a, beta_h) if cap else beta_a

    def progress_norm(self, delta):
        """What one round adds in the progress measure: δ, or √δ over √D.

        Args:
            delta: the divergence δ ≥ 0 gained in a round (float array).

        Returns:
            Float array of the shape of `delta`: δ or √δ.
        """
        return delta if self.progress == "D" else safe_sqrt(delta)

    def round_divergence(self, n, delta):
        """D_n, the alignment divergence at the start of round n for a constant δ: nδ, or n²δ over √D.

        Args:
            n: the round index n ≥ 0 (int or float array), broadcast with `delta`.
            delta: the constant gain δ ≥ 0 per round (float array).

        Returns:
            Float array of the broadcast shape: D_n ≥ 0.
        """
        return (n if self.progress == "D" else n * n) * delta

    def next_divergence(self, D, delta):
        """D after one more round that gains δ: D + δ, or (√D + √δ)² over √D.

        Args:
            D: the divergence D ≥ 0 before the round (float array), broadcast with `delta`.
            delta: the gain δ ≥ 0 of the round (float array).

        Returns:
            Float array of the broadcast shape: the divergence after the round.
        """
        if self.progress == "D":
            return D + delta
        r = safe_sqrt(D) + safe_sqrt(delta)
        return r * r

    def round_information(self, kappa, d, beta_a, beta_h, cap: bool = True):
        """δ(κ): the divergence gained in a round that starts at concentration κ.

        Args:
            kappa: concentration κ ≥ 0 at the start of the round (float array).
            d: dimension d ≥ 2 (float array).
            beta_a: the AI's push power β_A ≥ 0 (float array), broadcast with `beta_h`.
            beta_h: the humans' power β_H ≥ 0 (float array).
            cap: cap δ at β_H (default True).
                All arrays broadcast together.

        Returns:
            Float array of the broadcast shape of the arguments, in their dtype: δ(κ) ≥ 0 in nats.
        """
        if self.information == "beta":
            return jnp.broadcast_to(self.step(beta_a, beta_h, cap), jnp.broadcast_shapes(
                jnp.shape(kappa), jnp.shape(d), jnp.shape(beta_a), jnp.shape(beta_h)))
        from .information import _mutual_information

        I = _mutual_information(kappa, d, beta_a)
        return jnp.minimum(I, beta_h) if cap else I


#: KL harm, progress in D, threshold ReLU(β_A − β_H): H = (r − 1)₊·∫₀^{D*} F dD ∝ d.
SCALE_FREE_KL = Reading("kl", "D", "relu", name="scale_free_kl")
#: √KL harm, progress in √D, threshold ReLU(√β_A − √β_H): H = (√r − 1)₊·∫₀^{√D*} F d√D ∝ √d.
SCALE_FREE_SQRT_KL = Reading("sqrt_kl", "sqrt_D", "relu_sqrt", name="scale_free_sqrt_kl")
#: The package's first reading: √KL harm, progress in D (H ∝ 1/√β_H at fixed ratio: not scale-free).
FIRST_RECONSTRUCTION = Reading("sqrt_kl", "D", "relu_sqrt", name="first_reconstruction")
#: The default: scale-free, and the one reading under which the text's "H ∝ d" holds (docs/model.md).
DEFAULT_READING = SCALE_FREE_KL

READINGS = {r.name: r for r in (SCALE_FREE_KL, SCALE_FREE_SQRT_KL, FIRST_RECONSTRUCTION)}

_FIELDS = ("measure", "progress", "threshold", "functional", "information")


def as_reading(reading=None, **overrides) -> Reading:
    """A `Reading` from a Reading, a name in `READINGS` (or None: the default), with field
    overrides (``None`` values ignored; ``integrate_over`` is an alias of ``progress``).

    Args:
        reading: a `Reading`, a name in `READINGS` (``"scale_free_kl"``, ``"scale_free_sqrt_kl"``,
            ``"first_reconstruction"``), or None for `DEFAULT_READING`.
        **overrides: field values to change (``measure``, ``progress``, ``threshold``, ``functional``,
            ``information``, or ``integrate_over`` as an alias of ``progress``); None values are ignored.

    Returns:
        The `Reading` (the input itself when nothing changes).

    Raises:
        ValueError: for an unknown reading name or field value.
        TypeError: for an unknown override name.
    """
    if reading is None:
        reading = DEFAULT_READING
    elif isinstance(reading, str):
        if reading not in READINGS:
            raise ValueError(f"argument `reading` must be a Reading or one of {tuple(READINGS)}; got {reading!r}")
        reading = READINGS[reading]
    elif not isinstance(reading, Reading):
        raise ValueError(f"argument `reading` must be a Reading or one of {tuple(READINGS)}; got {reading!r}")
    if "integrate_over" in overrides:
        alias = overrides.pop("integrate_over")
        if alias is not None:
            overrides["progress"] = alias
    bad = set(overrides) - set(_FIELDS)
    if bad:
        raise TypeError(f"unknown reading option(s) {sorted(bad)}; allowed: {_FIELDS}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes or all(getattr(reading, k) == v for k, v in changes.items()):
        return reading
    return reading.replace(**changes)


def all_readings(functionals=("one_minus_cosine", "negative_part"), information: Information = "beta"):
    """Every (measure × progress × threshold × functional) reading, named m/p/t/f.

    Args:
        functionals: names (or `HarmFunctional`s) of the functionals to cross with
            (default both built-ins).
        information: ``"beta"`` (default) or ``"mutual"`` for every reading.

    Returns:
        A list of 2 × 2 × 3 × len(functionals) `Reading`s, named ``measure/progress/threshold/functional``.
    """
    return [
        Reading(m, p, t, f, information, name=f"{m}/{p}/{t}/{f}")
        for m in MEASURES for p in PROGRESSES for t in THRESHOLDS for f in functionals
    ]
