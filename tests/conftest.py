"""Test configuration: float64 on (float32 is tested by passing float32 arrays),
hypothesis tuned for jit-compiled code (no per-example deadline)."""

import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")
# Commands run in-process (`main([...])`) must not switch JAX's persistent cache on for the rest of the
# test process (nor write to the user's cache folder), whatever the developer's environment says; tests
# of the cache set this themselves.
os.environ["SUMJAX_CACHE_DIR"] = "off"
# Test helpers shared across test folders (`from _jaxpr import count_callbacks`): with
# --import-mode=importlib pytest does not put tests/ on the path itself.
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

settings.register_profile(
    "sumjax",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sumjax"))
