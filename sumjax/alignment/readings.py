"""Readings of the reconstructed SUM training loop (docs/model.md, "Readings").

The SUM text lost its formulas; what survives fixes the loop only up to a few choices. A
*reading* fixes all of them at once:

* ``measure``   — units of the per-round harm: ``"sqrt_kl"`` (√KL, the text's Appendix 2) or ``"kl"``.
* ``progress``  — what a round adds to alignment: ``"D"`` (δ of KL per round) or ``"sqrt_D"``
  (√δ of √KL per round, Appendix 2's "integrate with respect to √KL").
* ``threshold`` — the rectification threshold T(β_A, β_H), "a threshold function" in the text:
  ``"relu_sqrt"`` ReLU(√β_A − √β_H), ``"sqrt_relu"`` √ReLU(β_A − β_H), ``"relu"`` ReLU(β_A − β_H).
* ``functional`` — the harm functional F of the law of a (``"one_minus_cosine"``: 1 − E[c];
  ``"negative_part"``: E[max(0, −c)]; or any `HarmFunctional`).
* ``information`` — alignment divergence gained per round: ``"beta"`` (δ = β_A, the text's
  "expected information", an upper bound) or ``"mutual"`` (δ = I(a; x), the mutual information
  of the humans' observation x = √(2β_A)·a + z under the current law of a).

Per-round harm: h = T·F(D) where T is the threshold in the measure's units. The scale-free
readings (H depends on β_A, β_H only through r = β_A/β_H) are those whose threshold has the
same homogeneity degree as the progress per round; ``SCALE_FREE_KL`` and ``SCALE_FREE_SQRT_KL``
are the two the text's words single out, ``FIRST_RECONSTRUCTION`` the package's first reading
(√KL harm, progress in D: not scale-free, kept under its own name).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp

from .._numerics import safe_sqrt

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
]

Measure = Literal["sqrt_kl", "kl"]
Progress = Literal["D", "sqrt_D"]
Threshold = Literal["relu_sqrt", "sqrt_relu", "relu"]
Information = Literal["beta", "mutual"]

# Natural units of each threshold formula: True for a √KL amount, False for a KL amount.
_SQRT_UNITS = {"relu_sqrt": True, "sqrt_relu": True, "relu": False}


def _one_of(x, name, allowed):
    if x not in allowed:
        raise ValueError(f"argument `{name}` must be one of {tuple(allowed)}; got {x!r}")
    return x


class Reading(eqx.Module):
    """One complete reading of the reconstructed loop (all fields static)."""

    measure: Measure = eqx.field(static=True, default="kl")
    progress: Progress = eqx.field(static=True, default="D")
    threshold: Threshold = eqx.field(static=True, default="relu")
    functional: str = eqx.field(static=True, default="one_minus_cosine")
    information: Information = eqx.field(static=True, default="beta")
    name: str = eqx.field(static=True, default="custom")

    def __check_init__(self):
        _one_of(self.measure, "measure", ("sqrt_kl", "kl"))
        _one_of(self.progress, "progress", ("D", "sqrt_D"))
        _one_of(self.threshold, "threshold", tuple(_SQRT_UNITS))
        _one_of(self.information, "information", ("beta", "mutual"))

    # ---- the pieces every loop (integral, round sum, series, Monte Carlo, scenarios) uses

    def harm_scale(self, beta_a, beta_h, rectify: bool = True):
        """T: the per-round harm is T·F(D). Unrectified: β_A in the measure's units."""
        if not rectify:
            return safe_sqrt(beta_a) if self.measure == "sqrt_kl" else beta_a
        if self.threshold == "relu_sqrt":
            t = jax.nn.relu(safe_sqrt(beta_a) - safe_sqrt(beta_h))
        elif self.threshold == "sqrt_relu":
            t = safe_sqrt(jax.nn.relu(beta_a - beta_h))
        else:
            t = jax.nn.relu(beta_a - beta_h)
        sqrt_units = _SQRT_UNITS[self.threshold]
        if self.measure == "kl" and sqrt_units:
            return t * t
        if self.measure == "sqrt_kl" and not sqrt_units:
            return safe_sqrt(t)
        return t

    def step(self, beta_a, beta_h, cap: bool = True):
        """δ under ``information="beta"``: β_A, or min(β_A, β_H) with the cap."""
        return jnp.minimum(beta_a, beta_h) if cap else beta_a

    def progress_norm(self, delta):
        """What one round adds in the progress measure: δ, or √δ over √D."""
        return delta if self.progress == "D" else safe_sqrt(delta)

    def round_divergence(self, n, delta):
        """D_n, the alignment divergence at the start of round n: nδ, or n²δ over √D."""
        return (n if self.progress == "D" else n * n) * delta


#: KL harm, progress in D, threshold ReLU(β_A − β_H): H = (r − 1)₊·∫₀^{D*} F dD ∝ d.
SCALE_FREE_KL = Reading("kl", "D", "relu", name="scale_free_kl")
#: √KL harm, progress in √D, threshold ReLU(√β_A − √β_H): H = (√r − 1)₊·∫₀^{√D*} F d√D ∝ √d.
SCALE_FREE_SQRT_KL = Reading("sqrt_kl", "sqrt_D", "relu_sqrt", name="scale_free_sqrt_kl")
#: The package's first reading: √KL harm, progress in D (H ∝ 1/√β_H at fixed ratio: not scale-free).
FIRST_RECONSTRUCTION = Reading("sqrt_kl", "D", "relu_sqrt", name="first_reconstruction")
#: The default (see docs/model.md for why).
DEFAULT_READING = SCALE_FREE_KL
