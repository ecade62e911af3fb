"""Data movement: concatenation (block copies), transposition (strided copy over merged axes), padding."""
from cython.parallel cimport prange
from libc.string cimport memcpy

import numpy as np

from deepx.kernels.common import merge_axes

from kernels.cython._common cimport MAXD, PAR_MIN, row_offset


def concat(xs, int axis, out=None):
    """xs: tensors equal but along `axis` -> y."""
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    if out is None:
        out = np.empty(shape, np.float32)
    # each x is (outer, block) and lands at column `start` of y viewed as (outer, row)
    cdef Py_ssize_t outer = int(np.prod(shape[:axis])), inner = int(np.prod(shape[axis + 1:]))
    cdef Py_ssize_t row = shape[axis] * inner, m = len(xs), o, i
    cdef Py_ssize_t[::1] src = np.array([x.ctypes.data for x in xs], np.intp)
    cdef Py_ssize_t[::1] block = np.array([x.shape[axis] * inner for x in xs], np.intp)
    cdef Py_ssize_t[::1] start = np.cumsum(block, dtype=np.intp) - block
    cdef float[::1] yv = out.reshape(-1)
    cdef float* yp = &yv[0]
    for o in prange(outer, nogil=True, schedule='static', use_threads_if=outer * row >= PAR_MIN):
        for i in range(m):
            memcpy(yp + o * row + start[i], <const float*>src[i] + o * block[i],
                   block[i] * sizeof(float))
    return out


cdef void gather_row(const float* x, float* y, Py_ssize_t n, Py_ssize_t step) noexcept nogil:
    cdef Py_ssize_t i
    if step == 1:
        memcpy(y, x, n * sizeof(float))
    else:
        for i in range(n):
            y[i] = x[i * step]


def transpose(x, perm, out=None):
    """x -> y with y.shape[i] = x.shape[perm[i]]."""
    shape = tuple(x.shape[p] for p in perm)
    if out is None:
        out = np.empty(shape, np.float32)
    dims, (st,) = merge_axes(shape, [[x.strides[p] // 4 for p in perm]], MAXD, "cython")
    cdef Py_ssize_t shp[MAXD]
    cdef Py_ssize_t sx[MAXD]
    for d in range(MAXD):
        shp[d], sx[d] = dims[d], st[d]
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef const float* xp = &xv[0]
    cdef float* yp = &yv[0]
    cdef Py_ssize_t n = shp[MAXD - 1], rows = yv.shape[0] // n, r
    for r in prange(rows, nogil=True, schedule='static', use_threads_if=rows * n >= PAR_MIN):
        gather_row(xp + row_offset(r, shp, sx), yp + r * n, n, sx[MAXD - 1])
    return out


def pad(const float[:, :, :, ::1] x, pads, float value, out=None):
    """x (N,C,H,W) -> y (N,C,top+H+bottom,left+W+right), the border filled with `value`."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t t = pads[0], left = pads[1], P = t + H + pads[2], Q = left + W + pads[3]
    if out is None:
        out = np.empty((N, C, P, Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef Py_ssize_t nc, i, j
    cdef float* plane
    for nc in prange(N * C, nogil=True, schedule='static', use_threads_if=N * C * P * Q >= PAR_MIN):
        plane = &y[nc // C, nc % C, 0, 0]
        for i in range(P * Q):
            plane[i] = value
        for i in range(H):
            memcpy(plane + (t + i) * Q + left, &x[nc // C, nc % C, i, 0], W * sizeof(float))
    return out
