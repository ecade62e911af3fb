"""Resize: nearest through the take kernel, linear as a blend of precomputed taps (kernels.ref.resize)."""
import numba
import numpy as np

from ..ref.resize import nearest_plan, nearest_planes, resize_plan
from .common import jit, out_array
from .layout import take


@jit(parallel=True)
def _linear_rows(x, h0, h1, hw, w0, w1, ww, y):
    # x (B,H,W) -> y (B,P,Q): row taps h0/h1 (weight hw of h1) per p, column taps w0/w1 (ww) per q
    B, P, Q = y.shape
    for bp in numba.prange(B * P):
        b, p = bp // P, bp % P
        a, i0, i1 = hw[p], h0[p], h1[p]
        for q in range(Q):
            j, k, c = w0[q], w1[q], ww[q]
            t0 = x[b, i0, j] + c * (x[b, i0, k] - x[b, i0, j])
            t1 = x[b, i1, j] + c * (x[b, i1, k] - x[b, i1, j])
            y[b, p, q] = t0 + a * (t1 - t0)


@jit(parallel=True)
def _linear_planes(x, h0, h1, hw, w0, w1, ww, y):
    # as _linear_rows, plane by plane: an input row is blended along W once, into the upper or lower row of t
    B, P, Q = y.shape
    for b in numba.prange(B):
        t = np.empty((2, Q), np.float32)
        upper, lower = -1, -1
        for p in range(P):
            if h0[p] != upper:
                for q in range(Q):
                    t[0, q] = t[1, q] if h0[p] == lower else \
                        x[b, h0[p], w0[q]] + ww[q] * (x[b, h0[p], w1[q]] - x[b, h0[p], w0[q]])
                upper = h0[p]
            if h1[p] != lower:
                for q in range(Q):
                    t[1, q] = x[b, h1[p], w0[q]] + ww[q] * (x[b, h1[p], w1[q]] - x[b, h1[p], w0[q]])
                lower = h1[p]
            a = hw[p]
            for q in range(Q):
                y[b, p, q] = t[0, q] + a * (t[1, q] - t[0, q])


@jit(parallel=True)
def _nearest(x, rows, cols, f, y):
    # x (B,H,W) -> y (B,P,Q) = x[b, rows[p], cols[q]]; a row reading the same input row as the one before is
    # copied from it; f > 1: cols[q] = q // f
    B, P, Q = y.shape
    W = x.shape[2]
    for b in numba.prange(B):
        for p in range(P):
            i = rows[p]
            if p > 0 and i == rows[p - 1]:
                for q in range(Q):
                    y[b, p, q] = y[b, p - 1, q]
            elif f > 1:
                for j in range(W):
                    v = x[b, i, j]
                    for k in range(f):
                        y[b, p, j * f + k] = v
            else:
                for q in range(Q):
                    y[b, p, q] = x[b, i, cols[q]]


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    # x (d0..dn) -> y (sizes): nearest on any axes, linear on the last two
    y = out_array(out, sizes)
    planes = nearest_planes(x.shape, sizes, scales, coord, nearest) if mode == "nearest" else None
    if planes is not None:
        rows, cols, f = planes
        _nearest(x.reshape(-1, x.shape[-2] if x.ndim > 1 else 1, x.shape[-1]), rows, cols, f,
                 y.reshape(-1, len(rows), len(cols)))
        return y
    if mode == "nearest":
        take(x.reshape(-1), *nearest_plan(x.shape, sizes, scales, coord, nearest), np.float32(0.0), y.reshape(-1))
        return y
    (h0, h1, hw), (w0, w1, ww) = resize_plan(x.shape, sizes, scales, mode, coord, nearest)
    H = x.shape[-2] if x.ndim > 1 else 1
    x3, y3 = x.reshape(-1, H, x.shape[-1]), y.reshape(-1, len(h0), len(w0))
    kernel = _linear_planes if x3.shape[0] >= 2 * numba.get_num_threads() else _linear_rows
    kernel(x3, h0, h1, hw, w0, w1, ww, y3)
    return y
