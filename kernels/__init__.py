"""deepx kernels: one file per op family in each backend (ref, numba, cython), and their registry.

    from deepx import kernels
    y = kernels.run("conv2d", "cython", x, w, b, stride=2, pads=1, act="relu")
"""
from .common import Act
from .registry import (BACKENDS, OPS, available, backend_usable, check, lookup, prepare, run,
                       usable_backends)
from .threads import set_threads

__all__ = ["Act", "BACKENDS", "OPS", "available", "backend_usable", "check", "lookup", "prepare", "run",
           "set_threads", "usable_backends"]
