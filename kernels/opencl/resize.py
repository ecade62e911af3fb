"""Resize on the device: nearest through layout's take kernel, linear as a blend of precomputed taps."""
import functools

import numpy as np

from ..ref.resize import resize_plan
from .common import Call
from .layout import take


@functools.lru_cache(maxsize=256)
def _taps(shape, sizes, scales, coord, nearest):
    # the linear plan as one float32 array (positions as int32 bits), uploaded once as a constant
    (h0, h1, hw), (w0, w1, ww) = resize_plan(shape, sizes, scales, "linear", coord, nearest)
    pos = [a.astype(np.int32).view(np.float32) for a in (h0, h1)]
    return np.concatenate(pos + [hw] + [a.astype(np.int32).view(np.float32) for a in (w0, w1)] + [ww])


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    # x (d0..dn) -> y (sizes): nearest on any axes, linear on the last two
    if mode == "nearest":
        return take(x, "resize", (sizes, scales, coord, nearest), 0.0, out, sizes)
    c = Call(x, out, sizes)
    H, W = (x.shape[-2] if x.ndim > 1 else 1), x.shape[-1]
    P, Q = (sizes[-2] if x.ndim > 1 else 1), sizes[-1]
    c.launch("resize", "linear", (c.y.size,), (c.dev.group,), c.act(x), c.y,
             c.const(_taps(x.shape, sizes, scales, coord, nearest)), H, W, P, Q, c.y.size)
    return c.result()
