"""Reductions on the device: any axes (read through strides, no copy), arg-extrema along one axis."""
import math

from ..ref.reduce import KINDS, reduced_shape
from .common import Call, c_strides, strided_args


def reduce(x, kind, axes, keepdims, out=None):
    # x (any) -> y: `kind` over `axes`
    c = Call(x, out, reduced_shape(x.shape, axes, keepdims))
    xs = c_strides(x.shape)
    kept = [i for i in range(x.ndim) if i not in axes]
    c.launch("reduce", "reduce", (c.y.size,), (c.dev.group,), c.act(x), c.y,
             *strided_args([x.shape[i] for i in kept], [xs[i] for i in kept]),
             *strided_args([x.shape[i] for i in axes], [xs[i] for i in axes]),
             math.prod(x.shape[i] for i in axes), KINDS.index(kind), c.y.size)
    return c.result()


def _argext(x, axis, keepdims, last, sign, out):
    c = Call(x, out, reduced_shape(x.shape, (axis,), keepdims))
    c.launch("reduce", "argext", (c.y.size,), (c.dev.group,), c.act(x), c.y, x.shape[axis],
             math.prod(x.shape[axis + 1:]), sign, last, c.y.size)
    return c.result()


def argmax(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the largest value along `axis`
    return _argext(x, axis, keepdims, select_last_index, 1.0, out)


def argmin(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the smallest value along `axis`
    return _argext(x, axis, keepdims, select_last_index, -1.0, out)
