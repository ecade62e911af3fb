"""Pooling over NCHW: max, average (ceil_mode, padding, count_include_pad), global average;
parallel over the (n, c) planes."""
from cython.parallel cimport prange
from libc.math cimport INFINITY

import numpy as np

from deepx.kernels.common import conv_out_size

from kernels.cython._common cimport PAR_MIN, cdiv_up


cdef struct Win:
    int H, W, R, S, sh, sw, pt, pl, pb, pr, dh, dw, P, Q


cdef Win window(x, kernel, stride, pads, dilation, bint ceil_mode):
    cdef Win v
    v.H, v.W = x.shape[2], x.shape[3]
    v.R, v.S = kernel
    v.sh, v.sw = stride
    v.pt, v.pl, v.pb, v.pr = pads
    v.dh, v.dw = dilation
    v.P = conv_out_size(v.H, v.R, v.sh, v.pt, v.pb, v.dh, ceil_mode)
    v.Q = conv_out_size(v.W, v.S, v.sw, v.pl, v.pr, v.dw, ceil_mode)
    return v


cdef inline void taps(int start, int k, int d, int n, int* lo, int* hi) noexcept nogil:
    # [lo, hi): the taps t in [0, k) of a window at `start` with start + t*d in [0, n)
    lo[0] = max(0, cdiv_up(-start, d))
    hi[0] = max(lo[0], min(k, cdiv_up(n - start, d)))


cdef void max_plane(const float* x, float* y, const Win* v) noexcept nogil:
    # x (H,W) -> y (P,Q): max over the window, padding never wins
    cdef int p, q, h0, w0, r, s, rlo, rhi, slo, shi
    cdef float m
    cdef const float* row
    for p in range(v.P):
        h0 = p * v.sh - v.pt
        taps(h0, v.R, v.dh, v.H, &rlo, &rhi)
        for q in range(v.Q):
            w0 = q * v.sw - v.pl
            taps(w0, v.S, v.dw, v.W, &slo, &shi)
            m = -INFINITY
            for r in range(rlo, rhi):
                row = x + (h0 + r * v.dh) * v.W + w0
                for s in range(slo, shi):
                    m = row[s * v.dw] if row[s * v.dw] > m else m
            y[p * v.Q + q] = m


cdef void avg_plane(const float* x, float* y, const Win* v, bint count_pad) noexcept nogil:
    # x (H,W) -> y (P,Q): window sum / cells counted (padding cells too when count_pad, never
    # those past the end padding)
    cdef int p, q, h0, w0, r, s, rlo, rhi, slo, shi, nh, nw
    cdef float acc
    cdef const float* row
    for p in range(v.P):
        h0 = p * v.sh - v.pt
        taps(h0, v.R, 1, v.H, &rlo, &rhi)
        nh = (min(h0 + v.R, v.H + v.pb) - max(h0, -v.pt) if count_pad else rhi - rlo)
        for q in range(v.Q):
            w0 = q * v.sw - v.pl
            taps(w0, v.S, 1, v.W, &slo, &shi)
            nw = (min(w0 + v.S, v.W + v.pr) - max(w0, -v.pl) if count_pad else shi - slo)
            acc = 0.0
            for r in range(rlo, rhi):
                row = x + (h0 + r) * v.W + w0
                for s in range(slo, shi):
                    acc += row[s]
            y[p * v.Q + q] = acc / (nh * nw)


cdef enum:
    MAX = 0
    AVG = 1
    AVG_COUNT_PAD = 2


cdef object pool(const float[:, :, :, ::1] x, Win v, int mode, out):
    # x (N,C,H,W) -> y (N,C,P,Q), plane by plane
    cdef int nc, NC = x.shape[0] * x.shape[1]
    if out is None:
        out = np.empty((x.shape[0], x.shape[1], v.P, v.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* xp = &x[0, 0, 0, 0]
    cdef float* yp = &y[0, 0, 0, 0]
    cdef Py_ssize_t HW = v.H * v.W, PQ = v.P * v.Q
    for nc in prange(NC, nogil=True, schedule='static',
                     use_threads_if=NC * PQ * v.R * v.S >= PAR_MIN):
        if mode == MAX:
            max_plane(xp + nc * HW, yp + nc * PQ, &v)
        else:
            avg_plane(xp + nc * HW, yp + nc * PQ, &v, mode == AVG_COUNT_PAD)
    return out


def maxpool2d(const float[:, :, :, ::1] x, kernel, stride, pads, dilation, bint ceil_mode,
              out=None):
    """x (N,C,H,W) -> y (N,C,P,Q)."""
    return pool(x, window(x, kernel, stride, pads, dilation, ceil_mode), MAX, out)


def avgpool2d(const float[:, :, :, ::1] x, kernel, stride, pads, bint ceil_mode,
              bint count_include_pad, out=None):
    """x (N,C,H,W) -> y (N,C,P,Q)."""
    return pool(x, window(x, kernel, stride, pads, (1, 1), ceil_mode),
                AVG_COUNT_PAD if count_include_pad else AVG, out)


cdef float plane_mean(const float* x, Py_ssize_t n) noexcept nogil:
    cdef double acc = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        acc += x[i]
    return acc / n


def global_avgpool(const float[:, :, :, ::1] x, out=None):
    """x (N,C,H,W) -> y (N,C,1,1)."""
    cdef int nc, NC = x.shape[0] * x.shape[1]
    cdef Py_ssize_t HW = x.shape[2] * x.shape[3]
    if out is None:
        out = np.empty((x.shape[0], x.shape[1], 1, 1), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* xp = &x[0, 0, 0, 0]
    cdef float* yp = &y[0, 0, 0, 0]
    for nc in prange(NC, nogil=True, schedule='static', use_threads_if=NC * HW >= PAR_MIN):
        yp[nc] = plane_mean(xp + nc * HW, HW)
    return out
