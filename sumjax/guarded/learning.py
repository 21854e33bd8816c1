"""f_t, g_v, π_w, the bias penalty and the value of an action."""

__all__: list[str] = []
