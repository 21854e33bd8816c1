"""Sandboxing (reconstructed; docs/model.md, "Scenarios"): "the ability for the aligners to 'sandbox'
the AI, limiting its domain during alignment".

The human direction is h = cos φ·e_S + sin φ·e_⊥: the sandbox sees only the component along e_S, with
coverage q = cos²φ. The first ``rounds`` rounds are sandbox rounds: harm-free, each adds divergence
β_S along e_S only (the law is tilted by exp(t·e_S·a)). The law stays ∝ exp(κ₁ e_S·a + κ₂ e_⊥·a), with
D = KL_d(|κ|) and E[c] = A_d(|κ|)·(κ₁ cos φ + κ₂ sin φ)/|κ|: the sandbox alone caps E[c] at cos φ.
The ordinary rounds that follow tilt along h (engine docstring): the part of the law the sandbox
concentrated away from h stays and must be out-tilted, so a sandbox of low coverage can *raise* the
harm of the rounds after it. Training stops as soon as E[c] ≥ c*, in or out of the sandbox.
``rounds`` = 0 is the text's loop. Only the 1 − c functional is supported (the law leaves h).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["Sandbox"]


class Sandbox(Scenario):
    """coverage q = cos²φ ∈ [0, 1]; beta_s ≥ 0 divergence per sandbox round; rounds ≥ 0 sandbox rounds first.

    Args:
        coverage: q = cos²φ ∈ [0, 1], the share of h the sandbox sees, float scalar.
        beta_s: β_S ≥ 0 in nats, the divergence added per sandbox round, float scalar.
        rounds: ≥ 0, the number of sandbox rounds at the start, a real float scalar.

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    coverage: Float[Array, ""]
    beta_s: Float[Array, ""]
    rounds: Float[Array, ""]

    def __init__(self, coverage, beta_s, rounds):
        self.coverage = jnp.asarray(coverage, jnp.result_type(coverage, 1.0))
        self.beta_s = jnp.asarray(beta_s, jnp.result_type(beta_s, 1.0))
        self.rounds = jnp.asarray(rounds, jnp.result_type(rounds, 1.0))

    def validate(self, d):
        return Sandbox(checked(self.coverage, "coverage", 0.0, 1.0), checked(self.beta_s, "beta_s", 0.0),
                       checked(self.rounds, "rounds", 0.0))

    def effects(self):
        return neutral_effects(coverage=self.coverage, beta_s=self.beta_s, sandbox_rounds=self.rounds)
