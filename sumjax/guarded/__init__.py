"""Guarded learning (docs/model.md §4): value-uncertain agents, the convex function f_t on the
simplex, and the penalty that removes the incentive to bias value updates."""

from .simplex import *  # noqa: F401,F403
from .policies import *  # noqa: F401,F403
from .learning import *  # noqa: F401,F403
from .convexity import *  # noqa: F401,F403
from .bias import *  # noqa: F401,F403
from .continuous import *  # noqa: F401,F403
