"""Data movement: concatenation (block copies), transposition (strided copy over merged axes); slice, gather,
expand and pad as one take kernel (kernels.ref.layout.take_plan)."""
from cython.parallel cimport prange
from libc.string cimport memcpy

import numpy as np

from deepx.kernels.common import merge_axes
from deepx.kernels.ref.layout import plan

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


cdef void take_rows(const float* x, const long long* offs, const long long* starts,
                    const long long* dims, int rank, Py_ssize_t lo, Py_ssize_t hi, float fill, float* y,
                    Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    # rows r0:r1 of y (dims): y[i0..in] = x[sum of axis d's offset at i_d], `fill` where one is -1;
    # the last axis's positions lo:hi are one block
    cdef Py_ssize_t inner = dims[rank - 1], r, rem, j, base, o
    cdef const long long* last = offs + starts[rank - 1]
    cdef bint inside
    cdef int d
    cdef float* yr
    for r in range(r0, r1):
        base, rem, inside = 0, r, True
        for d in range(rank - 2, -1, -1):
            o = offs[starts[d] + rem % dims[d]]
            rem = rem // dims[d]
            inside = inside and o >= 0
            base = base + o
        yr = y + r * inner
        if not inside:
            for j in range(inner):
                yr[j] = fill
            continue
        for j in range(lo):
            yr[j] = x[base + last[j]] if last[j] >= 0 else fill
        if hi > lo:
            memcpy(yr + lo, x + base + last[lo], (hi - lo) * sizeof(float))
        for j in range(hi, inner):
            yr[j] = x[base + last[j]] if last[j] >= 0 else fill


def take(x, plan, float fill, out):
    """x (C-contiguous) -> out through a kernels.ref.layout.take_plan (offsets, starts, dims, lo, hi)."""
    cdef const long long[::1] offs = plan[0], starts = plan[1], dims = plan[2]
    cdef Py_ssize_t lo = plan[3], hi = plan[4], rows, r, nth, inner
    cdef int rank = dims.shape[0]
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    if yv.shape[0] == 0:
        return out
    inner = dims[rank - 1]
    rows = yv.shape[0] // inner
    nth = 1 if yv.shape[0] < PAR_MIN else min(rows, 64)
    for r in prange(nth, nogil=True, schedule='static', use_threads_if=nth > 1):
        take_rows(&xv[0], &offs[0], &starts[0], &dims[0], rank, lo, hi, fill, &yv[0],
                  rows * r // nth, rows * (r + 1) // nth)
    return out


def slice(x, starts, ends, steps, out=None):
    """x -> y with y[..., i, ...] = x[..., starts[d] + i * steps[d], ...] per axis d."""
    shape = tuple(len(range(n)[s:e:k]) for n, s, e, k in zip(x.shape, starts, ends, steps))
    return take(x, plan("slice", x.shape, starts, ends, steps), 0.0, np.empty(shape, np.float32) if out is None else out)


def gather(x, indices, shape, int axis, out=None):
    """x (..., A, ...) -> y (..., *shape, ...): the indices taken along `axis`."""
    if out is None:
        out = np.empty(x.shape[:axis] + shape + x.shape[axis + 1:], np.float32)
    return take(x, plan("gather", x.shape, indices, axis), 0.0, out)


def expand(x, shape, out=None):
    """x -> y (shape): numpy broadcasting."""
    return take(x, plan("expand", x.shape, shape), 0.0, np.empty(shape, np.float32) if out is None else out)


def pad(x, pads, mode, float value, out=None):
    """x (d0..dn) -> y (pads[d] + d + pads[n + d]...), a negative pad crops; border by `mode`."""
    if out is None:
        out = np.empty([pads[d] + n + pads[x.ndim + d] for d, n in enumerate(x.shape)], np.float32)
    return take(x, plan("pad", x.shape, pads, mode), value, out)
