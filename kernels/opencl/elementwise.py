"""Activations and broadcasting add / mul on the device."""
import numpy as np

from .common import Call, c_strides, strided_args


def _binary(a, b, act, mul, out):
    # a, b broadcast (numpy rules) -> y
    shape = np.broadcast_shapes(a.shape, b.shape)
    c = Call([a, b], out, shape)
    n = c.y.size
    c.launch("elementwise", "binary", (n,), (c.dev.group,), c.act(a), c.act(b), c.y,
             *strided_args(shape, c_strides(a.shape, shape), c_strides(b.shape, shape)), mul, n, act)
    return c.result()


def add(a, b, act, out=None):
    return _binary(a, b, act, False, out)


def mul(a, b, act, out=None):
    return _binary(a, b, act, True, out)


def activation(x, act, out=None):
    # x -> act(x), elementwise
    c = Call(x, out, x.shape)
    c.launch("elementwise", "activation", (c.y.size,), (c.dev.group,), c.act(x), c.y, c.y.size, act)
    return c.result()
