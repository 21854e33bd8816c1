"""Worlds: probability distributions over states (Gaussian, discrete, particle)."""

__all__: list[str] = []
