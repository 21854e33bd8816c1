"""Monte Carlo version of the alignment training loop."""

__all__: list[str] = []
