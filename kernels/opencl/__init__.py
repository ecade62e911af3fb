"""OpenCL backend (pyopencl): every op of `deepx.kernels.OPS` on one OpenCL device per process.

Ops take numpy arrays (upload, compute, download: what `kernels.run(op, "opencl", ...)` does) or
device arrays (`pyopencl.array.Array`, possibly views into one arena buffer), which they leave on the
device without waiting. The device: `use_device(spec)` (a board profile's choice) or
DEEPX_OPENCL_DEVICE, "substring[:index]" (see `device`), empty = the first device found.

As a device backend it also gives the executor its memory: `arena`, `shared_arena`, `shares_host`, `view`,
`copy_in`, `copy_out`, `host_copy`, `finish`, and `select_device` for a plan's device.
"""
import numpy as np
import pyopencl as cl
import pyopencl.array as cla

from ... import config
from ...errors import KernelError
from .device import build, current, failing, find_device, use_device

__all__ = ["arena", "build", "context", "copy_in", "copy_out", "current", "empty", "find_device", "finish",
           "host_copy", "queue", "select_device", "shared_arena", "shares_host", "to_device", "to_host", "usable",
           "use_device", "view"]


def usable():
    """(True, "") when an OpenCL device opens here and its compiler builds a kernel, else (False, the reason)."""
    try:
        build(current().ctx, "__kernel void probe(__global float *y) { y[0] = 1.0f; }", "a one-line kernel")
    except KernelError as e:
        return False, str(e)
    return True, ""


def select_device(planned: str) -> str:
    """Open the device a plan's board profile names ("" = the default one), unless DEEPX_OPENCL_DEVICE names
    one: that wins, and the returned line says so ("" otherwise). KernelError when the device is not here."""
    if config.OPENCL_DEVICE and planned:
        current()
        return (f"DEEPX_OPENCL_DEVICE={config.OPENCL_DEVICE!r} chooses the OpenCL device "
                f"({current().dev.name.strip()}), not the plan's {planned!r}")
    if planned:
        use_device(planned)
    return ""


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


def arena(floats: int) -> cl.Buffer:
    """A device buffer of `floats` float32s (an executor's device arena)."""
    return cl.Buffer(context(), cl.mem_flags.READ_WRITE, 4 * max(floats, 1))


def shares_host() -> bool:
    """Whether the device works on host memory itself (an integrated GPU, a CPU device)."""
    return bool(current().dev.host_unified_memory)


def shared_arena(host: np.ndarray) -> cl.Buffer:
    """A device buffer over a (page-aligned) host arena's own memory: the same tensors seen from the device."""
    return cl.Buffer(context(), cl.mem_flags.READ_WRITE | cl.mem_flags.USE_HOST_PTR, hostbuf=host)


def view(buffer: cl.Buffer, offset: int, shape) -> cla.Array:
    """The tensor of `shape` at `offset` floats into an arena buffer."""
    return cla.Array(queue(), tuple(shape), np.float32, data=buffer, offset=4 * offset)


def copy_in(host: np.ndarray, dev: cla.Array):
    dev.set(host)


def copy_out(dev: cla.Array, host: np.ndarray):
    dev.get(ary=host)


def host_copy(dev: cla.Array) -> np.ndarray:
    return dev.get()
