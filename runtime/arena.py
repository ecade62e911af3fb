"""Static memory arenas: tensors with known lifetimes packed into one buffer per memory space.

`plan` places each tensor at an offset so that tensors alive at the same step never overlap
(greedy by size, as TFLite's arena planner does: the largest first, each at the lowest offset that fits
between the tensors already placed whose lifetimes overlap its own). Host arenas are numpy arrays, device
arenas one OpenCL buffer; views of either are made once and reused by every run.
"""
from dataclasses import dataclass

import numpy as np

ALIGN = 16  # floats (64 bytes): a cache line, and enough for any vector load


@dataclass(frozen=True)
class Item:
    id: int
    size: int  # floats
    first: int  # first step that writes or reads it
    last: int  # last step that reads it


@dataclass
class Layout:
    offsets: dict  # item id -> offset in floats
    size: int  # floats


def plan(items) -> Layout:
    """Offsets for `items` such that items alive at once never share memory."""
    placed, offsets, size = [], {}, 0
    for it in sorted(items, key=lambda i: (-i.size, i.first, i.id)):
        busy = sorted((offsets[p.id], offsets[p.id] + p.size) for p in placed
                      if p.first <= it.last and it.first <= p.last)
        at = 0
        for lo, hi in busy:
            if at + it.size <= lo:
                break
            at = max(at, _align(hi))
        offsets[it.id] = at
        placed.append(it)
        size = max(size, at + it.size)
    return Layout(offsets, _align(size))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def host_arena(size: int) -> np.ndarray:
    return np.empty(max(size, 1), np.float32)


def device_arena(size: int):
    import pyopencl as cl

    from ..kernels import opencl

    return cl.Buffer(opencl.context(), cl.mem_flags.READ_WRITE, 4 * max(size, 1))


def view(arena, offset: int, shape):
    """The tensor of `shape` at `offset` floats into a host array or a device buffer."""
    if isinstance(arena, np.ndarray):
        return arena[offset:offset + int(np.prod(shape))].reshape(shape)
    import pyopencl.array as cla

    from ..kernels import opencl

    return cla.Array(opencl.queue(), tuple(shape), np.float32, data=arena, offset=4 * offset)


def to_device(host: np.ndarray, dev):
    dev.set(host)


def to_host(dev, host: np.ndarray):
    dev.get(ary=host)


def host_copy(v) -> np.ndarray:
    return v.copy() if isinstance(v, np.ndarray) else v.get()


def finish():
    from ..kernels import opencl

    opencl.finish()
