"""The SUM alignment toy model (docs/model.md §2–§3): the cosine law, its von Mises–Fisher tilt,
the training loop, total harm, Monte Carlo, and scaling with AI scale ξ."""

from .cosine import *  # noqa: F401,F403
from .vmf import *  # noqa: F401,F403
from .quadrature import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .functionals import *  # noqa: F401,F403
from .readings import *  # noqa: F401,F403
from .information import *  # noqa: F401,F403
from .harm import *  # noqa: F401,F403
from .montecarlo import *  # noqa: F401,F403
from .scaling import *  # noqa: F401,F403
from .fragility import *  # noqa: F401,F403
from . import scenarios  # noqa: F401,E402
