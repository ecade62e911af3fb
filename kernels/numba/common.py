"""Shared numba pieces: the `njit` factory from `deepx.config`, the fused activation, argument packing."""
import numba
import numpy as np

from ... import config
from ..common import merge_axes

NO_BIAS = np.zeros(0, np.float32)  # stands for b=None, so kernels see one argument type
MAX_RANK = 8  # strided kernels pad shapes to this rank


def jit(parallel=False):
    """`njit` with the package's cache / fastmath options; parallel only if config allows it."""
    return numba.njit(cache=config.NUMBA_CACHE, fastmath=config.NUMBA_FASTMATH,
                      parallel=parallel and config.NUMBA_PARALLEL)


def act_args(act):
    """Act -> (kind, lo, hi) as plain scalars."""
    return int(act.kind), float(act.lo), float(act.hi)


def bias_arg(b):
    return NO_BIAS if b is None else b


def out_array(out, shape):
    return np.empty(shape, np.float32) if out is None else out


@jit()
def act1(v, kind, lo, hi):
    """The fused activation of one float32 value (kind: NONE, CLIP, SIGMOID, TANH)."""
    if kind == 1:
        return min(max(v, np.float32(lo)), np.float32(hi))
    if kind == 2:
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))
    if kind == 3:
        return np.tanh(v)
    return v


@jit(parallel=True)
def finish_rows(src, bias, k0, kind, lo, hi, dst):
    # src (K,L) + bias[k0 + k] -> act -> dst (K,L); src may be dst
    K, L = src.shape
    has_bias = bias.shape[0] > 0
    for k in numba.prange(K):
        bk = bias[k0 + k] if has_bias else np.float32(0.0)
        for i in range(L):
            dst[k, i] = act1(src[k, i] + bk, kind, lo, hi)


def merged(shape, *strides):
    """`kernels.common.merge_axes` to MAX_RANK axes, as int64 arrays: (shape, [strides...])."""
    shape, strides = merge_axes(shape, strides, MAX_RANK, "numba")
    return np.array(shape, np.int64), [np.array(st, np.int64) for st in strides]


def elem_strides(a, shape):
    """Element strides of `a` broadcast to `shape` (numpy rules)."""
    lead = len(shape) - a.ndim
    return [0] * lead + [0 if n == 1 else s // a.itemsize for n, s in zip(a.shape, a.strides)]


@jit()
def row_offset(row, shape, strides):
    """Flat offset of outer index `row` over axes 0..MAX_RANK-2 (the last axis is the inner loop)."""
    off, row = 0, np.int64(row)
    for d in range(shape.shape[0] - 2, -1, -1):
        off += (row % shape[d]) * strides[d]
        row //= shape[d]
    return off

