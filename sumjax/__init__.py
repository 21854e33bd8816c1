"""sumjax: Statistical Utility Mechanics and guarded learning as differentiable JAX kernels.

Core (docs/model.md §1): worlds, utilities and the KL-bounded optimal action `tilt`.
Subpackages: `sumjax.alignment` (the SUM alignment toy model and its scaling),
`sumjax.guarded` (guarded learning: f_t, the bias penalty).

The public names are loaded on first use (PEP 562), so `import sumjax` — and the
`sumjax --help` command — does not import JAX until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Modules whose public names (their `__all__`) are re-exported here, and subpackages.
_STAR_MODULES = ("worlds", "utilities", "divergence", "tilt", "baselines", "agents")
_SUBPACKAGES = ("alignment", "guarded")

if TYPE_CHECKING:  # static tools (type checkers, IDEs, documentation) see the eager imports
    from . import alignment, guarded  # noqa: F401
    from .agents import *  # noqa: F401,F403
    from .baselines import *  # noqa: F401,F403
    from .divergence import *  # noqa: F401,F403
    from .tilt import *  # noqa: F401,F403
    from .utilities import *  # noqa: F401,F403
    from .worlds import *  # noqa: F401,F403


def _load() -> dict:
    public = {}
    for name in _STAR_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        public.update({n: getattr(module, n) for n in module.__all__})
    for name in _SUBPACKAGES:
        public[name] = importlib.import_module(f".{name}", __name__)
    globals().update(public)
    globals()["__all__"] = sorted(public) + ["__version__"]
    return public


def __getattr__(name: str):
    if name.startswith("__") and name != "__all__":
        raise AttributeError(name)
    _load()
    try:
        return globals()[name]
    except KeyError:
        raise AttributeError(f"module 'sumjax' has no attribute {name!r}") from None


def __dir__():
    _load()
    return sorted(globals())
