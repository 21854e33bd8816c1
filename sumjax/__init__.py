"""sumjax: Statistical Utility Mechanics and guarded learning as differentiable JAX kernels.

Core (docs/model.md, "Worlds, agents, power"): worlds, utilities and the KL-bounded optimal
action `tilt`. Subpackages: `sumjax.alignment` (the SUM alignment toy model and its scaling),
`sumjax.guarded` (guarded learning: f_t, the bias penalty).
"""

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

__version__ = "0.1.0"

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
