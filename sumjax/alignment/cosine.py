"""The law of the cosine similarity c = a·h of a uniform unit vector."""

__all__: list[str] = []
