"""The KL-bounded optimal action: the exponential tilt P_k ∝ P·exp(kU)."""

__all__: list[str] = []
