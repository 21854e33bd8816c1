"""Scenarios of the training loop: the effects the SUM text lists as "not included" in its model,
each as an equinox module run by one engine (`engine.py`; docs/model.md, "Scenarios").

`scenario_harm(scenario, c_star, d, beta_a, beta_h, reading=..., max_rounds=...)` runs one; the
scenarios are `Baseline`, `Sandbox`, `Repeats`, `PowerGrowth`, `Deception`, `LeftTurn`,
`Goodharting`, `Fragility`. `simulate` is the unchecked loop for internal callers.
"""

from .engine import Baseline, Effects, Scenario, ScenarioResult, neutral_effects, scenario_harm, simulate
from .sandbox import Sandbox
from .repeats import Repeats
from .power_growth import PowerGrowth
from .deception import Deception
from .left_turn import LeftTurn
from .goodharting import Goodharting, net_human_gain, peak_gain_power, zero_gain_power
from .fragility import Fragility, narrowed_dimension

__all__ = [
    "Scenario", "Baseline", "Effects", "neutral_effects", "ScenarioResult", "scenario_harm", "simulate",
    "Sandbox", "Repeats", "PowerGrowth", "Deception", "LeftTurn", "Goodharting", "Fragility",
    "net_human_gain", "peak_gain_power", "zero_gain_power", "narrowed_dimension",
]

SCENARIOS = ("sandbox", "repeats", "power_growth", "deception", "left_turn", "goodharting", "fragility")
