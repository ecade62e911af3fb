"""Data movement on the device: concatenation, transposition and padding."""
import math

from .common import Call, c_strides, strided_args


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


def pad(x, pads, value, out=None):
    # x (N,C,H,W) -> y (N,C,top+H+bottom,left+W+right), the border filled with `value`
    N, C, H, W = x.shape
    t, left, b, r = pads
    c = Call(x, out, (N, C, t + H + b, left + W + r))
    c.launch("layout", "pad", (c.y.size,), (c.dev.group,), c.act(x), c.y, H, W, t, left, t + H + b, left + W + r,
             value, c.y.size)
    return c.result()
