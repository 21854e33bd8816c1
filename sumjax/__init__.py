"""sumjax: Statistical Utility Mechanics and guarded learning as differentiable JAX kernels.

Core (SPEC §1): worlds, utilities and the KL-bounded optimal action `tilt`.
Subpackages: `sumjax.alignment` (the SUM alignment toy model and its scaling),
`sumjax.guarded` (guarded learning: f_t, the bias penalty).
"""

from .worlds import *  # noqa: F401,F403
from .utilities import *  # noqa: F401,F403
from .divergence import *  # noqa: F401,F403
from .tilt import *  # noqa: F401,F403
from .baselines import *  # noqa: F401,F403
from .agents import *  # noqa: F401,F403
from . import alignment, guarded  # noqa: F401

__version__ = "0.1.0"
