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
def act1(v, kind, lo, hi):
    """The fused activation of one float32 value (kernels.common's kinds; lo, hi their parameters). One
    function calling no other jitted one: Numba's cache keeps callees of a cached kernel badly."""
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
    u = np.float64(v)  # the other kinds in float64
    if kind == 4:
        r = min(max(u * lo + hi, 0.0), 1.0)
    elif kind == 6:
        r = u if u >= 0 else u * lo
    elif kind == 7:
        r = u if u >= 0 else lo * math.expm1(u)
    elif kind == 8:
        r = hi * (u if u > 0 else lo * math.expm1(u))
    elif kind == 9:
        r = max(u, 0.0) + min(0.0, lo * math.expm1(u / lo))
    elif kind == 10:
        r = u if u > lo else 0.0
    elif kind == 11 or kind == 15:  # softplus, mish
        r = max(u, 0.0) + math.log1p(math.exp(-abs(u)))
        r = r if kind == 11 else u * math.tanh(r)
    elif kind == 12:
        r = u / (1.0 + abs(u))
    elif kind == 13:
        r = 0.5 * u * (1.0 + math.erf(u * 0.7071067811865476))
    elif kind == 14:
        r = 0.5 * u * (1.0 + math.tanh(0.7978845608028654 * (u + 0.044715 * u * u * u)))
    elif kind == 17:
        r = math.exp(u)
    elif kind == 18:
        r = math.log(u) if u > 0 else (-math.inf if u == 0 else math.nan)
    elif kind == 19:
        r = -u
    elif kind == 20:
        r = abs(u)
    elif kind == 21:
        r = math.sqrt(u) if u >= 0 else math.nan
    elif kind == 22:
        r = 1.0 / u if u != 0 else math.copysign(math.inf, u)
    elif kind == 23:
        r = math.erf(u)
    elif kind == 24:
        r = np.floor(u)
    elif kind == 25:
        r = np.ceil(u)
    else:
        r = 1.0 if u == 0 else 0.0
    return np.float32(r)


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

