"""Side-by-side benchmark: sumjax kernels against the NumPy/SciPy way (`python -m experiments.bench --help`)."""
