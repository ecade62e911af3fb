"""Recurrent layers (ONNX LSTM, GRU, RNN): the input projection of every step in one serial-BLAS sgemm
per block of time-batch rows, then per step h·rᵀ (blocks of gate rows of every direction shared by the
threads, sgemv for one batch row) and the gate math of all directions, batch rows and hidden units in
one parallel loop."""
from cython.parallel cimport prange
from libc.math cimport expf, tanhf

import numpy as np

from kernels.cython._common cimport (PAR_MIN, SHARES, bind_blas, blas_restore, blas_serial, cdiv_up,
                                     gemm, kernel_threads)

DIRECTIONS = {"forward": 0, "reverse": 1, "bidirectional": 2}


cdef inline float sigm(float v) noexcept nogil:
    return 1.0 / (1.0 + expf(-v))


cdef inline int step_time(int code, int d, int s, int T) noexcept nogil:
    # the time step direction d visits at step s (code: 0 forward, 1 reverse, 2 bidirectional)
    return T - 1 - s if code == 1 or d == 1 else s


cdef void project(const float* x, const float* w, const float* b, float* xw, int D, int M, int I,
                  int G, int keep, int nth) noexcept nogil:
    # x (M,I) · w (D,G,I)ᵀ + w's bias + r's bias (but its last `keep`) (b (D,2G) or NULL) -> xw (D,M,G);
    # blocks of rows of every direction shared by the threads
    cdef int per = max(1, min(cdiv_up(M, 8), cdiv_up(SHARES * nth, D))) if nth > 1 else 1
    cdef int part, d, lo, hi, m, g
    cdef const float* bd
    cdef float* row
    for part in prange(D * per, num_threads=nth, schedule='dynamic', use_threads_if=D * per > 1):
        d = part // per
        lo = <long>M * (part % per) // per
        hi = <long>M * (part % per + 1) // per
        gemm(False, True, hi - lo, G, I, x + <Py_ssize_t>lo * I, I, w + <Py_ssize_t>d * G * I, I, 0.0,
             xw + (<Py_ssize_t>d * M + lo) * G, G)
        if b != NULL:
            bd = b + <Py_ssize_t>d * 2 * G
            for m in range(lo, hi):
                row = xw + (<Py_ssize_t>d * M + m) * G
                for g in range(G):
                    row[g] += bd[g] + (bd[G + g] if g < G - keep else 0.0)


cdef void step_product(const float* h, const float* r, int ldr, float* out, int ldo, int D, int N,
                       int H, int rows, int nth) noexcept nogil:
    # out[d] (N,rows), row stride ldo = h[d] (N,H) · r[d] (rows,H)ᵀ, r[d] at r + d·ldr; blocks of 16+
    # rows of every direction shared by the threads when the product is large enough
    cdef int per = 1, part, d, lo, hi
    if nth > 1 and <long>D * N * rows * H >= PAR_MIN:
        per = max(1, min(rows // 16, cdiv_up(SHARES * nth, D)))
    for part in prange(D * per, num_threads=nth, schedule='dynamic', use_threads_if=D * per > 1):
        d = part // per
        lo = (rows * (part % per) // per) & ~15
        hi = rows if part % per == per - 1 else (rows * (part % per + 1) // per) & ~15
        gemm(False, True, N, hi - lo, H, h + <Py_ssize_t>d * N * H, H, r + <Py_ssize_t>d * ldr + lo * H, H,
             0.0, out + <Py_ssize_t>d * N * ldo + lo, ldo)


cdef inline bint gates_parallel(int units, int nth) noexcept nogil:
    # a gate loop over `units` hidden units (a few exp/tanh each) pays for a fork
    return nth > 1 and units * 16 >= PAR_MIN


cdef void lstm_steps(const float* xw, const float* r, const float* p, int code, int T, int D, int N,
                     int H, float* h, float* c, float* y, float* hr, int nth) noexcept nogil:
    # xw (D,T·N,4H), r (D,4H,H), p (D,3H) -> states h, c (D,N,H) in place; y (T,D,N,H) or NULL; hr (D,N,4H)
    cdef int G = 4 * H, s, k, d, n, j, t, units = D * N * H
    cdef const float* g
    cdef const float* a
    cdef float i, f, cn
    for s in range(T):
        step_product(h, r, G * H, hr, G, D, N, H, G, nth)
        for k in prange(units, num_threads=nth, use_threads_if=gates_parallel(units, nth)):
            d, n, j = k // (N * H), k // H % N, k % H
            t = step_time(code, d, s, T)
            g = xw + ((<Py_ssize_t>d * T + t) * N + n) * G
            a = hr + (<Py_ssize_t>d * N + n) * G
            i = sigm(g[j] + a[j] + p[d * 3 * H + j] * c[k])
            f = sigm(g[2 * H + j] + a[2 * H + j] + p[d * 3 * H + 2 * H + j] * c[k])
            cn = f * c[k] + i * tanhf(g[3 * H + j] + a[3 * H + j])
            c[k] = cn
            h[k] = sigm(g[H + j] + a[H + j] + p[d * 3 * H + H + j] * cn) * tanhf(cn)
            if y != NULL:
                y[((<Py_ssize_t>t * D + d) * N + n) * H + j] = h[k]


cdef void gru_steps(const float* xw, const float* r, const float* rbh, bint lbr, int code, int T, int D,
                    int N, int H, float* h, float* y, float* hr, float* rh, int nth) noexcept nogil:
    # xw (D,T·N,3H) (+ r's bias but r_h's when lbr), r (D,3H,H), rbh (D,H) r_h's bias or NULL
    # -> state h (D,N,H) in place; y (T,D,N,H) or NULL; hr (D,N,3H); rh (D,N,H) r·h unless lbr
    cdef int G = 3 * H, s, k, d, n, j, t, units = D * N * H
    cdef const float* g
    cdef float* a
    cdef float z, hh
    for s in range(T):
        step_product(h, r, G * H, hr, G, D, N, H, G if lbr else 2 * H, nth)
        if not lbr:  # z into hr's z, r·h into rh, then (r·h)·r_hᵀ into hr's h
            for k in prange(units, num_threads=nth, use_threads_if=gates_parallel(units, nth)):
                d, n, j = k // (N * H), k // H % N, k % H
                g = xw + ((<Py_ssize_t>d * T + step_time(code, d, s, T)) * N + n) * G
                a = hr + (<Py_ssize_t>d * N + n) * G
                a[j] = sigm(g[j] + a[j])
                rh[k] = sigm(g[H + j] + a[H + j]) * h[k]
            step_product(rh, r + 2 * H * H, G * H, hr + 2 * H, G, D, N, H, H, nth)
        for k in prange(units, num_threads=nth, use_threads_if=gates_parallel(units, nth)):
            d, n, j = k // (N * H), k // H % N, k % H
            t = step_time(code, d, s, T)
            g = xw + ((<Py_ssize_t>d * T + t) * N + n) * G
            a = hr + (<Py_ssize_t>d * N + n) * G
            if lbr:
                z = sigm(g[j] + a[j])
                hh = tanhf(g[2 * H + j] + sigm(g[H + j] + a[H + j]) *
                           (a[2 * H + j] + (rbh[d * H + j] if rbh != NULL else 0.0)))
            else:
                z = a[j]
                hh = tanhf(g[2 * H + j] + a[2 * H + j])
            h[k] = (1.0 - z) * hh + z * h[k]
            if y != NULL:
                y[((<Py_ssize_t>t * D + d) * N + n) * H + j] = h[k]


cdef void rnn_steps(const float* xw, const float* r, int code, int T, int D, int N, int H, float* h,
                    float* y, float* hr, int nth) noexcept nogil:
    # xw (D,T·N,H), r (D,H,H) -> state h (D,N,H) in place; y (T,D,N,H) or NULL; hr (D,N,H)
    cdef int s, k, d, n, j, t, units = D * N * H
    for s in range(T):
        step_product(h, r, H * H, hr, H, D, N, H, H, nth)
        for k in prange(units, num_threads=nth, use_threads_if=gates_parallel(units, nth)):
            d, n, j = k // (N * H), k // H % N, k % H
            t = step_time(code, d, s, T)
            h[k] = tanhf(xw[((<Py_ssize_t>d * T + t) * N + n) * H + j] + hr[k])
            if y != NULL:
                y[((<Py_ssize_t>t * D + d) * N + n) * H + j] = h[k]


def _buffers(x, w, H, h0, result, out):
    """(projections xw (D,T·N,G), state h starting at h0, y or None); h or y is `out` when returned."""
    T, N, _ = x.shape
    D, G = w.shape[:2]
    h = out if out is not None and result == "h" else np.empty((D, N, H), np.float32)
    h[...] = 0.0 if h0 is None else h0
    y = None if result != "y" else (np.empty((T, D, N, H), np.float32) if out is None else out)
    return np.empty((D, T * N, G), np.float32), h, y


cdef float* ptr(object a):
    """The first element of a C-contiguous float32 array, NULL for None."""
    cdef const float[::1] v
    if a is None:
        return NULL
    v = a.reshape(-1)
    return <float*>&v[0]


def lstm(const float[:, :, ::1] x, const float[:, :, ::1] w, const float[:, :, ::1] r, const float[:, ::1] b,
         h0, c0, p, direction, result, out=None):
    """x (T,N,I), w (D,4H,I), r (D,4H,H), b (D,8H), h0/c0 (D,N,H), p (D,3H) -> y (T,D,N,H) | h, c (D,N,H)."""
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], D = w.shape[0], G = w.shape[1], H = G // 4
    xw_, h, y = _buffers(x, w, H, h0, result, out)
    c = out if out is not None and result == "c" else np.empty((D, N, H), np.float32)
    c[...] = 0.0 if c0 is None else c0
    p = np.zeros((D, 3 * H), np.float32) if p is None else p
    hr = np.empty((D, N, G), np.float32)
    cdef float *xw = ptr(xw_), *hp = ptr(h), *cp = ptr(c), *yp = ptr(y), *hrp = ptr(hr)
    cdef const float *pp = ptr(p), *bp = &b[0, 0] if b is not None else NULL
    cdef int code = DIRECTIONS[direction], blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        project(&x[0, 0, 0], &w[0, 0, 0], bp, xw, D, T * N, I, G, 0, nth)
        lstm_steps(xw, &r[0, 0, 0], pp, code, T, D, N, H, hp, cp, yp, hrp, nth)
        blas_restore(blas)
    return {"y": y, "h": h, "c": c}[result]


def gru(const float[:, :, ::1] x, const float[:, :, ::1] w, const float[:, :, ::1] r, const float[:, ::1] b,
        h0, direction, linear_before_reset, result, out=None):
    """x (T,N,I), w (D,3H,I), r (D,3H,H), b (D,6H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)."""
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], D = w.shape[0], G = w.shape[1], H = G // 3
    cdef bint lbr = linear_before_reset
    xw_, h, y = _buffers(x, w, H, h0, result, out)
    rbh = None if b is None or not lbr else np.ascontiguousarray(np.asarray(b)[:, 5 * H:])
    hr, rh = np.empty((D, N, G), np.float32), np.empty((D, N, H), np.float32)
    cdef float *xw = ptr(xw_), *hp = ptr(h), *yp = ptr(y), *hrp = ptr(hr), *rhp = ptr(rh)
    cdef const float *rbp = ptr(rbh), *bp = &b[0, 0] if b is not None else NULL
    cdef int code = DIRECTIONS[direction], blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        project(&x[0, 0, 0], &w[0, 0, 0], bp, xw, D, T * N, I, G, H if lbr else 0, nth)
        gru_steps(xw, &r[0, 0, 0], rbp, lbr, code, T, D, N, H, hp, yp, hrp, rhp, nth)
        blas_restore(blas)
    return y if result == "y" else h


def rnn(const float[:, :, ::1] x, const float[:, :, ::1] w, const float[:, :, ::1] r, const float[:, ::1] b,
        h0, direction, result, out=None):
    """x (T,N,I), w (D,H,I), r (D,H,H), b (D,2H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)."""
    cdef int T = x.shape[0], N = x.shape[1], I = x.shape[2], D = w.shape[0], H = w.shape[1]
    xw_, h, y = _buffers(x, w, H, h0, result, out)
    hr = np.empty((D, N, H), np.float32)
    cdef float *xw = ptr(xw_), *hp = ptr(h), *yp = ptr(y), *hrp = ptr(hr)
    cdef const float *bp = &b[0, 0] if b is not None else NULL
    cdef int code = DIRECTIONS[direction], blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        project(&x[0, 0, 0], &w[0, 0, 0], bp, xw, D, T * N, I, H, 0, nth)
        rnn_steps(xw, &r[0, 0, 0], code, T, D, N, H, hp, yp, hrp, nth)
        blas_restore(blas)
    return y if result == "y" else h


bind_blas()
