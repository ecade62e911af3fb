"""Resize: nearest through the take kernel of _layout, linear as a blend of precomputed taps
(kernels.ref.resize)."""
from cython.parallel cimport prange
from libc.string cimport memcpy

import numpy as np

from deepx.kernels.cython._layout import take
from deepx.kernels.ref.resize import nearest_plan, nearest_planes, resize_plan

from kernels.cython._common cimport PAR_MIN, omp_get_max_threads


cdef void linear_row(const float* r0, const float* r1, float a, const long long* w0, const long long* w1,
                     const float* ww, float* y, Py_ssize_t Q) noexcept nogil:
    # y (Q) = rows r0, r1 blended by a, each read at columns w0 / w1 blended by ww
    cdef Py_ssize_t q
    cdef float t0, t1, c
    for q in range(Q):
        c = ww[q]
        t0 = r0[w0[q]] + c * (r0[w1[q]] - r0[w0[q]])
        t1 = r1[w0[q]] + c * (r1[w1[q]] - r1[w0[q]])
        y[q] = t0 + a * (t1 - t0)


cdef void blend_cols(const float* r, const long long* w0, const long long* w1, const float* ww, float* t,
                     Py_ssize_t Q) noexcept nogil:
    # t (Q) = row r read at columns w0 / w1 blended by ww
    cdef Py_ssize_t q
    for q in range(Q):
        t[q] = r[w0[q]] + ww[q] * (r[w1[q]] - r[w0[q]])


cdef void linear_plane(const float* x, Py_ssize_t W, const long long* h0, const long long* h1, const float* hw,
                       const long long* w0, const long long* w1, const float* ww, float* y, Py_ssize_t P,
                       Py_ssize_t Q, float* buf) noexcept nogil:
    # x (H,W) -> y (P,Q) separably: an input row is blended along W once, into buf (Q) as the upper row
    # or buf + Q as the lower one (rows only move down), then the two rows are blended by hw
    cdef Py_ssize_t p, q, upper = -1, lower = -1
    cdef float a
    for p in range(P):
        if h0[p] != upper:
            if h0[p] == lower:
                memcpy(buf, buf + Q, Q * sizeof(float))
            else:
                blend_cols(x + h0[p] * W, w0, w1, ww, buf, Q)
            upper = h0[p]
        if h1[p] != lower:
            blend_cols(x + h1[p] * W, w0, w1, ww, buf + Q, Q)
            lower = h1[p]
        a = hw[p]
        for q in range(Q):
            y[p * Q + q] = buf[q] + a * (buf[Q + q] - buf[q])


cdef void nearest_plane(const float* x, Py_ssize_t W, const long long* rows, const long long* cols, int f,
                        float* y, Py_ssize_t P, Py_ssize_t Q) noexcept nogil:
    # x (H,W) -> y (P,Q) = x[rows[p], cols[q]]; a row reading the same input row as the one before is copied
    # from it; f > 1: cols[q] = q // f
    cdef Py_ssize_t p, q, j
    cdef int k
    cdef const float* src
    cdef float* dst
    cdef float v
    for p in range(P):
        dst = y + p * Q
        if p > 0 and rows[p] == rows[p - 1]:
            memcpy(dst, dst - Q, Q * sizeof(float))
            continue
        src = x + rows[p] * W
        if f == 2:
            for j in range(W):
                dst[2 * j] = src[j]
                dst[2 * j + 1] = src[j]
        elif f > 2:
            for j in range(W):
                v = src[j]
                for k in range(f):
                    dst[j * f + k] = v
        else:
            for q in range(Q):
                dst[q] = src[cols[q]]


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    """x (d0..dn) -> y (sizes): nearest on any axes, linear on the last two."""
    if out is None:
        out = np.empty(sizes, np.float32)
    planes = nearest_planes(x.shape, sizes, scales, coord, nearest) if mode == "nearest" else None
    if planes is not None:
        return _nearest(x, planes, out)
    if mode == "nearest":
        return take(x, nearest_plan(x.shape, sizes, scales, coord, nearest), 0.0, out)
    (h0, h1, hw), (w0, w1, ww) = resize_plan(x.shape, sizes, scales, mode, coord, nearest)
    cdef const long long[::1] vh0 = h0, vh1 = h1, vw0 = w0, vw1 = w1
    cdef const float[::1] vhw = hw, vww = ww
    shape = (-1, x.shape[x.ndim - 2] if x.ndim > 1 else 1, x.shape[x.ndim - 1])  # (wraparound is off)
    cdef const float[:, :, ::1] xv = x.reshape(shape)
    cdef float[:, :, ::1] yv = out.reshape(-1, len(h0), len(w0))
    cdef Py_ssize_t B = xv.shape[0], W = xv.shape[2], P = yv.shape[1], Q = yv.shape[2], bp, b, p
    cdef float[:, ::1] buf
    if B >= 2 * omp_get_max_threads():  # plane by plane, each input row blended along W once
        buf = np.empty((B, 2 * Q), np.float32)
        for b in prange(B, nogil=True, schedule='static', use_threads_if=B * P * Q >= PAR_MIN):
            linear_plane(&xv[b, 0, 0], W, &vh0[0], &vh1[0], &vhw[0], &vw0[0], &vw1[0], &vww[0], &yv[b, 0, 0], P, Q,
                         &buf[b, 0])
        return out
    for bp in prange(B * P, nogil=True, schedule='static', use_threads_if=B * P * Q >= PAR_MIN):
        b, p = bp // P, bp % P
        linear_row(&xv[b, vh0[p], 0], &xv[b, vh1[p], 0], vhw[p], &vw0[0], &vw1[0], &vww[0], &yv[b, p, 0], Q)
    return out


def _nearest(x, planes, out):
    # x (..., H, W) -> out (..., P, Q): a nearest resize of the last two axes, plane by plane
    rows, cols, f = planes
    cdef const long long[::1] vr = rows, vc = cols
    cdef const float[:, :, ::1] xv = x.reshape(-1, x.shape[x.ndim - 2] if x.ndim > 1 else 1, x.shape[x.ndim - 1])
    cdef float[:, :, ::1] yv = out.reshape(-1, len(rows), len(cols))
    cdef Py_ssize_t B = xv.shape[0], W = xv.shape[2], P = yv.shape[1], Q = yv.shape[2], b
    cdef int fi = f
    for b in prange(B, nogil=True, schedule='static', use_threads_if=B * P * Q >= PAR_MIN):
        nearest_plane(&xv[b, 0, 0], W, &vr[0], &vc[0], fi, &yv[b, 0, 0], P, Q)
    return out
