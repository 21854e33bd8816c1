"""Experiments: one module per figure of the two texts, run by `sumjax reproduce`.

`EXPERIMENTS` lists them in report order; `get(name)` imports one. Each module follows
the protocol described in `sumjax.experiments._base` and runs as `sumjax run <name>`.
Importing this package does not import JAX (the experiment modules import it when they
compute).
"""

from __future__ import annotations

import importlib

from ._base import Claim, Unavailable, config_from, experiment_main, load_outputs, run_experiment

__all__ = ["EXPERIMENTS", "get", "Claim", "Unavailable", "config_from", "experiment_main", "load_outputs", "run_experiment"]

# name -> module, in the order the report shows them.
EXPERIMENTS: dict[str, str] = {
    "cosine_mean": "sumjax.experiments.cosine_mean",
    "required_divergence": "sumjax.experiments.required_divergence",
    "harm_vs_dim": "sumjax.experiments.harm_vs_dim",
    "harm_vs_power": "sumjax.experiments.harm_vs_power",
    "readings": "sumjax.experiments.readings",
    "information": "sumjax.experiments.information",
    "fragility": "sumjax.experiments.fragility",
    "scaling": "sumjax.experiments.scaling",
    "two_utilities": "sumjax.experiments.two_utilities",
    "simplex_penalty": "sumjax.experiments.simplex_penalty",
    "guarded_bias": "sumjax.experiments.guarded_bias",
    "sensitivity": "sumjax.experiments.sensitivity",
    "baselines": "sumjax.experiments.baselines",
    "scenarios": "sumjax.experiments.scenarios",
    "scenario_sensitivity": "sumjax.experiments.scenario_sensitivity",
}


def get(name: str):
    """The experiment module registered as `name`."""
    if name not in EXPERIMENTS:
        raise ValueError(f"argument `name` must be one of {', '.join(EXPERIMENTS)}; got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
