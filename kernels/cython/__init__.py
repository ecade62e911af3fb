"""Cython kernels: compiled extensions `_<family>`, GEMMs through scipy's BLAS, OpenMP loops."""
from . import _dense  # noqa: F401  (the backend is unusable when the extensions were not built)
