"""KL divergence, expected utility, entropy with intrinsic entropies (SUM Appendix 1)."""

__all__: list[str] = []
