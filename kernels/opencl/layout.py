"""Data movement on the device: concatenation, transposition; slice, gather, expand and pad as one take kernel."""
import functools
import math

import numpy as np

from ..ref.layout import plan
from ..ref.resize import nearest_plan
from .common import MAX_RANK, Call, c_strides, int8, strided_args


def concat(xs, axis, out=None):
    # xs: tensors equal but along `axis` -> y, each a (outer, its length * inner) block of y's rows
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    c = Call(list(xs), out, tuple(shape))
    inner, pitch, start = math.prod(shape[axis + 1:]), c.y.size // math.prod(shape[:axis]), 0
    for x in xs:
        cols = x.shape[axis] * inner
        c.launch("layout", "copy2d", (x.size,), (c.dev.group,), c.act(x), c.y.reshape(-1)[start:], cols, pitch,
                 x.size)
        start += cols
    return c.result()


def transpose(x, perm, out=None):
    # x -> y with y.shape[i] = x.shape[perm[i]]
    shape = tuple(x.shape[p] for p in perm)
    c = Call(x, out, shape)
    xs = c_strides(x.shape)
    c.launch("layout", "gather", (c.y.size,), (c.dev.group,), c.act(x), c.y,
             *strided_args(shape, [xs[p] for p in perm]), c.y.size)
    return c.result()


@functools.lru_cache(maxsize=256)
def _offsets(op, shape, *attrs):
    # plan()'s offsets as int32 bits in a float32 array (uploaded once, as a constant), its starts and dims
    offs, starts, dims = (nearest_plan if op == "resize" else functools.partial(plan, op))(shape, *attrs)[:3]
    lead = MAX_RANK - len(dims)  # unit axes in front, reading offset 0 (put first)
    return (np.concatenate([[0], offs]).astype(np.int32).view(np.float32), int8([0] * lead + list(starts + 1)),
            int8([1] * lead + list(dims)))


def take(x, op, attrs, fill, out, shape):
    """y (shape) = x through the take plan of (op, canonical attrs) (kernels.ref.layout.plan)."""
    offs, starts, dims = _offsets(op, x.shape, *attrs)
    c = Call(x, out, shape)
    c.launch("layout", "take", (c.y.size,), (c.dev.group,), c.act(x), c.const(offs), c.y, dims, starts, float(fill),
             c.y.size)
    return c.result()


def slice(x, starts, ends, steps, out=None):
    # x -> y with y[..., i, ...] = x[..., starts[d] + i * steps[d], ...] per axis d
    shape = tuple(len(range(n)[s:e:k]) for n, s, e, k in zip(x.shape, starts, ends, steps))
    return take(x, "slice", (starts, ends, steps), 0.0, out, shape)


def gather(x, indices, shape, axis, out=None):
    # x (..., A, ...) -> y (..., *shape, ...): the indices taken along `axis`
    return take(x, "gather", (indices, axis), 0.0, out, x.shape[:axis] + shape + x.shape[axis + 1:])


def expand(x, shape, out=None):
    # x -> y (shape): numpy broadcasting
    return take(x, "expand", (shape,), 0.0, out, shape)


def pad(x, pads, mode, value, out=None):
    # x (d0..dn) -> y (pads[d] + d + pads[n + d]...), a negative pad crops; border by `mode`
    shape = tuple(pads[d] + n + pads[x.ndim + d] for d, n in enumerate(x.shape))
    return take(x, "pad", (pads, mode), value, out, shape)
