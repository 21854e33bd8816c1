"""Policy families: value vectors V(π) as finite, soft or parametric maps."""

__all__: list[str] = []
