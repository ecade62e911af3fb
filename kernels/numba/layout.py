"""Data movement: concatenation, transposition; slice, gather, expand and pad as one take kernel."""
import numba
import numpy as np

from ..ref.layout import plan
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
def take(x, offs, starts, dims, lo, hi, fill, y):
    # x flat -> y flat (dims): y[i0..in] = x[sum of axis d's offset at i_d], `fill` where one is -1;
    # the last axis's positions lo:hi are one block
    rank = dims.shape[0]
    inner, last = dims[rank - 1], starts[rank - 1]
    for r in numba.prange(y.shape[0] // inner):
        base, rem, inside = 0, np.int64(r), True
        for d in range(rank - 2, -1, -1):
            o = offs[starts[d] + rem % dims[d]]
            rem //= dims[d]
            inside = inside and o >= 0
            base += o
        yr = np.int64(r) * inner
        if not inside:
            y[yr:yr + inner] = fill
        else:
            for j in range(lo):
                o = offs[last + j]
                y[yr + j] = x[base + o] if o >= 0 else fill
            if hi > lo:
                b0 = base + offs[last + lo]
                y[yr + lo:yr + hi] = x[b0:b0 + hi - lo]
            for j in range(hi, inner):
                o = offs[last + j]
                y[yr + j] = x[base + o] if o >= 0 else fill


def _take(x, take_plan, fill, out, shape):
    y = out_array(out, shape)
    if y.size:
        take(x.reshape(-1), *take_plan, np.float32(fill), y.reshape(-1))
    return y


def slice(x, starts, ends, steps, out=None):
    # x -> y with y[..., i, ...] = x[..., starts[d] + i * steps[d], ...] per axis d
    shape = tuple(len(range(n)[s:e:k]) for n, s, e, k in zip(x.shape, starts, ends, steps))
    return _take(x, plan("slice", x.shape, starts, ends, steps), 0.0, out, shape)


def gather(x, indices, shape, axis, out=None):
    # x (..., A, ...) -> y (..., *shape, ...): the indices taken along `axis`
    return _take(x, plan("gather", x.shape, indices, axis), 0.0, out, x.shape[:axis] + shape + x.shape[axis + 1:])


def expand(x, shape, out=None):
    # x -> y (shape): numpy broadcasting
    return _take(x, plan("expand", x.shape, shape), 0.0, out, shape)


def pad(x, pads, mode, value, out=None):
    # x (d0..dn) -> y (pads[d] + d + pads[n + d]...), a negative pad crops; border by `mode`
    shape = tuple(pads[d] + n + pads[x.ndim + d] for d, n in enumerate(x.shape))
    return _take(x, plan("pad", x.shape, pads, mode), value, out, shape)
