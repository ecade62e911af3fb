"""deepx kernels: one file per op family in each backend (ref, numba, cython, opencl), and their registry.

    from deepx import kernels
    y = kernels.run("conv2d", "cython", x, w, b, stride=2, pads=1, act="relu")
"""
from .common import Act
from .registry import (BACKENDS, OPS, available, backend, backend_usable, bind, bind_chain, check, host_backend, info,
                       lookup, over_residual, prepare, run, supports, weights)
from .threads import Switch, set_threads

__all__ = ["Act", "BACKENDS", "OPS", "available", "backend", "backend_usable", "bind", "bind_chain", "check",
           "host_backend", "info", "lookup", "over_residual", "prepare", "run", "set_threads", "supports", "Switch",
           "weights"]
