"""Numba kernels: `njit` with the options of `deepx.config`, parallel where it pays."""
import numba  # noqa: F401  (the backend is unusable without it)
