"""Shared numba pieces: the `njit` factory from `deepx.config`, the fused activation, argument packing."""
import math

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
def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


@jit()
def act1(v, kind, lo, hi):
    """The fused activation of one float32 value (kernels.common's kinds; lo, hi their parameters)."""
    if kind == 0:
        return v
    if kind == 1:
        return min(max(v, np.float32(lo)), np.float32(hi))
    if kind == 2:
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))
    if kind == 3:
        return np.tanh(v)
    if kind == 5:
        return v * min(max(v * np.float32(lo) + np.float32(hi), np.float32(0.0)), np.float32(1.0))
    if kind == 16:
        return v / (np.float32(1.0) + np.exp(-v))
    return np.float32(_act_rare(np.float64(v), kind, lo, hi))


@jit()
def _act_rare(v, kind, lo, hi):
    # the kinds past NONE, CLIP, SIGMOID, TANH, HARDSWISH, SILU, in float64
    if kind == 4:
        return min(max(v * lo + hi, 0.0), 1.0)
    if kind == 6:
        return v if v >= 0 else v * lo
    if kind == 7:
        return v if v >= 0 else lo * math.expm1(v)
    if kind == 8:
        return hi * (v if v > 0 else lo * math.expm1(v))
    if kind == 9:
        return max(v, 0.0) + min(0.0, lo * math.expm1(v / lo))
    if kind == 10:
        return v if v > lo else 0.0
    if kind == 11:
        return _softplus(v)
    if kind == 12:
        return v / (1.0 + abs(v))
    if kind == 13:
        return 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))
    if kind == 14:
        return 0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
    if kind == 15:
        return v * math.tanh(_softplus(v))
    return _math1(v, kind)


@jit()
def _math1(v, kind):
    # EXP .. NOT
    if kind == 17:
        return math.exp(v)
    if kind == 18:
        return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
    if kind == 19:
        return -v
    if kind == 20:
        return abs(v)
    if kind == 21:
        return math.sqrt(v) if v >= 0 else math.nan
    if kind == 22:
        return 1.0 / v if v != 0 else math.copysign(math.inf, v)
    if kind == 23:
        return math.erf(v)
    if kind == 24:
        return np.floor(v)
    if kind == 25:
        return np.ceil(v)
    return 1.0 if v == 0 else 0.0


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

