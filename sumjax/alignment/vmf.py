"""The von Mises–Fisher tilt of the cosine law: E[c], KL, and their inverses."""

__all__: list[str] = []
