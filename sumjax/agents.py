"""Agents (utility, power) acting on a world in turn."""

__all__: list[str] = []
