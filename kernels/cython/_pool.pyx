"""Pooling over NCHW: max, average (ceil_mode, padding, count_include_pad), global average;
parallel over the (n, c) planes; 2x2, 3x3 and 5x5 windows at stride 1 or 2 by deepx_pool.h's AVX-512 or AVX2
rows."""
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc

import numpy as np

from deepx.kernels.common import conv_out_size

from kernels.cython._common cimport PAR_MIN, cdiv_up


cdef extern from "deepx_pool.h":
    enum:
        MAX "DEEPX_POOL_MAX"
        AVG "DEEPX_POOL_AVG"
        AVG_COUNT_PAD "DEEPX_POOL_AVG_COUNT_PAD"
    int deepx_pool_has(int K, int s) noexcept nogil
    void deepx_pool_plane(const float* x, int H, int W, float* y, int P, int Q, int K, int s, int pt, int pl,
                          int pb, int pr, int mode, const float* xn, float* yn) noexcept nogil


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


cdef Win whole(x):
    # global pooling's window: the whole plane, one output
    return window(x, x.shape[2:], (1, 1), (0, 0, 0, 0), (1, 1), False)


cdef enum:
    GLOBAL = 3  # Pool's mode for global average pooling, after deepx_pool.h's three


cdef inline void taps(int start, int k, int d, int n, int* lo, int* hi) noexcept nogil:
    # [lo, hi): the taps t in [0, k) of a window at `start` with start + t*d in [0, n)
    lo[0] = max(0, cdiv_up(-start, d))
    hi[0] = max(lo[0], min(k, cdiv_up(n - start, d)))


cdef inline void interior(int n, int sw, int pl, int Q, int* qa, int* qb) noexcept nogil:
    # [qa, qb): the outputs whose window starts at w0 = q*sw - pl in [0, n)
    qa[0] = min(Q, cdiv_up(pl, sw))
    qb[0] = max(qa[0], min(Q, cdiv_up(n + pl, sw)))


cdef inline float edge_max(const float* col, int w0, int S, int dw, int W) noexcept nogil:
    cdef int s, slo, shi
    cdef float m = -INFINITY
    taps(w0, S, dw, W, &slo, &shi)
    for s in range(slo, shi):
        m = col[w0 + s * dw] if col[w0 + s * dw] > m else m
    return m


cdef void max_plane(const float* x, float* y, const Win* v, float* col, float* hm) noexcept nogil:
    # x (H,W) -> y (P,Q): max over the window, padding never wins. Separable and vectorisable: per
    # output row, the max down the window's rows for every column (col), then the max across every
    # window that lies inside the row (hm), read at the window starts; windows over the padding apart.
    # Fields in locals: Python builds with -fno-strict-aliasing, so every store would reload them.
    cdef int W = v.W, S = v.S, dw = v.dw, Q = v.Q, sw = v.sw, pl = v.pl, n = W - (S - 1) * dw
    cdef int p, q, w, h0, r, s, rlo, rhi, qa, qb
    cdef const float* row
    cdef const float* src
    cdef float* yr
    interior(n, sw, pl, Q, &qa, &qb)
    for p in range(v.P):
        yr = y + p * Q
        h0 = p * v.sh - v.pt
        taps(h0, v.R, v.dh, v.H, &rlo, &rhi)
        if rlo == rhi:  # the window lies in the padding
            for q in range(Q):
                yr[q] = -INFINITY
            continue
        row = x + (h0 + rlo * v.dh) * W
        for w in range(W):
            col[w] = row[w]
        for r in range(rlo + 1, rhi):
            row = x + (h0 + r * v.dh) * W
            for w in range(W):
                col[w] = row[w] if row[w] > col[w] else col[w]
        if sw == 1:
            for w in range(n):
                hm[w] = col[w]
            for s in range(1, S):
                if dw == 1:  # unit stride: vectorised
                    for w in range(n):
                        hm[w] = col[w + s] if col[w + s] > hm[w] else hm[w]
                else:
                    for w in range(n):
                        hm[w] = col[w + s * dw] if col[w + s * dw] > hm[w] else hm[w]
            for q in range(qa, qb):
                yr[q] = hm[q - pl]
        else:  # strided windows: only the window starts that are read
            for q in range(qa, qb):
                yr[q] = col[q * sw - pl]
            for s in range(1, S):
                if sw == 2:  # a constant stride: vectorised
                    src = col + s * dw - pl
                    for q in range(qa, qb):
                        yr[q] = src[2 * q] if src[2 * q] > yr[q] else yr[q]
                else:
                    for q in range(qa, qb):
                        yr[q] = (col[q * sw - pl + s * dw] if col[q * sw - pl + s * dw] > yr[q]
                                 else yr[q])
        for q in range(qa):
            yr[q] = edge_max(col, q * sw - pl, S, dw, W)
        for q in range(qb, Q):
            yr[q] = edge_max(col, q * sw - pl, S, dw, W)


cdef inline float edge_avg(const float* col, int w0, const Win* v, bint count_pad,
                          int nh) noexcept nogil:
    # one window over the row's padding: its column sums / cells counted
    cdef int s, slo, shi, nw
    cdef float acc = 0.0
    taps(w0, v.S, 1, v.W, &slo, &shi)
    for s in range(slo, shi):
        acc += col[w0 + s]
    nw = min(w0 + v.S, v.W + v.pr) - max(w0, -v.pl) if count_pad else shi - slo
    return acc / (nh * nw)


cdef void avg_plane(const float* x, float* y, const Win* v, bint count_pad, float* col,
                    float* hs) noexcept nogil:
    # x (H,W) -> y (P,Q): window sum / cells counted (padding cells too when count_pad, never
    # those past the end padding). Separable like max_plane: column sums, then window sums read
    # at the window starts (vectorised); windows over the padding apart.
    cdef int W = v.W, S = v.S, Q = v.Q, sw = v.sw, pl = v.pl, n = W - S + 1  # see max_plane
    cdef int p, q, w, h0, r, s, rlo, rhi, nh, qa, qb
    cdef float scale
    cdef const float* row
    cdef float* yr
    interior(n, sw, pl, Q, &qa, &qb)
    for p in range(v.P):
        yr = y + p * Q
        h0 = p * v.sh - v.pt
        taps(h0, v.R, 1, v.H, &rlo, &rhi)
        nh = (min(h0 + v.R, v.H + v.pb) - max(h0, -v.pt) if count_pad else rhi - rlo)
        for w in range(W):
            col[w] = 0.0
        for r in range(rlo, rhi):
            row = x + (h0 + r) * W
            for w in range(W):
                col[w] += row[w]
        scale = 1.0 / (nh * S)  # an interior window counts S cells per row
        if sw == 1:
            for w in range(n):
                hs[w] = col[w]
            for s in range(1, S):
                for w in range(n):
                    hs[w] += col[w + s]
            for q in range(qa, qb):
                yr[q] = hs[q - pl] * scale
        else:
            for q in range(qa, qb):
                yr[q] = col[q * sw - pl]
            for s in range(1, S):
                for q in range(qa, qb):
                    yr[q] += col[q * sw - pl + s]
            for q in range(qa, qb):
                yr[q] *= scale
        for q in range(qa):
            yr[q] = edge_avg(col, q * sw - pl, v, count_pad, nh)
        for q in range(qb, Q):
            yr[q] = edge_avg(col, q * sw - pl, v, count_pad, nh)


cdef class Pool:
    """A pooling of arrays planned once (window, pointers), run when called with no arguments (the executor binds
    its steps: kernels.bind): mode MAX / AVG / AVG_COUNT_PAD over windows, GLOBAL: each plane's mean."""
    cdef tuple keep  # the arrays, alive while planned
    cdef Win v
    cdef int mode, NC
    cdef const float* x
    cdef float* y

    def __call__(self):
        cdef int nc, NC = self.NC, mode = self.mode
        cdef Win v = self.v
        cdef const float* xp = self.x
        cdef float* yp = self.y
        cdef Py_ssize_t HW = <Py_ssize_t>v.H * v.W, PQ = <Py_ssize_t>v.P * v.Q
        cdef float* col
        cdef float* win
        cdef bint simd = (v.R == v.S and v.sh == v.sw and v.dh == 1 and v.dw == 1 and deepx_pool_has(v.R, v.sh))
        if mode == GLOBAL:
            for nc in prange(NC, nogil=True, schedule='static', use_threads_if=NC * HW >= PAR_MIN):
                yp[nc] = plane_mean(xp + nc * HW, HW)
            return
        with nogil, parallel(use_threads_if=NC * PQ * v.R * v.S >= PAR_MIN):
            # per thread: a row of column maxima / sums and one of window maxima / sums (two buffers, so
            # that the compiler can vectorise the loops that read one and write the other)
            col = <float*> malloc(v.W * sizeof(float))
            win = <float*> malloc(v.W * sizeof(float))
            for nc in prange(NC, schedule='static'):
                if simd:  # each thread a run of planes: the next one's lines fetched during this one
                    deepx_pool_plane(xp + nc * HW, v.H, v.W, yp + nc * PQ, v.P, v.Q, v.R, v.sh, v.pt, v.pl, v.pb,
                                     v.pr, mode, xp + (nc + 1) * HW if nc + 1 < NC else NULL, yp + (nc + 1) * PQ)
                elif mode == MAX:
                    max_plane(xp + nc * HW, yp + nc * PQ, &v, col, win)
                else:
                    avg_plane(xp + nc * HW, yp + nc * PQ, &v, mode == AVG_COUNT_PAD, col, win)
            free(col)
            free(win)


cdef Pool pool(const float[:, :, :, ::1] x, Win v, int mode, out):
    # x (N,C,H,W) -> y (N,C,P,Q) (GLOBAL: (N,C,1,1); out None: a new array), planned
    if out is None:
        out = np.empty((x.shape[0], x.shape[1], v.P, v.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef Pool k = Pool.__new__(Pool)
    k.keep, k.v, k.mode, k.NC = (x.base, out), v, mode, x.shape[0] * x.shape[1]
    k.x, k.y = &x[0, 0, 0, 0], &y[0, 0, 0, 0]
    return k


def maxpool2d(x, kernel, stride, pads, dilation, bint ceil_mode, out=None):
    """x (N,C,H,W) -> y (N,C,P,Q)."""
    return _ran(bind_maxpool2d(x, kernel, stride, pads, dilation, ceil_mode, out))


def avgpool2d(x, kernel, stride, pads, bint ceil_mode, bint count_include_pad, out=None):
    """x (N,C,H,W) -> y (N,C,P,Q)."""
    return _ran(bind_avgpool2d(x, kernel, stride, pads, ceil_mode, count_include_pad, out))


def global_avgpool(x, out=None):
    """x (N,C,H,W) -> y (N,C,1,1)."""
    return _ran(bind_global_avgpool(x, out))


def bind_maxpool2d(x, kernel, stride, pads, dilation, ceil_mode, out):
    """maxpool2d of x into out (None: a new array), called with no arguments; both must stay put while it is used."""
    return pool(x, window(x, kernel, stride, pads, dilation, ceil_mode), MAX, out)


def bind_avgpool2d(x, kernel, stride, pads, ceil_mode, count_include_pad, out):
    """avgpool2d of x into out (None: a new array), called with no arguments; both must stay put while it is used.
    A window that is the whole unpadded plane (ResNet's last 7x7 pool) runs as global_avgpool."""
    cdef Win v = window(x, kernel, stride, pads, (1, 1), ceil_mode)
    if v.R == v.H and v.S == v.W and v.P == 1 and v.Q == 1 and not (v.pt or v.pl or v.pb or v.pr):
        return pool(x, whole(x), GLOBAL, out)
    return pool(x, v, AVG_COUNT_PAD if count_include_pad else AVG, out)


def bind_global_avgpool(x, out):
    """global_avgpool of x into out (None: a new array), called with no arguments; both must stay put while it is
    used."""
    return pool(x, whole(x), GLOBAL, out)


def _ran(Pool k):
    # k run once; its output
    k()
    return k.keep[1]


cdef float plane_mean(const float* x, Py_ssize_t n) noexcept nogil:
    # 64 running sums (four vectors of independent adds, which the compiler vectorises), then 8 for what is left
    # (all of a 7x7 plane: one chain of 49 adds in double cost 60 ns a plane, 90 us over MobileNetV2's 1280 planes),
    # added in double
    cdef float acc[64]
    cdef float acc8[8]
    cdef double total = 0.0
    cdef Py_ssize_t i, j, m = n - n % 64, m8 = n - n % 8
    if m:
        for j in range(64):
            acc[j] = 0.0
        for i in range(0, m, 64):
            for j in range(64):
                acc[j] += x[i + j]
        for j in range(64):
            total += acc[j]
    for j in range(8):
        acc8[j] = 0.0
    for i in range(m, m8, 8):
        for j in range(8):
            acc8[j] += x[i + j]
    for j in range(8):
        total += acc8[j]
    for i in range(m8, n):
        total += x[i]
    return total / n
