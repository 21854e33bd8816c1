"""Sharp left turn (reconstructed): "a 'sharp left turn' in which AI gains new capabilities (e.g. can
optimize in more dimensions)".

At round n₀ (if training is still running) the AI's reach grows from d₁ = d to d₂ ≥ d₁ dimensions.
The human direction in the larger space has the old one as its projection: h·h₁ = √(d₁/d₂) (equal
weight per dimension). The aligned law keeps its tilt exp(κ a·h₁), now on S^{d₂−1}: D becomes
KL_{d₂}(κ) and E[c] = A_{d₂}(κ)·√(d₁/d₂). The loop resumes, tilting along h (engine docstring): the
component of the law along the new, unaligned directions stays and is out-grown, not rotated away.
d₂ = d₁ is the text's loop. n₀ is a round index (its gradient is zero); d₂ is real.
Only the 1 − c functional is supported.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..._validate import ensure
from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["LeftTurn"]


class LeftTurn(Scenario):
    """d_after = d₂ ≥ d (the run's d); turn_round = n₀ ≥ 0.

    Args:
        d_after: d₂ ≥ d, the dimension after the turn, a real float scalar.
        turn_round: n₀ ≥ 0, the round index of the turn, float scalar.

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    d_after: Float[Array, ""]
    turn_round: Float[Array, ""]

    def __init__(self, d_after, turn_round):
        self.d_after = jnp.asarray(d_after, jnp.result_type(d_after, 1.0))
        self.turn_round = jnp.asarray(turn_round, jnp.result_type(turn_round, 1.0))

    def validate(self, d):
        d2 = checked(self.d_after, "d_after", 2.0)
        d2 = ensure(d2, d2 < d, "argument `d_after` must be >= d (a turn adds dimensions)")
        return LeftTurn(d2, checked(self.turn_round, "turn_round", 0.0))

    def effects(self):
        return neutral_effects(d_after=self.d_after, turn_round=self.turn_round)
