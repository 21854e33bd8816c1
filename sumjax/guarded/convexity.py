"""Convexity checks for f_t: supporting hyperplanes, Jensen, Hessians."""

__all__: list[str] = []
