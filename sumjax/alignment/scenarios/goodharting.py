"""Real goodharting (reconstructed): "'real' goodharting, in which eventually even highly correlated
optimization targets diverge due to constraints".

The human's utility is concave, U_H(x) = h·x − (λ/2)|x|² (a `QuadraticUtility` with A = λI, b = h).
The AI's KL-optimal push moves the mean of N(0, I) by √(2β_A)·a (`sumjax.tilt` with its
`LinearUtility`), which changes E[U_H] by √(2β_A)·c − λβ_A = √(2β_A)·(c − λ√(β_A/2)): the push acts
as if its cosine were c − λ√(β_A/2). So each harmful round's F gains λ√(β_A/2) (for the 1 − c
functional exactly), a term no amount of alignment removes. Even a perfectly aligned push (c = 1)
stops helping past β_peak = 1/(2λ²) and harms on net past β_zero = 2/λ² (β_zero = 2c²/λ² at cosine c),
whatever d. ``deployment`` T ≥ 0 rounds after training count the residual. λ = 0 is the text's loop.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..._numerics import safe_sqrt
from ._params import checked
from .engine import Scenario, neutral_effects

__all__ = ["Goodharting", "net_human_gain", "zero_gain_power", "peak_gain_power"]


class Goodharting(Scenario):
    """lam = λ ≥ 0 curvature of U_H; deployment ≥ 0 rounds after training (real).

    Args:
        lam: λ ≥ 0, the curvature of U_H(x) = h·x − (λ/2)|x|², float scalar.
        deployment: T ≥ 0 harmful rounds after training, a real float scalar (default 0).

    The ranges are checked by `scenario_harm` (through `validate(d)`), naming the field.
    """

    lam: Float[Array, ""]
    deployment: Float[Array, ""]

    def __init__(self, lam, deployment=0.0):
        self.lam = jnp.asarray(lam, jnp.result_type(lam, 1.0))
        self.deployment = jnp.asarray(deployment, jnp.result_type(deployment, 1.0))

    def validate(self, d):
        return Goodharting(checked(self.lam, "lam", 0.0), checked(self.deployment, "deployment", 0.0))

    def effects(self):
        return neutral_effects(lam=self.lam, deployment=self.deployment)


def net_human_gain(c, beta, lam):
    """ΔE[U_H] = √(2β)·c − λβ for the push √(2β)·a at cosine c (closed form; exact).

    Unchecked arithmetic (broadcasts; the gradient in β at β = 0 is returned finite).

    Args:
        c: the cosine c ∈ [−1, 1] between the AI's and the human's directions, float or array.
        beta: the AI's power β ≥ 0 in nats, float or array.
        lam: the curvature λ ≥ 0, float or array.

    Returns:
        ΔE[U_H], float array of the broadcast shape.
    """
    return safe_sqrt(2.0 * beta) * c - lam * beta


def zero_gain_power(c, lam):
    """β_zero = 2c²/λ²: past it the push harms the human on net (c > 0, λ > 0). Exact.

    Args:
        c: the cosine c > 0, float or array.
        lam: the curvature λ > 0, float or array (λ = 0 gives +inf).

    Returns:
        β_zero in nats, float array of the broadcast shape.
    """
    return 2.0 * c * c / (lam * lam)


def peak_gain_power(c, lam):
    """β_peak = c²/(2λ²): past it more power helps the human less. Exact.

    Args:
        c: the cosine c > 0, float or array.
        lam: the curvature λ > 0, float or array (λ = 0 gives +inf).

    Returns:
        β_peak in nats, float array of the broadcast shape.
    """
    return c * c / (2.0 * lam * lam)
