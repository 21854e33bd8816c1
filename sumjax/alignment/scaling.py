"""Harm against AI scale ξ and its three phases."""

__all__: list[str] = []
