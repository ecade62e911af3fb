"""Activations, broadcasting binary ops and where (axes merged, then one strided loop per output row)."""
import math

import numba
import numpy as np

from ..common import binary_kernels, broadcast_shape
from .common import act1, act_args, elem_strides, jit, merged, out_array, row_offset

ADD, MUL, SUB, DIV, POW, MIN, MAX = range(7)
BLOCK = 4096  # elements per parallel piece of a row


@jit()
def _pow(u, v):
    # the exponents of real networks without a call to pow
    if v == 2:
        return u * u
    if v == 3:
        return u * u * u
    if v == 0.5:
        return np.float32(math.sqrt(u)) if u >= 0 else np.float32(math.nan)
    if v == 1:
        return u
    if u == 0 and v < 0:
        return np.float32(math.inf)
    if u < 0 and np.floor(v) != v:
        return np.float32(math.nan)
    return np.float32(math.pow(np.float64(u), np.float64(v)))


@jit()
def _div(u, v):
    # IEEE u / v (numba raises on a zero divisor)
    if v != 0:
        return u / v
    if u != u or u == 0:
        return np.float32(math.nan)
    return np.float32(math.copysign(math.inf, u) * math.copysign(1.0, v))


@jit()
def bin1(u, v, op):
    """u `op` v for one pair of float32 values (op: a code of kernels.common.BINARY)."""
    if op == ADD:
        return u + v
    if op == MUL:
        return u * v
    if op == SUB:
        return u - v
    if op == DIV:
        return _div(u, v)
    if op == POW:
        return _pow(u, v)
    if op == MIN:
        return min(u, v)
    if op == MAX:
        return max(u, v)
    return _logic(u, v, op)


@jit()
def _logic(u, v, op):
    # comparisons and logic (0/1), prelu
    if op == 15:
        return u if u >= 0 else u * v
    if op == 7:
        t = u == v
    elif op == 8:
        t = u < v
    elif op == 9:
        t = u > v
    elif op == 10:
        t = u <= v
    elif op == 11:
        t = u >= v
    elif op == 12:
        t = u != 0 and v != 0
    elif op == 13:
        t = u != 0 or v != 0
    else:
        t = (u != 0) != (v != 0)
    return np.float32(1.0) if t else np.float32(0.0)


@jit()
def _row(a, ia, ja, b, ib, jb, y, base, n, op):
    # y[base:base+n] = a[ia + i*ja] `op` b[ib + i*jb]: the common ops get loops of their own (vectorized)
    if ja == 1 and jb == 1 and op <= MAX:
        if op == ADD:
            for i in range(n):
                y[base + i] = a[ia + i] + b[ib + i]
        elif op == MUL:
            for i in range(n):
                y[base + i] = a[ia + i] * b[ib + i]
        elif op == SUB:
            for i in range(n):
                y[base + i] = a[ia + i] - b[ib + i]
        else:
            for i in range(n):
                y[base + i] = bin1(a[ia + i], b[ib + i], op)
    elif ja == 1 and jb == 0 and op <= MAX:
        s = b[ib]
        if op == ADD:
            for i in range(n):
                y[base + i] = a[ia + i] + s
        elif op == MUL:
            for i in range(n):
                y[base + i] = a[ia + i] * s
        elif op == SUB:
            for i in range(n):
                y[base + i] = a[ia + i] - s
        elif op == DIV and s != 0:
            for i in range(n):
                y[base + i] = a[ia + i] / s
        else:
            for i in range(n):
                y[base + i] = bin1(a[ia + i], s, op)
    else:
        for i in range(n):
            y[base + i] = bin1(a[ia + i * ja], b[ib + i * jb], op)


@jit(parallel=True)
def _binary(a, sa, b, sb, shape, op, kind, lo, hi, y):
    # a, b flat with element strides sa, sb over `shape` (rank MAX_RANK, 0 = broadcast) -> y flat
    # rows of the last axis, cut in pieces of BLOCK so that a few long rows still share the threads
    inner = shape[-1]
    pieces = (inner + BLOCK - 1) // BLOCK
    for t in numba.prange(y.shape[0] // inner * pieces):
        row, start = t // pieces, t % pieces * BLOCK
        n = min(BLOCK, inner - start)
        base = np.int64(row) * inner + start
        ia, ib = row_offset(row, shape, sa) + start * sa[-1], row_offset(row, shape, sb) + start * sb[-1]
        _row(a, ia, sa[-1], b, ib, sb[-1], y, base, n, op)
        if kind != 0:
            for i in range(n):
                y[base + i] = act1(y[base + i], kind, lo, hi)


@jit(parallel=True)
def _where(c, sc, a, sa, b, sb, shape, y):
    # c, a, b flat with element strides over `shape` -> y flat: a where c != 0, else b
    inner = shape[-1]
    for row in numba.prange(y.shape[0] // inner):
        ic, ia, ib = row_offset(row, shape, sc), row_offset(row, shape, sa), row_offset(row, shape, sb)
        base = np.int64(row) * inner
        for i in range(inner):
            y[base + i] = a[ia + i * sa[-1]] if c[ic + i * sc[-1]] != 0 else b[ib + i * sb[-1]]


@jit(parallel=True)
def _activation(x, kind, lo, hi, y):
    # x flat -> act(x) -> y flat; none and relu / clip get loops of their own (vectorized)
    if kind == 0:
        for i in numba.prange(x.shape[0]):
            y[i] = x[i]
    elif kind == 1:
        a, b = np.float32(lo), np.float32(hi)
        for i in numba.prange(x.shape[0]):
            y[i] = min(max(x[i], a), b)
    elif kind == 5:  # hardswish
        a, b = np.float32(lo), np.float32(hi)
        for i in numba.prange(x.shape[0]):
            y[i] = x[i] * min(max(x[i] * a + b, np.float32(0.0)), np.float32(1.0))
    elif kind == 16:  # silu
        for i in numba.prange(x.shape[0]):
            y[i] = x[i] / (np.float32(1.0) + np.exp(-x[i]))
    else:
        for i in numba.prange(x.shape[0]):
            y[i] = act1(x[i], kind, lo, hi)


def _run(op, a, b, act, out):
    shape = broadcast_shape(a.shape, b.shape)
    y = out_array(out, shape)
    if y.size:
        dims, (sa, sb) = merged(shape, elem_strides(a, shape), elem_strides(b, shape))
        _binary(a.reshape(-1), sa, b.reshape(-1), sb, dims, op, *act_args(act), y.reshape(-1))
    return y


add, mul, sub, div, pow, minimum, maximum, equal, less, greater, less_equal, greater_equal, logical_and, \
    logical_or, logical_xor, prelu = binary_kernels(_run)


def where(cond, x, y, out=None):
    # cond (0/1), x, y broadcast (numpy rules) -> x where cond != 0, else y
    shape = broadcast_shape(cond.shape, x.shape, y.shape)
    r = out_array(out, shape)
    if r.size:
        dims, st = merged(shape, *(elem_strides(t, shape) for t in (cond, x, y)))
        _where(cond.reshape(-1), st[0], x.reshape(-1), st[1], y.reshape(-1), st[2], dims, r.reshape(-1))
    return r


def activation(x, act, out=None):
    # x (any) -> act(x)
    y = out_array(out, x.shape)
    _activation(x.reshape(-1), *act_args(act), y.reshape(-1))
    return y
