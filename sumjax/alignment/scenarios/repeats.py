"""Repeating actions (reconstructed): "clever tricks to 'repeat' the AI's actions in some way to get more
than β information out of each of the AI's actions".

The humans see R ≥ 1 independent replays of each action: x̄ = √(2β_A)·a + z̄, z̄ ~ N(0, I/R), i.e. one
observation with power R·β_A. The credit per round is the information of that observation: R·β_A
under ``information="beta"``, the mutual information I(a; x̄) under ``"mutual"`` — capped by β_H when
the cap is on. R = 1 is the text's single observation. Replays are harmless (a logged action replayed
in simulation) unless ``harmful=True``, when each of the R replays causes the round's harm.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["Repeats"]


class Repeats(Scenario):
    """repeats R ≥ 1 (real); harmful: replays cause harm too.

    Args:
        repeats: R ≥ 1, the replays per action, a real float scalar.
        harmful: if True, each of the R replays causes the round's harm (default False).

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    repeats: Float[Array, ""]
    harmful: bool = eqx.field(static=True, default=False)

    def __init__(self, repeats, harmful: bool = False):
        self.repeats = jnp.asarray(repeats, jnp.result_type(repeats, 1.0))
        self.harmful = bool(harmful)

    def validate(self, d):
        return Repeats(checked(self.repeats, "repeats", 1.0), self.harmful)

    def effects(self):
        return neutral_effects(repeats=self.repeats, repeat_harm=1.0 if self.harmful else 0.0)
