"""The alignment training loop: per-round harm and total harm."""

__all__: list[str] = []
