"""Resize: nearest through the take kernel, linear as a blend of precomputed taps (kernels.ref.resize)."""
import numba
import numpy as np

from ..ref.resize import nearest_plan, resize_plan
from .common import jit, out_array
from .layout import take


@jit(parallel=True)
def _linear(x, h0, h1, hw, w0, w1, ww, y):
    # x (B,H,W) -> y (B,P,Q): row taps h0/h1 (weight hw of h1) per p, column taps w0/w1 (ww) per q
    B, P, Q = y.shape
    for bp in numba.prange(B * P):
        b, p = bp // P, bp % P
        r0, r1, a = x[b, h0[p]], x[b, h1[p]], hw[p]
        for q in range(Q):
            i, j, c = w0[q], w1[q], ww[q]
            t0 = r0[i] + c * (r0[j] - r0[i])
            t1 = r1[i] + c * (r1[j] - r1[i])
            y[b, p, q] = t0 + a * (t1 - t0)


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    # x (d0..dn) -> y (sizes): nearest on any axes, linear on the last two
    y = out_array(out, sizes)
    if mode == "nearest":
        take(x.reshape(-1), *nearest_plan(x.shape, sizes, scales, coord, nearest), np.float32(0.0), y.reshape(-1))
        return y
    (h0, h1, hw), (w0, w1, ww) = resize_plan(x.shape, sizes, scales, mode, coord, nearest)
    H = x.shape[-2] if x.ndim > 1 else 1
    _linear(x.reshape(-1, H, x.shape[-1]), h0, h1, hw, w0, w1, ww, y.reshape(-1, len(h0), len(w0)))
    return y
