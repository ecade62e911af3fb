"""Reductions over axes and arg-extrema: x as (O, R, I) blocks, R reduced; threads share the O rows, or blocks
of COLS columns of them when the kept axes after the reduced ones make I > 1."""
from cython.parallel cimport prange
from libc.math cimport exp, expf, fabsf, log, sqrt

import numpy as np

from deepx.kernels.ref.reduce import KINDS, as_blocks, reduced_shape

from kernels.cython._common cimport PAR_MIN

cdef enum:  # the kinds, numbered as KINDS
    SUM = 0
    MEAN = 1
    MAX = 2
    MIN = 3
    L1 = 4
    L2 = 5
    SUM_SQUARE = 6
    LOG_SUM_EXP = 7
    PROD = 8

cdef enum:
    COLS = 64  # columns one thread reduces at once
    LANES = 8  # float partial sums (or extrema) of a contiguous row, so that the compiler may vectorize
    BLOCK = 4096  # elements the lanes take before they are added into the double total


cdef inline double term(float v, int kind, float top) noexcept nogil:
    # one element's contribution to the accumulator
    if kind == L1:
        return v if v > 0 else -v
    if kind == L2 or kind == SUM_SQUARE:
        return <double>v * v
    if kind == LOG_SUM_EXP:
        return exp(v - top)
    return v


cdef inline float finish(double acc, int kind, Py_ssize_t R, float top) noexcept nogil:
    # the accumulated value -> the reduction's value
    if kind == MEAN:
        return acc / R
    if kind == L2:
        return sqrt(acc)
    if kind == LOG_SUM_EXP:
        return log(acc) + top
    return acc


cdef double lane_sum(const float* x, Py_ssize_t n, int kind) noexcept nogil:
    # sum of x (SUM, MEAN, PROD: not here), |x| (L1) or x² (L2, SUM_SQUARE) over x (n), contiguous
    cdef float s[LANES]
    cdef double total = 0.0
    cdef Py_ssize_t i, b, end, n8 = n - n % LANES
    cdef int j
    for b in range((n8 + BLOCK - 1) // BLOCK):
        end = min((b + 1) * BLOCK, n8)
        for j in range(LANES):
            s[j] = 0.0
        for i in range(b * BLOCK, end, 8):
            for j in range(LANES):
                if kind == L1:
                    s[j] += fabsf(x[i + j])
                elif kind == L2 or kind == SUM_SQUARE:
                    s[j] += x[i + j] * x[i + j]
                else:
                    s[j] += x[i + j]
        for j in range(LANES):
            total += s[j]
    for i in range(n8, n):
        total += term(x[i], kind, 0.0)
    return total


cdef float lane_extremum(const float* x, Py_ssize_t n, bint low) noexcept nogil:
    # max (min when `low`) of x (n), contiguous, n >= 1
    cdef float t[LANES]
    cdef float v
    cdef Py_ssize_t i
    cdef int j
    for j in range(LANES):
        t[j] = x[0]
    for i in range(0, n - n % LANES, 8):
        for j in range(LANES):
            v = x[i + j]
            t[j] = (v if v < t[j] else t[j]) if low else (v if v > t[j] else t[j])
    for i in range(n - n % LANES, n):
        t[0] = (x[i] if x[i] < t[0] else t[0]) if low else (x[i] if x[i] > t[0] else t[0])
    for j in range(1, LANES):
        t[0] = (t[j] if t[j] < t[0] else t[0]) if low else (t[j] if t[j] > t[0] else t[0])
    return t[0]


cdef float reduce_row(const float* x, Py_ssize_t R, int kind) noexcept nogil:
    # kind over x (R), contiguous
    cdef Py_ssize_t r
    cdef float top
    cdef double acc = 0.0
    if kind == MAX or kind == MIN:
        return lane_extremum(x, R, kind == MIN)
    if kind == PROD:
        acc = 1.0
        for r in range(R):
            acc *= x[r]
        return acc
    if kind != LOG_SUM_EXP:
        return finish(lane_sum(x, R, kind), kind, R, 0.0)
    top = lane_extremum(x, R, False)
    for r in range(R):
        acc += expf(x[r] - top)
    return finish(acc, kind, R, top)


cdef void reduce_cols(const float* x, Py_ssize_t R, Py_ssize_t I, int n, int kind, float* y) noexcept nogil:
    # kind over the R rows (stride I) of n <= COLS columns of x -> y (n)
    cdef double acc[COLS]
    cdef float top[COLS]
    cdef Py_ssize_t r
    cdef int j
    cdef float v
    for j in range(n):
        top[j] = x[j]
        acc[j] = 1.0 if kind == PROD else 0.0
    if kind == MAX or kind == MIN or kind == LOG_SUM_EXP:
        for r in range(1, R):
            for j in range(n):
                v = x[r * I + j]
                if (v < top[j]) if kind == MIN else (v > top[j]):
                    top[j] = v
        if kind != LOG_SUM_EXP:
            for j in range(n):
                y[j] = top[j]
            return
    for r in range(R):
        if kind == PROD:
            for j in range(n):
                acc[j] *= x[r * I + j]
        else:
            for j in range(n):
                acc[j] += term(x[r * I + j], kind, top[j])
    for j in range(n):
        y[j] = finish(acc[j], kind, R, top[j])


def reduce(x, kind, axes, bint keepdims, out=None):
    """x (any) -> y: `kind` over `axes`."""
    if out is None:
        out = np.empty(reduced_shape(x.shape, axes, keepdims), np.float32)
    x3 = as_blocks(x, axes)
    cdef const float[:, :, ::1] xv = x3
    cdef float[:, ::1] yv = out.reshape(x3.shape[0], x3.shape[2])
    cdef Py_ssize_t O = xv.shape[0], R = xv.shape[1], I = xv.shape[2], nb = (I + COLS - 1) // COLS, k
    cdef int code = KINDS.index(kind)
    cdef bint par = O * R * I >= PAR_MIN
    if I == 1:
        for k in prange(O, nogil=True, schedule='static', use_threads_if=par):
            yv[k, 0] = reduce_row(&xv[k, 0, 0], R, code)
    else:
        for k in prange(O * nb, nogil=True, schedule='static', use_threads_if=par):
            reduce_cols(&xv[k // nb, 0, k % nb * COLS], R, I, min(COLS, I - k % nb * COLS), code,
                        &yv[k // nb, k % nb * COLS])
    return out


cdef float arg_line(const float* x, Py_ssize_t R, Py_ssize_t step, float sign, bint last) noexcept nogil:
    # the index of the extremum of sign * x[r * step] over r < R (the last one when `last`)
    cdef Py_ssize_t r, at = 0
    cdef float best = sign * x[0], v
    for r in range(1, R):
        v = sign * x[r * step]
        if v > best or (last and v == best):
            best, at = v, r
    return at


def _arg(x, int axis, bint keepdims, bint last, float sign, out):
    # x (O,R,I) -> y (O,I): arg-extremum along R
    if out is None:
        out = np.empty(reduced_shape(x.shape, (axis,), keepdims), np.float32)
    x3 = as_blocks(x, (axis,))
    cdef const float[:, :, ::1] xv = x3
    cdef float[:, ::1] yv = out.reshape(x3.shape[0], x3.shape[2])
    cdef Py_ssize_t O = xv.shape[0], R = xv.shape[1], I = xv.shape[2], k
    for k in prange(O * I, nogil=True, schedule='static', use_threads_if=O * R * I >= PAR_MIN):
        yv[k // I, k % I] = arg_line(&xv[k // I, 0, k % I], R, I, sign, last)
    return out


def argmax(x, int axis, bint keepdims, bint select_last_index, out=None):
    """x (any) -> y: the index of the largest value along `axis`."""
    return _arg(x, axis, keepdims, select_last_index, 1.0, out)


def argmin(x, int axis, bint keepdims, bint select_last_index, out=None):
    """x (any) -> y: the index of the smallest value along `axis`."""
    return _arg(x, axis, keepdims, select_last_index, -1.0, out)
