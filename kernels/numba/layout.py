"""Data movement: concatenation, transposition and padding."""
import numba
import numpy as np

from .common import jit, merged, out_array, row_offset


@jit(parallel=True)
def _copy_cols(x, y, j0):
    # x (A,B) -> y[:, j0:j0+B] with y (A,Bt)
    for a in numba.prange(x.shape[0]):
        y[a, j0:j0 + x.shape[1]] = x[a]


@jit(parallel=True)
def _gather(x, sx, shape, y):
    # x flat read with element strides sx over `shape` (rank MAX_RANK) -> y flat, C order
    inner = shape[-1]
    for row in numba.prange(y.shape[0] // inner):
        ix, jx = row_offset(row, shape, sx), sx[-1]
        base = np.int64(row) * inner
        for i in range(inner):
            y[base + i] = x[ix + i * jx]


def concat(xs, axis, out=None):
    # xs: tensors equal but along `axis` -> y
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    y = out_array(out, tuple(shape))
    outer = int(np.prod(shape[:axis]))
    y2 = y.reshape(outer, -1)
    j0 = 0
    for x in xs:
        x2 = x.reshape(outer, -1)
        _copy_cols(x2, y2, j0)
        j0 += x2.shape[1]
    return y


def transpose(x, perm, out=None):
    # x -> y with y.shape[i] = x.shape[perm[i]]
    shape = tuple(x.shape[p] for p in perm)
    y = out_array(out, shape)
    if y.size:
        st = [x.strides[p] // x.itemsize for p in perm]
        dims, (sx,) = merged(shape, st)
        _gather(x.reshape(-1), sx, dims, y.reshape(-1))
    return y


@jit(parallel=True)
def _pad(x, t, left, value, y):
    # x (NC,H,W) -> y (NC,P,Q) with x at rows t.., columns left.., `value` elsewhere
    H, W = x.shape[1], x.shape[2]
    for i in numba.prange(x.shape[0]):
        y[i] = value
        y[i, t:t + H, left:left + W] = x[i]


def pad(x, pads, value, out=None):
    # x (N,C,H,W) -> y (N,C,top+H+bottom,left+W+right)
    N, C, H, W = x.shape
    t, left, b, r = pads
    y = out_array(out, (N, C, t + H + b, left + W + r))
    _pad(x.reshape(N * C, H, W), t, left, np.float32(value), y.reshape(N * C, *y.shape[2:]))
    return y
