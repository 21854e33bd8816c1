"""AI power growing during training (reconstructed): "the ability for the AI to become more powerful over
time ... (β_A increases over time while the AI is being altered)".

β_A,n = β₀·(1 + γ)^n (``schedule="exponential"``) or β₀·(1 + γn) (``"linear"``), β_H fixed; the credit
and the threshold use β_A,n round by round. A run that starts harmless (β₀ ≤ β_H) turns harmful when
β_A,n crosses β_H before alignment is reached: with the cap (δ = β_A,n while β_A,n ≤ β_H) and progress
in D that happens iff Σ_{n<m} β_A,n < D*, m the first round with β_A,m > β_H. γ = 0 is the text's loop.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["PowerGrowth"]


class PowerGrowth(Scenario):
    """growth γ ≥ 0 per round; schedule "exponential" or "linear".

    Args:
        growth: γ ≥ 0, the growth of β_A per round, float scalar.
        schedule: ``"exponential"`` (default; β_A,n = β₀(1 + γ)^n) or ``"linear"``
            (β_A,n = β₀(1 + γn)).

    Raises:
        ValueError: naming `schedule` if it is not an allowed name. The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    growth: Float[Array, ""]
    schedule: Literal["exponential", "linear"] = eqx.field(static=True, default="exponential")

    def __init__(self, growth, schedule: Literal["exponential", "linear"] = "exponential"):
        if schedule not in ("exponential", "linear"):
            raise ValueError(f"argument `schedule` must be one of ('exponential', 'linear'); got {schedule!r}")
        self.growth = jnp.asarray(growth, jnp.result_type(growth, 1.0))
        self.schedule = schedule

    def validate(self, d):
        return PowerGrowth(checked(self.growth, "growth", 0.0), self.schedule)

    def effects(self):
        return neutral_effects(growth=self.growth, linear=1.0 if self.schedule == "linear" else 0.0)
