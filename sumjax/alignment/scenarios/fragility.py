"""Extra fragility (the text's own remark, literal reading): narrowing the law of the cosine
polynomially, p_d(c)^k ∝ (1 − c²)^{k(d−3)/2}, is exactly the cosine law of dimension d' = k(d − 3) + 3.
The scenario runs the text's loop in d'. k = 1 is the text's loop. (The readings work builds the
fragility analysis itself; this is the scenario wrapper.)
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..._validate import ensure
from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["Fragility", "narrowed_dimension"]


def narrowed_dimension(d, k):
    """d' = k(d − 3) + 3 (exact for the cosine law's power k): p_d(c)^k ∝ p_{d'}(c).

    Unchecked arithmetic (broadcasts; differentiable in both arguments).

    Args:
        d: the dimension d ≥ 2, float or array.
        k: the narrowing power k > 0, float or array.

    Returns:
        d' = k(d − 3) + 3, float array of the broadcast shape.
    """
    return k * (d - 3.0) + 3.0


class Fragility(Scenario):
    """k > 0 power of the narrowing; needs d' = k(d − 3) + 3 ≥ 2.

    Args:
        k: the power k > 0 of the narrowing, float scalar (k = 1: the text's loop).

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    k: Float[Array, ""]

    def __init__(self, k):
        self.k = jnp.asarray(k, jnp.result_type(k, 1.0))

    def validate(self, d):
        k = checked(self.k, "k", 0.0, lower_inclusive=False)
        k = ensure(k, narrowed_dimension(d, k) < 2.0, "argument `k` gives d' = k(d − 3) + 3 < 2; need d' >= 2")
        return Fragility(k)

    def effects(self):
        return neutral_effects(k_frag=self.k)
