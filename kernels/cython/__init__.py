"""Cython kernels: compiled extensions `_<family>`, GEMMs through scipy's BLAS, OpenMP loops."""
import os

# idle OpenMP threads must sleep, not spin: spinning ones take the cores from BLAS's own threads
# (read when libgomp loads, so before the first extension import; an explicit setting wins)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _dense  # noqa: E402,F401  (the backend is unusable when the extensions were not built)
