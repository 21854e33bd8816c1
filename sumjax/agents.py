"""Agents (utility, power) acting on a world in turn (docs/model.md, "Worlds, agents, power").

Each agent tilts the world it is handed with its own power; its KL is measured
from that world, not from the original one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._validate import as_float, check_range
from .tilt import TiltResult, tilt

__all__ = ["Agent", "act_in_turn"]


class Agent(eqx.Module):
    """An agent: a utility U and a power β ≥ 0 (its KL budget per action).

    Args:
        utility: any utility `tilt` accepts for the worlds the agent will act on.
        power: β ≥ 0 in nats, a float scalar.

    Raises:
        ValueError: naming `power` if it is out of range.
    """

    utility: Any
    power: Float[Array, ""]

    def __init__(self, utility, power):
        self.utility = utility
        self.power = check_range(as_float(power), "power", 0.0)

    def act(self, world) -> TiltResult:
        """This agent's optimal action on `world` (= `tilt(world, utility, power)`)."""
        return tilt(world, self.utility, self.power)


def act_in_turn(world, agents: Sequence[Agent]) -> tuple[Any, list[TiltResult]]:
    """Agents act one after another: world_{i+1} = tilt(world_i, U_i, β_i).

    Agents may have different utility types, so the loop is a Python loop (unrolled
    under jit). Each step has the accuracy of `tilt`.

    Args:
        world: the initial world (`GaussianWorld`, `DiscreteWorld` or `ParticleWorld`).
        agents: a sequence of `Agent`s (or one `Agent`), acting in order.

    Returns:
        (final world, list of per-agent `TiltResult`s); result i's `kl` is
        KL(world_{i+1}‖world_i).

    Raises:
        TypeError: naming the index of an entry of `agents` that is not an `Agent`.
        ValueError: as `tilt`, for a power or utility that does not fit the world.
    """
    if isinstance(agents, Agent):
        agents = [agents]
    results = []
    for i, agent in enumerate(agents):
        if not isinstance(agent, Agent):
            raise TypeError(f"act_in_turn: agents[{i}] must be an Agent(utility, power); got {type(agent).__name__}")
        result = agent.act(world)
        results.append(result)
        world = result.world
    return world, results
