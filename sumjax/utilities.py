"""Utilities: real functions of the state (linear, quadratic, tabular, any callable)."""

__all__: list[str] = []
