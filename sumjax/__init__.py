"""sumjax: Statistical Utility Mechanics and guarded learning as differentiable JAX kernels.

Core (docs/model.md §1): worlds, utilities and the KL-bounded optimal action `tilt`.
Subpackages: `sumjax.alignment` (the SUM alignment toy model and its scaling),
`sumjax.guarded` (guarded learning: f_t, the bias penalty).

The public names are loaded on first use (PEP 562), so `import sumjax` — and the
`sumjax --help` command — does not import JAX until a name that needs it is used.
Static tools (type checkers, IDEs, the API docs) see the explicit re-exports below.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import alignment as alignment
    from . import guarded as guarded
    from .agents import Agent as Agent
    from .agents import act_in_turn as act_in_turn
    from .baselines import BaselineResult as BaselineResult
    from .baselines import best_of_n as best_of_n
    from .baselines import quantilizer as quantilizer
    from .divergence import entropy as entropy
    from .divergence import expected_utility as expected_utility
    from .divergence import kl as kl
    from .divergence import optimisation_amount as optimisation_amount
    from .tilt import TiltResult as TiltResult
    from .tilt import tilt as tilt
    from .tilt import tilt_kl as tilt_kl
    from .utilities import LinearUtility as LinearUtility
    from .utilities import QuadraticUtility as QuadraticUtility
    from .utilities import TabularUtility as TabularUtility
    from .worlds import AbstractWeightedWorld as AbstractWeightedWorld
    from .worlds import AbstractWorld as AbstractWorld
    from .worlds import DiscreteWorld as DiscreteWorld
    from .worlds import GaussianWorld as GaussianWorld
    from .worlds import ParticleWorld as ParticleWorld

_SUBPACKAGES = ("alignment", "guarded")
# public name -> module that defines it (a subpackage maps to itself).
_EXPORTS = {
    "alignment": ".alignment",
    "guarded": ".guarded",
    "Agent": ".agents",
    "act_in_turn": ".agents",
    "BaselineResult": ".baselines",
    "best_of_n": ".baselines",
    "quantilizer": ".baselines",
    "entropy": ".divergence",
    "expected_utility": ".divergence",
    "kl": ".divergence",
    "optimisation_amount": ".divergence",
    "TiltResult": ".tilt",
    "tilt": ".tilt",
    "tilt_kl": ".tilt",
    "LinearUtility": ".utilities",
    "QuadraticUtility": ".utilities",
    "TabularUtility": ".utilities",
    "AbstractWeightedWorld": ".worlds",
    "AbstractWorld": ".worlds",
    "DiscreteWorld": ".worlds",
    "GaussianWorld": ".worlds",
    "ParticleWorld": ".worlds",
}

__all__ = [
    "AbstractWeightedWorld",
    "AbstractWorld",
    "Agent",
    "BaselineResult",
    "DiscreteWorld",
    "GaussianWorld",
    "LinearUtility",
    "ParticleWorld",
    "QuadraticUtility",
    "TabularUtility",
    "TiltResult",
    "act_in_turn",
    "alignment",
    "best_of_n",
    "entropy",
    "expected_utility",
    "guarded",
    "kl",
    "optimisation_amount",
    "quantilizer",
    "tilt",
    "tilt_kl",
    "__version__",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sumjax' has no attribute {name!r}")
    mod = importlib.import_module(module, __name__)
    value = mod if name in _SUBPACKAGES else getattr(mod, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps `sumjax.tilt` the function: importing the submodule `sumjax.tilt` would otherwise
    rebind the package attribute of the same name to the module."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in _EXPORTS and name not in _SUBPACKAGES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
