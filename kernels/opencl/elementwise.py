"""Activations, broadcasting binary ops and where on the device."""
import numpy as np

from ..common import binary_kernels
from .common import Call, c_strides, strided_args


def _binary(op, a, b, act, out):
    # a `op` b, broadcast (numpy rules) -> act(y); op: a code of kernels.common.BINARY
    shape = np.broadcast_shapes(a.shape, b.shape)
    c = Call([a, b], out, shape)
    n = c.y.size
    c.launch("elementwise", "binary", (n,), (c.dev.group,), c.act(a), c.act(b), c.y,
             *strided_args(shape, c_strides(a.shape, shape), c_strides(b.shape, shape)), op, n, act)
    return c.result()


add, mul, sub, div, pow, minimum, maximum, equal, less, greater, less_equal, greater_equal, logical_and, \
    logical_or, logical_xor, prelu = binary_kernels(_binary)


def where(cond, x, y, out=None):
    # cond (0/1), x, y broadcast (numpy rules) -> x where cond != 0, else y
    shape = np.broadcast_shapes(cond.shape, x.shape, y.shape)
    c = Call([cond, x, y], out, shape)
    n = c.y.size
    c.launch("elementwise", "where_", (n,), (c.dev.group,), c.act(cond), c.act(x), c.act(y), c.y,
             *strided_args(shape, *(c_strides(t.shape, shape) for t in (cond, x, y))), n)
    return c.result()


def activation(x, act, out=None):
    # x -> act(x), elementwise
    c = Call(x, out, x.shape)
    c.launch("elementwise", "activation", (c.y.size,), (c.dev.group,), c.act(x), c.y, c.y.size, act)
    return c.result()
