"""Activations and broadcasting add / mul: strided loops over merged axes, row by row."""
from cython.parallel cimport prange

import numpy as np

from deepx.kernels.common import merge_axes

from kernels.cython._common cimport MAXD, NONE, PAR_MIN, ActC, affine_act, as_act, row_offset

cdef enum:
    BLOCK = 4096  # elements per parallel chunk of a flat loop


cdef void binary_row(const float* a, const float* b, float* y, Py_ssize_t n, Py_ssize_t sa,
                     Py_ssize_t sb, bint mul, ActC act) noexcept nogil:
    # y (n) = act(a[i*sa] (+|*) b[i*sb])
    cdef Py_ssize_t i
    if sa == 1 and sb == 1:
        if mul:
            for i in range(n):
                y[i] = a[i] * b[i]
        else:
            for i in range(n):
                y[i] = a[i] + b[i]
    elif sa == 1 and sb == 0:
        affine_act(a, y, n, b[0] if mul else 1.0, 0.0 if mul else b[0], act)
        return
    elif sa == 0 and sb == 1:
        affine_act(b, y, n, a[0] if mul else 1.0, 0.0 if mul else a[0], act)
        return
    elif mul:
        for i in range(n):
            y[i] = a[i * sa] * b[i * sb]
    else:
        for i in range(n):
            y[i] = a[i * sa] + b[i * sb]
    if act.kind != NONE:
        affine_act(y, y, n, 1.0, 0.0, act)


cdef binary(a, b, act, out, bint mul):
    # a, b broadcast (numpy rules) -> y (contiguous)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if out is None:
        out = np.empty(shape, np.float32)
    dims, (st_a, st_b) = merge_axes(shape, [[s // 4 for s in np.broadcast_to(t, shape).strides]
                                            for t in (a, b)], MAXD, "cython")
    cdef Py_ssize_t shp[MAXD]
    cdef Py_ssize_t sa[MAXD]
    cdef Py_ssize_t sb[MAXD]
    for d in range(MAXD):
        shp[d], sa[d], sb[d] = dims[d], st_a[d], st_b[d]
    cdef const float[::1] av = a.reshape(-1)
    cdef const float[::1] bv = b.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef const float* ap = &av[0]
    cdef const float* bp = &bv[0]
    cdef float* yp = &yv[0]
    cdef Py_ssize_t n = shp[MAXD - 1], rows = yv.shape[0] // n, r
    cdef ActC ac = as_act(act)
    for r in prange(rows, nogil=True, schedule='static', use_threads_if=rows * n >= PAR_MIN):
        binary_row(ap + row_offset(r, shp, sa), bp + row_offset(r, shp, sb), yp + r * n, n,
                   sa[MAXD - 1], sb[MAXD - 1], mul, ac)
    return out


def add(a, b, act, out=None):
    """a + b (broadcast) -> act(y)."""
    return binary(a, b, act, out, False)


def mul(a, b, act, out=None):
    """a * b (broadcast) -> act(y)."""
    return binary(a, b, act, out, True)


def activation(x, act, out=None):
    """x (any) -> act(x)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef Py_ssize_t n = xv.shape[0], blocks = (n + BLOCK - 1) // BLOCK, k
    cdef ActC a = as_act(act)
    for k in prange(blocks, nogil=True, schedule='static', use_threads_if=n >= PAR_MIN):
        affine_act(&xv[k * BLOCK], &yv[k * BLOCK], min(BLOCK, n - k * BLOCK), 1.0, 0.0, a)
    return out
