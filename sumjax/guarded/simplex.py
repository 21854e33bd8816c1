"""Points of the simplex Δⁿ of utility weights."""

__all__: list[str] = []
