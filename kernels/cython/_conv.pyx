"""2-D convolution (NCHW): im2col over tiles of output pixels + sgemm, a direct depthwise loop,
and the low-rank variants (channel decomposition, Tucker-2) chained in one call."""
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from deepx import config
from deepx.kernels.common import IDENTITY, conv_out_size

from kernels.cython._common cimport (PAR_MIN, SHARES, ActC, affine_act, as_act, bind_blas,
                                     blas_restore, blas_serial, cdiv_up, gemm_parts,
                                     kernel_threads)


cdef struct Geom:
    int C, H, W, K, R, S, groups, sh, sw, pt, pl, dh, dw, P, Q


cdef Geom geom(int C, int H, int W, int K, int R, int S, int groups, stride, pads, dilation):
    cdef Geom g
    g.C, g.H, g.W, g.K, g.R, g.S, g.groups = C, H, W, K, R, S, groups
    g.sh, g.sw = stride
    g.pt, g.pl = pads[0], pads[1]
    g.dh, g.dw = dilation
    g.P = conv_out_size(H, R, g.sh, g.pt, pads[2], g.dh)
    g.Q = conv_out_size(W, S, g.sw, g.pl, pads[3], g.dw)
    return g


cdef inline void span(int n_out, int stride, int off, int n_in, int* lo, int* hi) noexcept nogil:
    # [lo, hi): the outputs o in [0, n_out) whose input o*stride + off lies in [0, n_in)
    lo[0] = min(n_out, max(0, cdiv_up(-off, stride)))
    hi[0] = max(lo[0], min(n_out, cdiv_up(n_in - off, stride)))


cdef inline bint is_pointwise(const Geom* g) noexcept nogil:
    return (g.R == 1 and g.S == 1 and g.sh == 1 and g.sw == 1 and g.pt == 0 and g.pl == 0
            and g.P == g.H and g.Q == g.W)


cdef void im2col_row(const float* x, const Geom* g, int row, int j0, int T,
                     float* dst) noexcept nogil:
    # one row (c, r, s) of im2col: dst (T) = x[c, p*sh - pt + r*dh, q*sw - pl + s*dw] over the
    # output pixels (p, q) = divmod(j0 + j, Q), 0 in the padding
    cdef int c = row // (g.R * g.S), r = row // g.S % g.R, s = row % g.S
    cdef int off = s * g.dw - g.pl, p = j0 // g.Q, q = j0 % g.Q
    cdef int j = 0, n, ih, lo, hi, a, e
    cdef Py_ssize_t i
    cdef const float* src
    span(g.Q, g.sw, off, g.W, &lo, &hi)
    while j < T:
        n = min(g.Q - q, T - j)  # output pixels q .. q+n of output row p
        ih = p * g.sh - g.pt + r * g.dh
        a, e = min(max(q, lo), q + n), max(min(hi, q + n), q)
        if ih < 0 or ih >= g.H or a >= e:
            memset(dst, 0, n * sizeof(float))
        else:
            src = x + (<Py_ssize_t>c * g.H + ih) * g.W + off
            memset(dst, 0, (a - q) * sizeof(float))
            if g.sw == 1:
                memcpy(dst + a - q, src + a, (e - a) * sizeof(float))
            else:
                for i in range(a, e):
                    dst[i - q] = src[i * g.sw]
            memset(dst + e - q, 0, (q + n - e) * sizeof(float))
        dst += n
        j += n
        p += 1
        q = 0


cdef void pad_plane(const float* x, int H, int W, int pt, int pl, float* xp, int Hp,
                    int Wp) noexcept nogil:
    # x (H,W) -> xp (Hp,Wp): x at (pt, pl), zeros around
    cdef int h
    memset(xp, 0, <Py_ssize_t>Hp * Wp * sizeof(float))
    for h in range(H):
        memcpy(xp + (h + pt) * Wp + pl, x + h * W, W * sizeof(float))


cdef void depthwise_plane(const float* x, int Wp, const float* w, float bias, float* y,
                          const Geom* g, ActC act) noexcept nogil:
    # x (Hp,Wp) already padded * w (R,S) + bias -> y (P,Q)
    cdef int R = g.R, S = g.S, P = g.P, Q = g.Q, sh = g.sh, sw = g.sw, dh = g.dh, dw = g.dw
    cdef int p, r, s
    cdef Py_ssize_t q
    cdef float wv, w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0, w8 = 0
    cdef const float* x0
    cdef const float* x1
    cdef const float* x2
    cdef float* yrow
    if R == 3 and S == 3 and dh == 1 and dw == 1:
        w0, w1, w2, w3, w4, w5, w6, w7, w8 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
    for p in range(P):
        yrow = y + p * Q
        x0 = x + p * sh * Wp
        if R == 3 and S == 3 and dh == 1 and dw == 1:
            x1 = x0 + Wp
            x2 = x1 + Wp
            if sw == 1:
                for q in range(Q):
                    yrow[q] = (bias + w0 * x0[q] + w1 * x0[q + 1] + w2 * x0[q + 2]
                               + w3 * x1[q] + w4 * x1[q + 1] + w5 * x1[q + 2]
                               + w6 * x2[q] + w7 * x2[q + 1] + w8 * x2[q + 2])
            else:
                for q in range(Q):
                    yrow[q] = (bias + w0 * x0[q * sw] + w1 * x0[q * sw + 1] + w2 * x0[q * sw + 2]
                               + w3 * x1[q * sw] + w4 * x1[q * sw + 1] + w5 * x1[q * sw + 2]
                               + w6 * x2[q * sw] + w7 * x2[q * sw + 1] + w8 * x2[q * sw + 2])
        else:
            for q in range(Q):
                yrow[q] = bias
            for r in range(R):
                for s in range(S):
                    wv = w[r * S + s]
                    x1 = x0 + r * dh * Wp + s * dw
                    if sw == 1:
                        for q in range(Q):
                            yrow[q] += wv * x1[q]
                    else:
                        for q in range(Q):
                            yrow[q] += wv * x1[q * sw]
        affine_act(yrow, yrow, Q, 1.0, 0.0, act)


cdef void depthwise(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                    ActC act) noexcept nogil:
    # x (N,C,H,W) * w (K,1,R,S) + b -> y (N,K,P,Q), output channel k reads input channel k // (K/C)
    cdef Py_ssize_t HW = <Py_ssize_t>g.H * g.W, PQ = <Py_ssize_t>g.P * g.Q
    cdef int Hp = (g.P - 1) * g.sh + (g.R - 1) * g.dh + 1
    cdef int Wp = (g.Q - 1) * g.sw + (g.S - 1) * g.dw + 1
    cdef bint padded = g.pt or g.pl or Hp > g.H or Wp > g.W
    cdef int nk, k
    cdef const float* plane
    cdef float* xp = NULL
    Hp, Wp = max(Hp, g.H + g.pt), max(Wp, g.W + g.pl)
    with parallel(use_threads_if=N * g.K * PQ * g.R * g.S >= PAR_MIN):
        if padded:
            xp = <float*>malloc(<Py_ssize_t>Hp * Wp * sizeof(float))
        for nk in prange(N * g.K, schedule='static'):
            k = nk % g.K
            plane = x + (nk // g.K * g.C + k // (g.K // g.groups)) * HW
            if padded:
                pad_plane(plane, g.H, g.W, g.pt, g.pl, xp, Hp, Wp)
            depthwise_plane(xp if padded else plane, Wp if padded else g.W, w + k * g.R * g.S,
                            b[k] if b != NULL else 0.0, y + nk * PQ, g, act)
        free(xp)


cdef struct Tiling:
    int n, cols  # tiles of output pixels and columns per tile (the last may be shorter)


cdef Tiling tiling(const Geom* g, int nth):
    # tiles of at most CONV_TILE / nth pixels, SHARES per thread while they keep >= 128 pixels
    # (each thread then runs whole tiles); few pixels: tiles of CONV_TILE shared by all threads
    cdef int PQ = g.P * g.Q, cap = max(1, config.CONV_TILE)
    cdef Tiling t
    if nth > 1 and PQ >= 256 * nth:
        t.n = max(cdiv_up(PQ, max(1, cap // nth)), min(SHARES * nth, PQ // 128))
    else:
        t.n = cdiv_up(PQ, cap)
    t.cols = cdiv_up(PQ, t.n)
    return t


cdef void conv_tile(const float* x, const float* w, const float* b, float* y, const Geom* g,
                    int j0, int T, float* col, ActC act, int nth) noexcept nogil:
    # output pixels j0 .. j0+T of one group: im2col into col (C/g*R*S, T), one GEMM into y
    # (K/g, P*Q), bias + activation; nth > 1: threads share the im2col rows and the GEMM rows
    cdef int CRS = g.C // g.groups * g.R * g.S, row
    for row in prange(CRS, num_threads=nth, schedule='dynamic', chunksize=16,
                      use_threads_if=nth > 1):
        im2col_row(x, g, row, j0, T, col + <Py_ssize_t>row * T)
    gemm_parts(g.K // g.groups, T, CRS, w, CRS, col, T, y + j0, g.P * g.Q, b, act, nth)


cdef void conv_image(const float* x, const float* w, const float* b, float* y, const Geom* g,
                     float* col, Tiling t, ActC act, int nth) noexcept nogil:
    # x (C,H,W) * w (K,C/g,R,S) + b -> y (K,P,Q); col: scratch of nth * (C/g*R*S, t.cols) floats
    cdef int Cg = g.C // g.groups, Kg = g.K // g.groups, PQ = g.P * g.Q
    cdef int CRS = Cg * g.R * g.S, grp, i, j0
    cdef const float* xg
    cdef const float* wg
    cdef const float* bg
    cdef float* yg
    for grp in range(g.groups):
        xg = x + <Py_ssize_t>grp * Cg * g.H * g.W
        wg = w + <Py_ssize_t>grp * Kg * CRS
        bg = b + grp * Kg if b != NULL else NULL
        yg = y + <Py_ssize_t>grp * Kg * PQ
        if is_pointwise(g):
            gemm_parts(Kg, PQ, Cg, wg, Cg, xg, PQ, yg, PQ, bg, act, nth)
        elif t.n >= nth and nth > 1:
            for i in prange(t.n, num_threads=nth, schedule='dynamic'):
                j0 = i * t.cols
                conv_tile(xg, wg, bg, yg, g, j0, min(t.cols, PQ - j0),
                          col + <Py_ssize_t>threadid() * CRS * t.cols, act, 1)
        else:
            for i in range(t.n):
                j0 = i * t.cols
                conv_tile(xg, wg, bg, yg, g, j0, min(t.cols, PQ - j0), col, act, nth)


cdef float[::1] col_buffer(const Geom* g, Tiling t, int nth):
    return np.empty(0 if is_pointwise(g) else nth * g.C // g.groups * g.R * g.S * t.cols,
                    np.float32)


def conv2d(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w, const float[::1] b, stride,
           pads, dilation, int groups, act, out=None):
    """x (N,C,H,W) * w (K,C/g,R,S) + b (K) -> y (N,K,P,Q)."""
    cdef int N = x.shape[0], K = w.shape[0]
    cdef Geom g = geom(x.shape[1], x.shape[2], x.shape[3], K, w.shape[2], w.shape[3], groups,
                       stride, pads, dilation)
    if out is None:
        out = np.empty((N, K, g.P, g.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    if w.shape[1] == 1 and groups > 1:
        with nogil:
            depthwise(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &g, N, a)
        return out
    cdef int n, blas = blas_serial(), nth = kernel_threads(blas)
    cdef Tiling t = tiling(&g, nth)
    cdef float[::1] col = col_buffer(&g, t, nth)
    with nogil:
        for n in range(N):
            conv_image(&x[n, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[n, 0, 0, 0], &g, &col[0], t, a,
                       nth)
        blas_restore(blas)
    return out


def conv2d_lowrank(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w1,
                   const float[:, :, :, ::1] w2, const float[::1] b, stride, pads, dilation, act,
                   out=None):
    """x (N,C,H,W) * w1 (r,C,R,S) -> t (r,P,Q);  w2 (K,r,1,1) · t + b (K) -> y (N,K,P,Q)."""
    cdef int N = x.shape[0], rank = w1.shape[0], K = w2.shape[0]
    cdef Geom g = geom(x.shape[1], x.shape[2], x.shape[3], rank, w1.shape[2], w1.shape[3], 1,
                       stride, pads, dilation)
    if out is None:
        out = np.empty((N, K, g.P, g.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act), ident = as_act(IDENTITY)
    cdef int n, PQ = g.P * g.Q, blas = blas_serial(), nth = kernel_threads(blas)
    cdef Tiling t = tiling(&g, nth)
    cdef float[::1] t1 = np.empty(rank * PQ, np.float32)
    cdef float[::1] col = col_buffer(&g, t, nth)
    with nogil:
        for n in range(N):
            conv_image(&x[n, 0, 0, 0], &w1[0, 0, 0, 0], NULL, &t1[0], &g, &col[0], t, ident, nth)
            gemm_parts(K, PQ, rank, &w2[0, 0, 0, 0], rank, &t1[0], PQ, &y[n, 0, 0, 0], PQ, bp, a,
                       nth)
        blas_restore(blas)
    return out


def conv2d_tucker2(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w_in,
                   const float[:, :, :, ::1] w_core, const float[:, :, :, ::1] w_out,
                   const float[::1] b, stride, pads, dilation, act, out=None):
    """x (N,C,H,W): w_in (r1,C,1,1) · x -> t1 (r1,H,W);  t1 * w_core (r2,r1,R,S) -> t2 (r2,P,Q);
    w_out (K,r2,1,1) · t2 + b (K) -> y (N,K,P,Q)."""
    cdef int N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int r1 = w_in.shape[0], r2 = w_core.shape[0], K = w_out.shape[0]
    cdef Geom g = geom(r1, H, W, r2, w_core.shape[2], w_core.shape[3], 1, stride, pads,
                       dilation)
    if out is None:
        out = np.empty((N, K, g.P, g.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act), ident = as_act(IDENTITY)
    cdef int n, HW = H * W, PQ = g.P * g.Q, blas = blas_serial(), nth = kernel_threads(blas)
    cdef Tiling t = tiling(&g, nth)
    cdef float[::1] t1 = np.empty(r1 * HW, np.float32)
    cdef float[::1] t2 = np.empty(r2 * PQ, np.float32)
    cdef float[::1] col = col_buffer(&g, t, nth)
    with nogil:
        for n in range(N):
            gemm_parts(r1, HW, C, &w_in[0, 0, 0, 0], C, &x[n, 0, 0, 0], HW, &t1[0], HW, NULL,
                       ident, nth)
            conv_image(&t1[0], &w_core[0, 0, 0, 0], NULL, &t2[0], &g, &col[0], t, ident, nth)
            gemm_parts(K, PQ, r2, &w_out[0, 0, 0, 0], r2, &t2[0], PQ, &y[n, 0, 0, 0], PQ, bp, a,
                       nth)
        blas_restore(blas)
    return out


bind_blas()
