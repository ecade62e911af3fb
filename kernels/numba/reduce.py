"""Reductions over axes and arg-extrema: x as (O, R, I) blocks, R reduced; threads share the O rows (blocks of the I
columns)."""
import numba
import numpy as np

from ..ref.reduce import KINDS, as_blocks, reduced_shape
from .common import jit, out_array

SUM, MEAN, MAX, MIN, L1, L2, SUM_SQUARE, LOG_SUM_EXP, PROD = range(len(KINDS))


@jit()
def _term(v, kind, top):
    # one element's contribution to the accumulator
    if kind == L1:
        return abs(v)
    if kind == L2 or kind == SUM_SQUARE:
        return v * v
    if kind == LOG_SUM_EXP:
        return np.exp(v - top)
    return v


@jit()
def _finish(acc, kind, R, top):
    # the accumulated value -> the reduction's value
    if kind == MEAN:
        return acc / R
    if kind == L2:
        return np.sqrt(acc)
    if kind == LOG_SUM_EXP:
        return np.log(acc) + top
    return acc


@jit()
def _line(x, o, i, kind):
    # kind over x[o, :, i] (float64 accumulator) -> float32
    R = x.shape[1]
    if kind == MAX or kind == MIN:
        acc = x[o, 0, i]
        for r in range(1, R):
            v = x[o, r, i]
            acc = max(acc, v) if kind == MAX else min(acc, v)
        return acc
    top = np.float32(0.0)
    if kind == LOG_SUM_EXP:
        top = x[o, 0, i]
        for r in range(1, R):
            top = max(top, x[o, r, i])
    acc = 1.0 if kind == PROD else 0.0
    for r in range(R):
        if kind == PROD:
            acc *= x[o, r, i]
        else:
            acc += _term(x[o, r, i], kind, top)
    return np.float32(_finish(acc, kind, R, top))


LANES = 8  # float32 partial sums of a contiguous row, so that LLVM may vectorize without fastmath
BLOCK = 4096  # elements the lanes take before they are added into the float64 total


@jit()
def _lane_sum(row, kind):
    # sum of row (SUM, MEAN), |row| (L1) or row² (L2, SUM_SQUARE) over row (R), contiguous
    R = row.shape[0]
    n8 = R - R % LANES
    total = 0.0
    s = np.zeros(LANES, np.float32)
    for b in range(0, n8, BLOCK):
        s[:] = 0.0
        for i in range(b, min(b + BLOCK, n8), LANES):
            for j in range(LANES):
                s[j] += _term(row[i + j], kind, np.float32(0.0))
        total += s.sum()
    for i in range(n8, R):
        total += _term(row[i], kind, np.float32(0.0))
    return total


@jit(parallel=True)
def _reduce_rows(x, kind, y):
    # x (O,R) -> y (O): one contiguous row per output
    R = x.shape[1]
    x3 = x.reshape(x.shape[0], R, 1)
    for o in numba.prange(x.shape[0]):
        if kind == SUM or kind == MEAN or kind == L1 or kind == L2 or kind == SUM_SQUARE:
            y[o] = _finish(_lane_sum(x[o], kind), kind, R, np.float32(0.0))
        else:
            y[o] = _line(x3, o, 0, kind)


COLS = 64  # columns a thread accumulates at once when the kept axes after the reduced ones are contiguous


@jit(parallel=True)
def _reduce_cols(x, kind, y):
    # x (O,R,I) -> y (O,I): blocks of COLS columns, each row r of the block added to all of its accumulators
    n_out, R, n_in = x.shape
    nb = (n_in + COLS - 1) // COLS
    for ob in numba.prange(n_out * nb):
        o, i0 = ob // nb, ob % nb * COLS
        n = min(COLS, n_in - i0)
        top = x[o, 0, i0:i0 + n].copy()
        if kind == MAX or kind == MIN or kind == LOG_SUM_EXP:
            for r in range(1, R):
                for j in range(n):
                    v = x[o, r, i0 + j]
                    top[j] = min(top[j], v) if kind == MIN else max(top[j], v)
        if kind == MAX or kind == MIN:
            y[o, i0:i0 + n] = top
            continue
        acc = np.full(n, 1.0 if kind == PROD else 0.0)
        for r in range(R):
            for j in range(n):
                v = x[o, r, i0 + j]
                acc[j] = acc[j] * v if kind == PROD else acc[j] + _term(v, kind, top[j])
        for j in range(n):
            y[o, i0 + j] = _finish(acc[j], kind, R, top[j])


@jit(parallel=True)
def _arg(x, sign, last, y):
    # x (O,R,I) -> y (O,I): index of the extremum of sign * x along R (the last one when `last`)
    n_out, R, n_in = x.shape
    for oi in numba.prange(n_out * n_in):
        o, i = oi // n_in, oi % n_in
        best, at = sign * x[o, 0, i], 0
        for r in range(1, R):
            v = sign * x[o, r, i]
            if v > best or (last and v == best):
                best, at = v, r
        y[o, i] = at


def reduce(x, kind, axes, keepdims, out=None):
    # x (any) -> y: `kind` over `axes`
    x3 = as_blocks(x, axes)
    y = out_array(out, reduced_shape(x.shape, axes, keepdims))
    if x3.shape[2] == 1:
        _reduce_rows(x3.reshape(x3.shape[:2]), KINDS.index(kind), y.reshape(-1))
    else:
        _reduce_cols(x3, KINDS.index(kind), y.reshape(x3.shape[0], -1))
    return y


def _argext(x, axis, keepdims, last, sign, out):
    x3 = as_blocks(x, (axis,))
    y = out_array(out, reduced_shape(x.shape, (axis,), keepdims))
    _arg(x3, np.float32(sign), last, y.reshape(x3.shape[0], x3.shape[2]))
    return y


def argmax(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the largest value along `axis`
    return _argext(x, axis, keepdims, select_last_index, 1.0, out)


def argmin(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the smallest value along `axis`
    return _argext(x, axis, keepdims, select_last_index, -1.0, out)
