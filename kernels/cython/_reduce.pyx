"""Reductions over axes and arg-extrema: x as (O, R, I) blocks, R reduced; threads share the O rows, or blocks
of COLS columns of them when the kept axes after the reduced ones make I > 1."""
from cython.parallel cimport prange
from libc.math cimport exp, expf, log, sqrt

import numpy as np

from deepx.kernels.ref.reduce import KINDS, as_blocks, reduced_shape

from kernels.cython._common cimport LANE_ABS, LANE_PLAIN, LANE_SQUARE, PAR_MIN, lane_sum

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


cdef inline double row_sum(const float* x, Py_ssize_t n, int kind) noexcept nogil:
    # sum of x (SUM, MEAN), |x| (L1) or x² (L2, SUM_SQUARE) over x (n), contiguous
    return lane_sum(x, n, 0.0, LANE_ABS if kind == L1 else LANE_SQUARE if kind == L2 or kind == SUM_SQUARE
                    else LANE_PLAIN)


cdef extern from *:
    """
    /* max (min when low) of x (n), n >= 1, in 8 lanes; without trapping math, so that GCC turns the
       comparisons into selects and vectorizes */
    __attribute__((optimize("no-trapping-math"))) static float deepx_extremum_line(const float* x, Py_ssize_t n,
                                                                                  int low) {
        float t[8];
        Py_ssize_t i, n8 = n - n % 8;
        for (int j = 0; j < 8; j++) t[j] = x[0];
        if (low) {
            for (i = 0; i < n8; i += 8)
                for (int j = 0; j < 8; j++) t[j] = x[i + j] < t[j] ? x[i + j] : t[j];
            for (i = n8; i < n; i++) t[0] = x[i] < t[0] ? x[i] : t[0];
            for (int j = 1; j < 8; j++) t[0] = t[j] < t[0] ? t[j] : t[0];
        } else {
            for (i = 0; i < n8; i += 8)
                for (int j = 0; j < 8; j++) t[j] = x[i + j] > t[j] ? x[i + j] : t[j];
            for (i = n8; i < n; i++) t[0] = x[i] > t[0] ? x[i] : t[0];
            for (int j = 1; j < 8; j++) t[0] = t[j] > t[0] ? t[j] : t[0];
        }
        return t[0];
    }

    /* top (n) = max (min when low) over the R rows (stride I) of n columns of x, row 0 included */
    __attribute__((optimize("no-trapping-math"))) static void deepx_extremum_cols(const float* x, Py_ssize_t R,
                                                                                 Py_ssize_t I, int n, int low,
                                                                                 float* top) {
        for (int j = 0; j < n; j++) top[j] = x[j];
        for (Py_ssize_t r = 1; r < R; r++) {
            const float* xr = x + r * I;
            if (low)
                for (int j = 0; j < n; j++) top[j] = xr[j] < top[j] ? xr[j] : top[j];
            else
                for (int j = 0; j < n; j++) top[j] = xr[j] > top[j] ? xr[j] : top[j];
        }
    }
    """
    float deepx_extremum_line(const float* x, Py_ssize_t n, bint low) noexcept nogil
    void deepx_extremum_cols(const float* x, Py_ssize_t R, Py_ssize_t I, int n, bint low, float* top) noexcept nogil


cdef float reduce_row(const float* x, Py_ssize_t R, int kind) noexcept nogil:
    # kind over x (R), contiguous
    cdef Py_ssize_t r
    cdef float top
    cdef double acc = 0.0
    if kind == MAX or kind == MIN:
        return deepx_extremum_line(x, R, kind == MIN)
    if kind == PROD:
        acc = 1.0
        for r in range(R):
            acc *= x[r]
        return acc
    if kind != LOG_SUM_EXP:
        return finish(row_sum(x, R, kind), kind, R, 0.0)
    top = deepx_extremum_line(x, R, False)
    for r in range(R):
        acc += expf(x[r] - top)
    return finish(acc, kind, R, top)


cdef void reduce_cols(const float* x, Py_ssize_t R, Py_ssize_t I, int n, int kind, float* y) noexcept nogil:
    # kind over the R rows (stride I) of n <= COLS columns of x -> y (n)
    cdef double acc[COLS]
    cdef float top[COLS]
    cdef Py_ssize_t r
    cdef int j
    for j in range(n):
        acc[j] = 1.0 if kind == PROD else 0.0
    if kind == MAX or kind == MIN or kind == LOG_SUM_EXP:
        deepx_extremum_cols(x, R, I, n, kind == MIN, top)
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
