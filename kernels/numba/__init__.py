"""Numba kernels: `njit` with the options of `deepx.config`, parallel where it pays."""
import os

# numba's OpenMP workers spin after each parallel loop by default, taking the cores BLAS needs next;
# libgomp reads this when it loads, so it must be set before the first parallel kernel runs
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402,F401  (the backend is unusable without it)
