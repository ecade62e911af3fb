"""2-D convolution (NCHW): im2col over tiles of output pixels + sgemm, a direct depthwise loop,
and the low-rank variants (channel decomposition, Tucker-2) chained in one call."""
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from deepx import config
from deepx.kernels.common import IDENTITY, conv_out_size

from kernels.cython._common cimport PAR_MIN, ActC, affine_act, as_act, cdiv_up, gemm


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


cdef int tile_cols(const Geom* g):
    # output pixels per im2col tile (0: pointwise, no im2col)
    return 0 if is_pointwise(g) else min(g.P * g.Q, max(1, config.CONV_TILE))


cdef void bias_act_tile(float* y, int rows, int cols, Py_ssize_t ld, const float* b,
                        ActC act) noexcept nogil:
    # y (rows, cols), row stride ld: y = act(y + b (rows))
    cdef int k
    if b == NULL and act.kind == 0:
        return
    for k in prange(rows, schedule='static', use_threads_if=<Py_ssize_t>rows * cols >= PAR_MIN):
        affine_act(y + k * ld, y + k * ld, cols, 1.0, b[k] if b != NULL else 0.0, act)


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


cdef void im2col(const float* x, const Geom* g, int j0, int T, float* col) noexcept nogil:
    # x (C/g,H,W) -> col (C/g*R*S, T): column j is the receptive field of output pixel j0 + j
    cdef int rows = g.C // g.groups * g.R * g.S
    cdef int row
    for row in prange(rows, schedule='static', use_threads_if=<Py_ssize_t>rows * T >= PAR_MIN):
        im2col_row(x, g, row, j0, T, col + <Py_ssize_t>row * T)


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
    cdef int Hp = (g.P - 1) * g.sh + (g.R - 1) * g.dh + 1, Wp = (g.Q - 1) * g.sw + (g.S - 1) * g.dw + 1
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


cdef void conv_image(const float* x, const float* w, const float* b, float* y, const Geom* g,
                     float* col, int tile, ActC act) noexcept nogil:
    # x (C,H,W) * w (K,C/g,R,S) + b -> y (K,P,Q); col: scratch (C/g*R*S, tile) unless pointwise
    cdef int Cg = g.C // g.groups, Kg = g.K // g.groups, PQ = g.P * g.Q
    cdef int CRS = Cg * g.R * g.S
    cdef int grp, j0, T
    cdef const float* xg
    cdef float* yg
    for grp in range(g.groups):
        xg = x + <Py_ssize_t>grp * Cg * g.H * g.W
        yg = y + <Py_ssize_t>grp * Kg * PQ
        if is_pointwise(g):
            gemm(False, False, Kg, PQ, Cg, w + grp * Kg * Cg, Cg, xg, PQ, 0.0, yg, PQ)
            bias_act_tile(yg, Kg, PQ, PQ, b + grp * Kg if b != NULL else NULL, act)
            continue
        j0 = 0
        while j0 < PQ:
            T = min(tile, PQ - j0)
            im2col(xg, g, j0, T, col)
            gemm(False, False, Kg, T, CRS, w + <Py_ssize_t>grp * Kg * CRS, CRS, col, T, 0.0,
                 yg + j0, PQ)
            bias_act_tile(yg + j0, Kg, T, PQ, b + grp * Kg if b != NULL else NULL, act)
            j0 += T


def conv2d(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w, const float[::1] b, stride,
           pads, dilation, int groups, act, out=None):
    """x (N,C,H,W) * w (K,C/g,R,S) + b (K) -> y (N,K,P,Q)."""
    cdef int N = x.shape[0], K = w.shape[0]
    cdef Geom g = geom(x.shape[1], x.shape[2], x.shape[3], K, w.shape[2], w.shape[3], groups, stride,
                       pads, dilation)
    if out is None:
        out = np.empty((N, K, g.P, g.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    cdef int n, tile = tile_cols(&g)
    if w.shape[1] == 1 and groups > 1:
        with nogil:
            depthwise(&x[0, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[0, 0, 0, 0], &g, N, a)
        return out
    cdef float[::1] col = np.empty(max(1, w.shape[1] * g.R * g.S * tile), np.float32)
    with nogil:
        for n in range(N):
            conv_image(&x[n, 0, 0, 0], &w[0, 0, 0, 0], bp, &y[n, 0, 0, 0], &g, &col[0], tile, a)
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
    cdef int n, PQ = g.P * g.Q, tile = tile_cols(&g)
    cdef float[::1] scratch = np.empty(rank * PQ + g.C * g.R * g.S * tile, np.float32)
    cdef float* t = &scratch[0]
    with nogil:
        for n in range(N):
            conv_image(&x[n, 0, 0, 0], &w1[0, 0, 0, 0], NULL, t, &g, t + rank * PQ, tile, ident)
            gemm(False, False, K, PQ, rank, &w2[0, 0, 0, 0], rank, t, PQ, 0.0, &y[n, 0, 0, 0], PQ)
            bias_act_tile(&y[n, 0, 0, 0], K, PQ, PQ, bp, a)
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
    cdef int n, HW = H * W, PQ = g.P * g.Q, tile = tile_cols(&g)
    cdef float[::1] scratch = np.empty(r1 * HW + r2 * PQ + r1 * g.R * g.S * tile, np.float32)
    cdef float* t1 = &scratch[0]
    cdef float* t2 = t1 + r1 * HW
    with nogil:
        for n in range(N):
            gemm(False, False, r1, HW, C, &w_in[0, 0, 0, 0], C, &x[n, 0, 0, 0], HW, 0.0, t1, HW)
            conv_image(t1, &w_core[0, 0, 0, 0], NULL, t2, &g, t2 + r2 * PQ, tile, ident)
            gemm(False, False, K, PQ, r2, &w_out[0, 0, 0, 0], r2, t2, PQ, 0.0, &y[n, 0, 0, 0], PQ)
            bias_act_tile(&y[n, 0, 0, 0], K, PQ, PQ, bp, a)
    return out
