"""Anisotropic ('fragile') worlds for the alignment model."""

__all__: list[str] = []
