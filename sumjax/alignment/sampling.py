"""Samplers: uniform and von Mises–Fisher unit vectors, and their cosine."""

__all__: list[str] = []
