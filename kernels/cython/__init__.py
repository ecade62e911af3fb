"""Cython kernels: compiled extensions `_<family>`, GEMMs through scipy's BLAS, OpenMP loops.

They are built for one instruction set (setup.py: the best of isa.py's levels the building CPU has, x86-64-v4 with
AVX-512 or x86-64-v3 with AVX2 and FMA): on a CPU without it the backend is unusable, with the reason, instead of
stopping the process on an illegal instruction.
"""
import os

from .isa import NEEDS, cpu_flags


def _check_cpu():
    path = os.path.join(os.path.dirname(__file__), "built_for.txt")
    level = open(path).read().strip() if os.path.exists(path) else ""
    flags = cpu_flags()
    if not flags:
        return
    missing = [n for n in NEEDS.get(level, ()) if n not in flags]
    if missing:
        raise ImportError(f"the Cython kernels were built for {level}; this CPU lacks {', '.join(missing)} "
                          f"(reinstall deepx on it, or build with DEEPX_MARCH=)")


_check_cpu()
from . import _dense  # noqa: F401,E402  (the backend is unusable when the extensions were not built)
