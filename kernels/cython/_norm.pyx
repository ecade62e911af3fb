"""Normalisations: local response normalisation, inference batch norm (+ activation), softmax."""
from cython.parallel cimport parallel, prange
from libc.math cimport expf, powf
from libc.stdlib cimport free, malloc

import numpy as np

from kernels.cython._common cimport PAR_MIN, ActC, affine_act, as_act


cdef void lrn_plane(const float* x, float* y, float* acc, int C, int c, Py_ssize_t HW, int size,
                    float alpha, float beta, float bias) noexcept nogil:
    # channel c of x (C,HW) -> y (HW) = x / (bias + alpha/size * sum of x² over the window)^beta
    cdef int lo = max(0, c - (size - 1) // 2), hi = min(C, c + size // 2 + 1), d
    cdef Py_ssize_t i
    cdef const float* xd
    for i in range(HW):
        acc[i] = 0.0
    for d in range(lo, hi):
        xd = x + d * HW
        for i in range(HW):
            acc[i] += xd[i] * xd[i]
    xd = x + c * HW
    for i in range(HW):
        y[i] = xd[i] * powf(bias + alpha / size * acc[i], -beta)


def lrn(const float[:, :, :, ::1] x, int size, float alpha, float beta, float bias, out=None):
    """x (N,C,H,W) -> y (N,C,H,W)."""
    cdef int N = x.shape[0], C = x.shape[1], nc
    cdef Py_ssize_t HW = x.shape[2] * x.shape[3]
    if out is None:
        out = np.empty((N, C, x.shape[2], x.shape[3]), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* xp = &x[0, 0, 0, 0]
    cdef float* yp = &y[0, 0, 0, 0]
    cdef float* acc
    with nogil, parallel(use_threads_if=N * C * HW * size >= PAR_MIN):
        acc = <float*>malloc(HW * sizeof(float))
        for nc in prange(N * C, schedule='static'):
            lrn_plane(xp + nc // C * C * HW, yp + nc * HW, acc, C, nc % C, HW, size, alpha, beta,
                      bias)
        free(acc)
    return out


def batchnorm(x, scale, bias, mean, var, double eps, act, out=None):
    """x (N,C,...) -> y = act((x - mean) / sqrt(var + eps) * scale + bias), per channel (C)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef int C = x.shape[1], NC = x.shape[0] * C, nc
    cdef const float[:, ::1] xv = x.reshape(NC, -1)
    cdef float[:, ::1] yv = out.reshape(NC, -1)
    cdef Py_ssize_t L = xv.shape[1]
    mult = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    cdef const float[::1] m = mult.astype(np.float32)
    cdef const float[::1] t = (bias - mean * mult).astype(np.float32)
    cdef ActC a = as_act(act)
    for nc in prange(NC, nogil=True, schedule='static', use_threads_if=NC * L >= PAR_MIN):
        affine_act(&xv[nc, 0], &yv[nc, 0], L, m[nc % C], t[nc % C], a)
    return out


cdef void softmax_line(const float* x, float* y, Py_ssize_t n, Py_ssize_t step) noexcept nogil:
    # y[i*step] = exp(x[i*step] - max) / sum over the n elements
    cdef Py_ssize_t i
    cdef float top = x[0]
    cdef double total = 0.0
    for i in range(1, n):
        top = x[i * step] if x[i * step] > top else top
    for i in range(n):
        y[i * step] = expf(x[i * step] - top)
        total += y[i * step]
    for i in range(n):
        y[i * step] = y[i * step] / total


def softmax(x, int axis, out=None):
    """x (..., L, ...) -> y, normalised along `axis` (of length L)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef Py_ssize_t L = x.shape[axis], inner = int(np.prod(x.shape[axis + 1:]))
    cdef const float[:, ::1] xv = x.reshape(-1, L * inner)
    cdef float[:, ::1] yv = out.reshape(-1, L * inner)
    cdef Py_ssize_t lines = xv.shape[0] * inner, k
    for k in prange(lines, nogil=True, schedule='static', use_threads_if=lines * L >= PAR_MIN):
        softmax_line(&xv[k // inner, k % inner], &yv[k // inner, k % inner], L, inner)
    return out
