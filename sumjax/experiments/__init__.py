"""Experiments: one module per figure of the two texts, run by `sumjax reproduce`."""
