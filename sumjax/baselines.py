"""Optimisers compared against the tilt at equal KL: best-of-n and the quantilizer."""

__all__: list[str] = []
