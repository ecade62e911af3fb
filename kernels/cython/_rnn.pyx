"""Recurrent layers (ONNX LSTM, GRU, RNN): the input projection of every step at once, serial-BLAS sgemms
over blocks of gate rows shared by the threads; then the steps: the two directions of a bidirectional
layer side by side, one thread each; one direction alone shares a step's h·rᵀ (blocks of gate rows,
sgemv for one batch row) and its gates (blocks of batch rows) among the threads when the step is large,
else runs on one thread. The gates of a batch row are one loop over its hidden units, vectorized."""
from cython.parallel cimport prange
from libc.math cimport fabsf
from libc.string cimport memcpy

import numpy as np

from kernels.cython._common cimport (SHARES, bind_blas, blas_restore, blas_serial, cdiv_up,
                                     gemm, kernel_threads)

cdef extern from *:  # pointers to memory no other pointer of the function reaches: the row loops vectorize
    ctypedef float* rfloat "float * __restrict__"
    ctypedef const float* crfloat "const float * __restrict__"


cdef inline void add_row(rfloat y, crfloat b, int n) noexcept nogil:
    # y (n) += b (n)
    cdef int j
    for j in range(n):
        y[j] += b[j]


cdef void project(const float* x, const float* w, const float* b, float* bias, float* xw, int D, int M,
                  int F, int G, int keep, int nth) noexcept nogil:
    # x (M,F) · w (D,G,F)ᵀ + w's bias + r's bias but its last `keep` (b (D,2G) or NULL; their sum made in
    # bias (D,G)) -> xw (D,M,G); blocks of 64+ gate rows of every direction shared by the threads when the
    # product is large enough to pay for a fork (2^18+ multiply-adds)
    cdef bint share = nth > 1 and <long>D * M * G * F >= (1 << 18)
    cdef int per = max(1, min(cdiv_up(G, 64), cdiv_up(SHARES * nth, D))) if share else 1
    cdef int part, d, lo, hi, m, g
    if b != NULL:
        for d in range(D):
            for g in range(G):
                bias[d * G + g] = b[d * 2 * G + g] + (b[(d * 2 + 1) * G + g] if g < G - keep else 0.0)
    for part in prange(D * per, num_threads=nth, schedule='dynamic', use_threads_if=D * per > 1):
        d = part // per
        lo = G * (part % per) // per
        hi = G * (part % per + 1) // per
        gemm(False, True, M, hi - lo, F, x, F, w + (<Py_ssize_t>d * G + lo) * F, F, 0.0,
             xw + <Py_ssize_t>d * M * G + lo, G)
        if b != NULL:
            for m in range(M):
                add_row(xw + (<Py_ssize_t>d * M + m) * G + lo, bias + d * G + lo, hi - lo)


cdef struct Dir:
    # one direction of a layer: its slices of the projections xw (T·N,G), r (G,H), p (3H) (LSTM),
    # rbh (H) r_h's bias (GRU with linear_before_reset, else NULL), states h, c (N,H) and scratch hr (N,G),
    # rh (N,H); y (T,D,N,H) or NULL; its index d and whether it runs backwards in time
    const float* xw
    const float* r
    const float* p
    const float* rbh
    float* h
    float* c
    float* hr
    float* rh
    float* y
    int d, backwards


cdef void product(const float* h, const float* r, float* out, int ldo, int N, int H, int rows,
                  int nth) noexcept nogil:
    # out (N,rows), row stride ldo = h (N,H) · r (rows,H)ᵀ; blocks of 16+ rows shared by nth threads
    cdef int per = max(1, min(rows // 16, SHARES * nth)) if nth > 1 else 1
    cdef int part, lo, hi
    if per == 1:
        gemm(False, True, N, rows, H, h, H, r, H, 0.0, out, ldo)
        return
    for part in prange(per, num_threads=nth, schedule='dynamic'):
        lo = (rows * part // per) & ~15
        hi = rows if part == per - 1 else (rows * (part + 1) // per) & ~15
        gemm(False, True, N, hi - lo, H, h, H, r + <Py_ssize_t>lo * H, H, 0.0, out + lo, ldo)


# the gate stages, each over batch rows [n0, n1) of the state (N,H) at time t
cdef enum:
    LSTM = 0
    GRU_RESET = 1  # GRU without linear_before_reset: z into hr's z, r·h into rh
    GRU = 2
    RNN = 3


cdef inline float ftanh(float x) noexcept nogil:
    # tanh: Eigen's rational approximation on x clamped to ±7.905 (error < 1e-6); the clamp by fabsf
    # (no comparison: a branch would keep the gate loops from vectorizing)
    cdef float lim = 7.90531110763549805, half = 0.5, x2, p, q
    cdef float a1 = 4.89352455891786e-03, a3 = 6.37261928875436e-04, a5 = 1.48572235717979e-05
    cdef float a7 = 5.12229709037114e-08, a9 = -8.60467152213735e-11, a11 = 2.00018790482477e-13
    cdef float a13 = -2.76076847742355e-16, b0 = 4.89352518554385e-03, b2 = 2.26843463243900e-03
    cdef float b4 = 1.18534705686654e-04, b6 = 1.19825839466702e-06
    x = half * (fabsf(x + lim) - fabsf(x - lim))
    x2 = x * x
    p = ((((((a13 * x2 + a11) * x2 + a9) * x2 + a7) * x2 + a5) * x2 + a3) * x2 + a1) * x
    q = ((b6 * x2 + b4) * x2 + b2) * x2 + b0
    return p / q


cdef inline float fsigm(float x) noexcept nogil:
    cdef float half = 0.5
    return half + half * ftanh(half * x)


cdef inline void lstm_row(crfloat g, crfloat a, crfloat p, rfloat c, rfloat h, int H) noexcept nogil:
    # one batch row: projections g (4H), h·rᵀ a (4H), peepholes p (3H) -> c, h (H); gates i, o, f, c
    cdef int j
    cdef float i, f, cn
    for j in range(H):
        i = fsigm(g[j] + a[j] + p[j] * c[j])
        f = fsigm(g[2 * H + j] + a[2 * H + j] + p[2 * H + j] * c[j])
        cn = f * c[j] + i * ftanh(g[3 * H + j] + a[3 * H + j])
        c[j] = cn
        h[j] = fsigm(g[H + j] + a[H + j] + p[H + j] * cn) * ftanh(cn)


cdef inline void gru_reset_row(crfloat g, rfloat a, crfloat h, rfloat rh, int H) noexcept nogil:
    # one batch row without linear_before_reset: z into a's first H, r·h into rh (H)
    cdef int j
    for j in range(H):
        rh[j] = fsigm(g[H + j] + a[H + j]) * h[j]
    for j in range(H):
        a[j] = fsigm(g[j] + a[j])


cdef inline void gru_row(crfloat g, crfloat a, crfloat rbh, rfloat h, int H) noexcept nogil:
    # one batch row: g (3H), a (3H) = h·r_{z,r,h}ᵀ -> h (H); r multiplies a's h + r_h's bias rbh (H)
    cdef int j
    cdef float z, hh, one = 1.0
    for j in range(H):
        z = fsigm(g[j] + a[j])
        hh = ftanh(g[2 * H + j] + fsigm(g[H + j] + a[H + j]) * (a[2 * H + j] + rbh[j]))
        h[j] = (one - z) * hh + z * h[j]


cdef inline void gru_after_reset_row(crfloat g, crfloat a, rfloat h, int H) noexcept nogil:
    # one batch row: z in a's first H (gru_reset_row), (r·h)·r_hᵀ in a's last H -> h (H)
    cdef int j
    cdef float one = 1.0
    for j in range(H):
        h[j] = (one - a[j]) * ftanh(g[2 * H + j] + a[2 * H + j]) + a[j] * h[j]


cdef inline void rnn_row(crfloat g, crfloat a, rfloat h, int H) noexcept nogil:
    cdef int j
    for j in range(H):
        h[j] = ftanh(g[j] + a[j])


cdef void gates(int stage, Dir* v, int t, int N, int H, int n0, int n1) noexcept nogil:
    cdef int n, G = (4 if stage == LSTM else 3 if stage != RNN else 1) * H
    cdef const float* g
    cdef float* a
    cdef Py_ssize_t row
    for n in range(n0, n1):
        g = v.xw + (<Py_ssize_t>t * N + n) * G
        a = v.hr + <Py_ssize_t>n * G
        row = <Py_ssize_t>n * H
        if stage == LSTM:
            lstm_row(g, a, v.p, v.c + row, v.h + row, H)
        elif stage == GRU_RESET:
            gru_reset_row(g, a, v.h + row, v.rh + row, H)
        elif stage == GRU and v.rbh != NULL:
            gru_row(g, a, v.rbh, v.h + row, H)
        elif stage == GRU:
            gru_after_reset_row(g, a, v.h + row, H)
        else:
            rnn_row(g, a, v.h + row, H)


cdef void shared_gates(int stage, Dir* v, int t, int N, int H, int nth) noexcept nogil:
    # the gate stage over all batch rows, in blocks of rows shared by up to nth threads
    cdef int part, parts = min(nth, N)
    if parts == 1:
        gates(stage, v, t, N, H, 0, N)
        return
    for part in prange(parts, num_threads=parts, schedule='static'):
        gates(stage, v, t, N, H, N * part // parts, N * (part + 1) // parts)


cdef void recurrence(int op, Dir* v, bint lbr, int T, int D, int N, int H, int nth) noexcept nogil:
    # every step of one direction (op 0 LSTM, 1 GRU, 2 RNN): h·rᵀ, the gates, h into y[t, d]
    cdef int G = (4 if op == 0 else 3 if op == 1 else 1) * H, s, t
    for s in range(T):
        t = T - 1 - s if v.backwards else s
        if op == 0:
            product(v.h, v.r, v.hr, G, N, H, G, nth)
            shared_gates(LSTM, v, t, N, H, nth)
        elif op == 1 and lbr:
            product(v.h, v.r, v.hr, G, N, H, G, nth)
            shared_gates(GRU, v, t, N, H, nth)
        elif op == 1:  # z, r; r·h; (r·h)·r_hᵀ; h
            product(v.h, v.r, v.hr, G, N, H, 2 * H, nth)
            shared_gates(GRU_RESET, v, t, N, H, nth)
            product(v.rh, v.r + 2 * H * H, v.hr + 2 * H, G, N, H, H, nth)
            shared_gates(GRU, v, t, N, H, nth)
        else:
            product(v.h, v.r, v.hr, G, N, H, G, nth)
            shared_gates(RNN, v, t, N, H, nth)
        if v.y != NULL:
            memcpy(v.y + (<Py_ssize_t>t * D + v.d) * N * H, v.h, N * H * sizeof(float))


cdef void steps(int op, Dir* dirs, bint lbr, int T, int D, int N, int G, int H, int nth) noexcept nogil:
    # the recurrence of every direction: with 2+ threads the directions of a bidirectional layer run side by
    # side when they are long enough (2^18+ multiply-adds in h·rᵀ), one thread each, taken dynamically (a
    # thread the OS starts late may find both done); one direction shares each step among the threads when
    # the step is large (2^18+), else runs on one (a fork per step costs more than it saves)
    cdef int d
    if D > 1 and nth > 1 and <long>T * N * G * H >= (1 << 18):
        for d in prange(D, num_threads=D, schedule='dynamic'):
            recurrence(op, &dirs[d], lbr, T, D, N, H, 1)
        return
    for d in range(D):
        recurrence(op, &dirs[d], lbr, T, D, N, H, nth if <long>N * G * H >= (1 << 18) else 1)


cdef float* ptr(object a, Py_ssize_t offset=0):
    """The element at `offset` of a C-contiguous float32 array, NULL for None."""
    cdef const float[::1] v
    if a is None:
        return NULL
    v = a.reshape(-1)
    return <float*>&v[offset]


def _run(int op, const float[:, :, ::1] x, const float[:, :, ::1] w, const float[:, :, ::1] r,
         const float[:, ::1] b, h0, c0, peep, direction, bint lbr, result, out):
    """op 0 LSTM, 1 GRU, 2 RNN: the buffers (h, c or y is `out` when it is the result), then the projections
    and the recurrence."""
    cdef int T = x.shape[0], N = x.shape[1], F = x.shape[2], D = w.shape[0], G = w.shape[1], H = r.shape[2]
    h = out if out is not None and result == "h" else np.empty((D, N, H), np.float32)
    h[...] = 0.0 if h0 is None else h0
    c = p = None
    if op == 0:  # LSTM: the cell state, peepholes
        c = out if out is not None and result == "c" else np.empty((D, N, H), np.float32)
        c[...] = 0.0 if c0 is None else c0
        p = np.zeros((D, 3 * H), np.float32) if peep is None else peep
    y = None if result != "y" else (np.empty((T, D, N, H), np.float32) if out is None else out)
    rbh = None if op != 1 or not lbr else (np.zeros((D, H), np.float32) if b is None else
                                           np.ascontiguousarray(np.asarray(b)[:, 5 * H:]))
    xw, bias = np.empty((D, T * N, G), np.float32), np.empty((D, G), np.float32)
    hr, rh = np.empty((D, N, G), np.float32), np.empty((D, N, H), np.float32)
    cdef Dir dirs[2]
    cdef int d
    for d in range(D):
        dirs[d].xw, dirs[d].r = ptr(xw, <Py_ssize_t>d * T * N * G), &r[d, 0, 0]
        dirs[d].p, dirs[d].rbh = ptr(p, d * 3 * H), ptr(rbh, d * H)
        dirs[d].h, dirs[d].c, dirs[d].y = ptr(h, d * N * H), ptr(c, d * N * H), ptr(y)
        dirs[d].hr, dirs[d].rh = ptr(hr, d * N * G), ptr(rh, d * N * H)
        dirs[d].d, dirs[d].backwards = d, direction == "reverse" or d == 1
    cdef const float* bp = &b[0, 0] if b is not None else NULL
    cdef float *xwp = ptr(xw), *biasp = ptr(bias)
    cdef int blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        project(&x[0, 0, 0], &w[0, 0, 0], bp, biasp, xwp, D, T * N, F, G, H if op == 1 and lbr else 0, nth)
        steps(op, dirs, lbr, T, D, N, G, H, nth)
        blas_restore(blas)
    return {"y": y, "h": h, "c": c}[result]


def lstm(x, w, r, b, h0, c0, p, direction, result, out=None):
    """x (T,N,F), w (D,4H,F), r (D,4H,H), b (D,8H), h0/c0 (D,N,H), p (D,3H) -> y (T,D,N,H) | h, c (D,N,H)."""
    return _run(0, x, w, r, b, h0, c0, p, direction, False, result, out)


def gru(x, w, r, b, h0, direction, linear_before_reset, result, out=None):
    """x (T,N,F), w (D,3H,F), r (D,3H,H), b (D,6H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)."""
    return _run(1, x, w, r, b, h0, None, None, direction, linear_before_reset, result, out)


def rnn(x, w, r, b, h0, direction, result, out=None):
    """x (T,N,F), w (D,H,F), r (D,H,H), b (D,2H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)."""
    return _run(2, x, w, r, b, h0, None, None, direction, False, result, out)


bind_blas()
