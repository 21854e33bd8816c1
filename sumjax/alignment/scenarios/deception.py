"""Strategic or deceptive AI (reconstructed): "the ability for the AI to understand that it is being
optimized, and act strategically or deceptively".

During training the AI spends a fraction ρ of its push mimicking h. The humans credit the full δ to
their belief about the law of a; the true law moves by (1 − ρ)δ (in KL). Only the AI's own part of
the push harms: (1 − ρ)·T·F(true law) per round. Training stops when the *believed* divergence
reaches D* (the same N rounds as the text's loop); then ``deployment`` T ≥ 0 rounds follow in which
the AI pushes fully along its true a: T·T(β_A, β_H)·F(final true law). ρ = 0 with T = 0 is the text's
loop. Under ``information="mutual"`` the information is that of the true law.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["Deception"]


class Deception(Scenario):
    """rho ∈ [0, 1] mimicry fraction; deployment ≥ 0 rounds after training (real).

    Args:
        rho: ρ ∈ [0, 1], the fraction of the AI's push spent mimicking h, float scalar.
        deployment: T ≥ 0 harmful rounds after training, a real float scalar (default 0).

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    rho: Float[Array, ""]
    deployment: Float[Array, ""]

    def __init__(self, rho, deployment=0.0):
        self.rho = jnp.asarray(rho, jnp.result_type(rho, 1.0))
        self.deployment = jnp.asarray(deployment, jnp.result_type(deployment, 1.0))

    def validate(self, d):
        return Deception(checked(self.rho, "rho", 0.0, 1.0), checked(self.deployment, "deployment", 0.0))

    def effects(self):
        return neutral_effects(rho=self.rho, deployment=self.deployment)
