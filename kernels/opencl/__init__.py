"""OpenCL backend (pyopencl): every op of `deepx.kernels.OPS` on one OpenCL device per process.

Ops take numpy arrays (upload, compute, download: what `kernels.run(op, "opencl", ...)` does) or
device arrays (`pyopencl.array.Array`, possibly views into one arena buffer), which they leave on the
device without waiting. The device: `use_device(spec)` (a board profile's choice) or
DEEPX_OPENCL_DEVICE, "substring[:index]" (see `device`), empty = the first device found.
"""
import numpy as np
import pyopencl.array as cla

from ...errors import KernelError
from .device import build, current, failing, find_device, use_device

__all__ = ["build", "context", "current", "empty", "find_device", "finish", "queue", "to_device", "to_host", "usable",
           "use_device"]


def usable():
    """(True, "") when an OpenCL device can be opened here, else (False, the reason)."""
    try:
        current()
    except KernelError as e:
        return False, str(e)
    return True, ""


def context():
    """The device's OpenCL context (for buffers such as a memory arena)."""
    return current().ctx


def queue():
    """The device's in-order command queue (every op enqueues on it)."""
    return current().queue


def to_device(a: np.ndarray) -> cla.Array:
    return current().to_device(a)


def to_host(a: cla.Array) -> np.ndarray:
    """A device array's contents (waits for the kernels that write it)."""
    with failing("download", current().dev):
        return a.get()


def empty(shape) -> cla.Array:
    return current().empty(shape)


def finish():
    """Wait until every enqueued kernel has run."""
    with failing("finish", current().dev):
        current().queue.finish()
