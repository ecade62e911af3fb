"""Host-side pieces every OpenCL op module shares: one op call's tensors and result, kernel launches.

An op given numpy activations uploads them, computes, downloads and returns numpy. Given a device
array as an activation (the first tensor; any operand of a binary op or where), it returns a device array and
does not wait: kernels are only enqueued, the caller synchronizes. `out` decides where the result
goes when given (a device array, or numpy: downloaded into it). Numpy tensors next to device
activations are graph constants, as weights and biases always are: each is uploaded once per device.
"""
import numpy as np
import pyopencl.array as cla
from pyopencl import cltypes

from ..common import Act, merge_axes
from .device import current, failing

MAX_RANK = 8  # strided kernels take shapes padded to 8 axes (an int8 vector)


class Call:
    """One op call: device arrays for its tensors, its output `y`, and the result the caller gets."""

    def __init__(self, inputs, out, shape):
        # inputs: the activation, or a list of them
        self.dev = current()
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        self.resident = any(isinstance(t, cla.Array) for t in inputs)
        self.out = out
        self.y = out if isinstance(out, cla.Array) else self.dev.empty(shape)

    def act(self, t):
        """An activation (None stays None): a device array as it is, numpy uploaded for this call
        (or once, as a constant, next to device activations)."""
        if t is None or isinstance(t, cla.Array):
            return t
        return self.dev.const(t) if self.resident else self.dev.to_device(t)

    def const(self, t):
        """A weight or bias: uploaded once per device."""
        if t is None or isinstance(t, cla.Array):
            return t
        return self.dev.const(t)

    def temp(self, shape) -> cla.Array:
        return self.dev.empty(shape)

    def launch(self, family, name, size, local, *args):
        launch(self.dev, family, name, size, local, *args)

    def result(self):
        if self.y is self.out or (self.out is None and self.resident):
            return self.y
        with failing("download", self.dev.dev):
            return self.y.get(ary=self.out)


def _flat(args):
    # Array -> (buffer, element offset); None -> (NULL, 0); Act -> (kind, lo, hi); numbers -> int32/float32
    for a in args:
        if isinstance(a, cla.Array):
            yield from (a.base_data, np.int32(a.offset // 4))
        elif a is None:
            yield from (None, np.int32(0))
        elif isinstance(a, Act):
            yield from (np.int32(a.kind), np.float32(a.lo), np.float32(a.hi))
        elif isinstance(a, (bool, int, np.integer)):
            yield np.int32(a)
        elif isinstance(a, float):
            yield np.float32(a)
        else:
            yield a


def launch(dev, family, name, size, local, *args):
    """Enqueue kernel `name` of `family` over `size` work-items (rounded up to whole `local` groups)."""
    if 0 in size:
        return
    size = tuple(-(-n // g) * g for n, g in zip(size, local))
    kernel = dev.kernel(family, name)
    with failing(f"kernel {name}", dev.dev):
        kernel(dev.queue, size, tuple(local), *_flat(args))


def int8(values):
    """8 ints as one OpenCL int8 kernel argument."""
    return np.array(values, np.int32).view(cltypes.int8)[0]


def strided_args(shape, *strides):
    """Merged shape and per-operand element strides of a strided loop, as int8 kernel arguments."""
    shape, strides = merge_axes(shape, strides, MAX_RANK, "opencl")
    return [int8(shape)] + [int8(s) for s in strides]


def c_strides(shape, like=None):
    """Element strides of a C-contiguous array of `shape`, broadcast (0 strides) against shape `like`."""
    like = shape if like is None else like
    st = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
    return [0] * (len(like) - len(shape)) + [0 if n == 1 else s for n, s in zip(shape, st)]
