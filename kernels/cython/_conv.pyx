"""2-D convolution (NCHW): Winograd F(2x2,3x3) or, with AVX-512 on planes of 28x28 outputs or more, F(4x4,3x3) for 3x3
stride-1 convs, with AVX-512 the output channels in the vector lanes for strided convs and the other k x k ones
(deepx_bcast.h), im2col over tiles of output pixels + GEMM for the rest (deepx_gemm.h's kernels on weights packed
once where the CPU has AVX-512, or AVX2 for few taps or small planes, else BLAS), depthwise convs by deepx_dw.h's
AVX-512 or AVX2 rows or, with AVX-512 on small planes, 16 channels a vector (else direct loops), and the low-rank
variants (channel decomposition, Tucker-2) chained in one call, their last 1x1 stage fused into the Winograd one;
the transposed conv as GEMM + col2im over tiles of input rows. One file of ~900 lines on purpose: every variant
shares the Winograd and im2col stages, their plans and the per-thread scratch, which Cython cannot share across
extension modules without a C API of its own."""
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import threading

import numpy as np

from deepx import config
from deepx.kernels.common import IDENTITY, conv_out_size

from kernels.cython._common cimport (CLIP, NONE, PAR_MIN, SHARES, ActC, affine_act, as_act, bias_act_rows,
                                     bind_blas, blas_restore, blas_serial, cdiv_up, deepx_gemm_implicit,
                                     deepx_gemm_isa, deepx_gemm_mr, deepx_gemm_packed, deepx_gemm_pick, deepx_pack_a,
                                     deepx_packed_floats, gemm, gemm_packed_act, gemm_packed_parts, gemm_parts,
                                     kernel_threads, omp_barrier, omp_get_max_threads, omp_get_num_threads)

cdef extern from "deepx_im2col.h":
    int deepx_im2col_has(int s) noexcept nogil
    void deepx_im2col_rows(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n, int rows,
                           int s) noexcept nogil

cdef extern from "deepx_gemm.h":
    enum:
        DEEPX_KC
        DEEPX_K1
    int deepx_gemm_avx2() noexcept nogil

cdef extern from "deepx_bcast.h":
    enum:
        DEEPX_BC_K
        DEEPX_BC_PIX
        DEEPX_BC_T
    size_t deepx_bc_floats(int K, int T) noexcept nogil
    void deepx_bc_pack(int K, int T, const float* w, float* wp) noexcept nogil
    void deepx_bc_item(int K, int T, const float* wp, const float* x, const int* toff, const int* po, int j0, int n,
                       int k0, float* y, const float* res, size_t PQ, const float* bias, int clip, float lo, float hi,
                       float* buf) noexcept nogil

cdef extern from "deepx_wino.h":
    void deepx_wino4_cols(const float* const* d, int n, float* r, int Wt) noexcept nogil
    void deepx_wino4_in(const float* r, int Wt, int TX, float* v, size_t es) noexcept nogil
    void deepx_wino4_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias, float lo,
                         float hi) noexcept nogil
    void deepx_wino2_in(const float* r, int Wt, int TX, float* v, size_t es) noexcept nogil
    void deepx_wino2_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias, float lo,
                         float hi) noexcept nogil
    void deepx_wino2_in8(const float* r, int Wt, int TX, float* v, size_t es) noexcept nogil
    void deepx_wino2_out8(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                          float lo, float hi) noexcept nogil


cdef extern from "deepx_dw.h":
    int deepx_vec_lanes() noexcept nogil
    int deepx_dw_has(int K, int s) noexcept nogil
    void deepx_dw_plane(const float* x, int H, int W, const float* w, int K, float bias, float* y, int P, int Q,
                        int s, int pt, int pl, float lo, float hi, const float* xn, float* yn) noexcept nogil
    int deepx_dw_lanes_has(int K, int s, int P, int Q, int Hp, int Wp) noexcept nogil
    void deepx_dw_lanes(const float* x, int H, int W, const float* w, const float* bias, float* y, int P, int Q,
                        int K, int S, int pt, int pl, float lo, float hi, int nc, const float* xn,
                        int nn) noexcept nogil


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


cdef inline void gather_row(float* dst, const float* src, int n, int lo, int hi, int stride) noexcept nogil:
    # dst (n) = src[i * stride] for lo <= i < hi, 0 elsewhere (strides 1 and 2 by loops the compiler vectorises)
    cdef int i
    memset(dst, 0, lo * sizeof(float))
    if stride == 1:
        memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float))
    elif stride == 2:
        for i in range(lo, hi):
            dst[i] = src[2 * i]
    else:
        for i in range(lo, hi):
            dst[i] = src[i * stride]
    memset(dst + hi, 0, (n - hi) * sizeof(float))


cdef inline bint is_pointwise(const Geom* g) noexcept nogil:
    return (g.R == 1 and g.S == 1 and g.sh == 1 and g.sw == 1 and g.pt == 0 and g.pl == 0
            and g.P == g.H and g.Q == g.W)


cdef void im2col_row(const float* x, const Geom* g, int row, int j0, int T,
                     float* dst) noexcept nogil:
    # one row (c, r, s) of im2col: dst (T) = x[c, p*sh - pt + r*dh, q*sw - pl + s*dw] over the
    # output pixels (p, q) = divmod(j0 + j, Q), 0 in the padding
    cdef int c = row // (g.R * g.S), r = row // g.S % g.R, s = row % g.S
    cdef int off = s * g.dw - g.pl, p = j0 // g.Q, q = j0 % g.Q
    cdef int j = 0, n, rows, ih, lo, hi, a, e
    cdef bint vec = deepx_im2col_has(g.sw)
    span(g.Q, g.sw, off, g.W, &lo, &hi)
    while j < T:
        n = min(g.Q - q, T - j)  # output pixels q .. q+n of output row p
        rows = (T - j) // g.Q if vec and n == g.Q else 1  # whole output rows: one call, the masks made once
        ih = p * g.sh - g.pt + r * g.dh
        a, e = min(max(q, lo), q + n), max(min(hi, q + n), q)
        if vec:
            deepx_im2col_rows(dst, x + <Py_ssize_t>c * g.H * g.W, g.H, g.W, ih, g.sh, q * g.sw + off, n, rows, g.sw)
        elif ih < 0 or ih >= g.H or a >= e:
            memset(dst, 0, n * sizeof(float))
        else:
            gather_row(dst, x + (<Py_ssize_t>c * g.H + ih) * g.W + off + q * g.sw, n, a - q, e - q, g.sw)
        dst += rows * n
        j += rows * n
        p += rows
        q = 0


cdef void pad_plane(const float* x, int H, int W, int pt, int pl, float* xp, int Hp,
                    int Wp) noexcept nogil:
    # x (H,W) -> xp (Hp,Wp): x at (pt, pl), zeros around
    cdef int h
    cdef float* row
    memset(xp, 0, <Py_ssize_t>pt * Wp * sizeof(float))
    for h in range(H):
        row = xp + (h + pt) * Wp
        memset(row, 0, pl * sizeof(float))
        memcpy(row + pl, x + h * W, W * sizeof(float))
        memset(row + pl + W, 0, (Wp - pl - W) * sizeof(float))
    memset(xp + (H + pt) * Wp, 0, <Py_ssize_t>(Hp - H - pt) * Wp * sizeof(float))


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


cdef void split_columns(const float* x, int Hp, int Wp, float* xs, int Wh) noexcept nogil:
    # x (Hp,Wp) -> xs (Hp, 2, Wh): each row's even columns, then its odd ones (zero past the end), so that a
    # stride-2 window reads both contiguously
    cdef int h, j
    cdef const float* row
    cdef float* e
    cdef float* o
    for h in range(Hp):
        row, e = x + <Py_ssize_t>h * Wp, xs + <Py_ssize_t>h * 2 * Wh
        o = e + Wh
        for j in range(Wp // 2):
            e[j] = row[2 * j]
            o[j] = row[2 * j + 1]
        if Wp % 2:
            e[Wh - 1] = row[Wp - 1]
            o[Wh - 1] = 0


cdef void depthwise_plane_s2(const float* xs, int Wh, const float* w, float bias, float* y, const Geom* g,
                             ActC act) noexcept nogil:
    # xs (Hp,2,Wh) from split_columns * w (3,3) + bias, stride 2 -> y (P,Q)
    cdef int p
    cdef Py_ssize_t q
    cdef float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8]
    cdef const float* e0
    cdef const float* e1
    cdef const float* e2
    cdef float* yrow
    for p in range(g.P):
        yrow = y + p * g.Q
        e0 = xs + <Py_ssize_t>p * g.sh * 2 * Wh
        e1 = e0 + 2 * Wh
        e2 = e1 + 2 * Wh
        for q in range(g.Q):  # even column 2q, odd 2q+1, even 2q+2
            yrow[q] = (bias + w0 * e0[q] + w1 * e0[Wh + q] + w2 * e0[q + 1]
                       + w3 * e1[q] + w4 * e1[Wh + q] + w5 * e1[q + 1]
                       + w6 * e2[q] + w7 * e2[Wh + q] + w8 * e2[q + 1])
        affine_act(yrow, yrow, g.Q, 1.0, 0.0, act)


cdef void depthwise(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                    ActC act) noexcept nogil:
    # x (N,C,H,W) * w (K,1,R,S) + b -> y (N,K,P,Q), output channel k reads input channel k // (K/C)
    cdef Py_ssize_t HW = <Py_ssize_t>g.H * g.W, PQ = <Py_ssize_t>g.P * g.Q
    cdef int Hp = (g.P - 1) * g.sh + (g.R - 1) * g.dh + 1
    cdef int Wp = (g.Q - 1) * g.sw + (g.S - 1) * g.dw + 1
    cdef bint padded = g.pt or g.pl or Hp > g.H or Wp > g.W
    cdef bint s2 = g.R == 3 and g.S == 3 and g.dh == 1 and g.dw == 1 and g.sw == 2
    cdef int nk, k, Wh
    cdef const float* plane
    cdef float* xp = NULL
    cdef float* xs = NULL
    Hp, Wp = max(Hp, g.H + g.pt), max(Wp, g.W + g.pl)
    Wh = (Wp + 1) // 2
    with parallel(use_threads_if=N * g.K * PQ * g.R * g.S >= PAR_MIN):
        if padded:
            xp = <float*>malloc(<Py_ssize_t>Hp * Wp * sizeof(float))
        if s2:
            xs = <float*>malloc(<Py_ssize_t>Hp * 2 * Wh * sizeof(float))
        for nk in prange(N * g.K, schedule='static'):
            k = nk % g.K
            plane = x + (nk // g.K * g.C + k // (g.K // g.groups)) * HW
            if padded:
                pad_plane(plane, g.H, g.W, g.pt, g.pl, xp, Hp, Wp)
            if s2:
                split_columns(xp if padded else plane, Hp, Wp if padded else g.W, xs, Wh)
                depthwise_plane_s2(xs, Wh, w + k * 9, b[k] if b != NULL else 0.0, y + nk * PQ, g, act)
            else:
                depthwise_plane(xp if padded else plane, Wp if padded else g.W, w + k * g.R * g.S,
                                b[k] if b != NULL else 0.0, y + nk * PQ, g, act)
        free(xp)
        free(xs)


cdef bint depthwise_simd(const Geom* g) noexcept nogil:
    # whether deepx_dw.h has a kernel for this depthwise conv (AVX-512 or AVX2; square window 3, 5 or 7, no dilation)
    return g.R == g.S and g.sh == g.sw and g.dh == 1 and g.dw == 1 and deepx_dw_has(g.R, g.sh)


cdef void depthwise_vec(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                        ActC act) noexcept nogil:
    # x (N,C,H,W) * w (K,1,R,S) + b -> y (N,K,P,Q) through deepx_dw.h, a plane per output channel (each thread's
    # a run of them: the next one's lines fetched during this one); a clip in the kernel, another activation over
    # the plane after it
    cdef Py_ssize_t HW = <Py_ssize_t>g.H * g.W, PQ = <Py_ssize_t>g.P * g.Q
    cdef float lo = act.lo if act.kind == CLIP else -INFINITY, hi = act.hi if act.kind == CLIP else INFINITY
    cdef int nk, k, per = g.K // g.groups
    for nk in prange(N * g.K, schedule='static', use_threads_if=N * g.K * PQ * g.R * g.S >= PAR_MIN):
        k = nk % g.K
        deepx_dw_plane(x + (nk // g.K * g.C + k // per) * HW, g.H, g.W, w + k * g.R * g.S, g.R,
                       b[k] if b != NULL else 0.0, y + nk * PQ, g.P, g.Q, g.sh, g.pt, g.pl, lo, hi,
                       x + ((nk + 1) // g.K * g.C + (nk + 1) % g.K // per) * HW if nk + 1 < N * g.K else NULL,
                       y + (nk + 1) * PQ)
        if act.kind != CLIP and act.kind != NONE:
            affine_act(y + nk * PQ, y + nk * PQ, PQ, 1.0, 0.0, act)


cdef bint depthwise_lanes_fits(const Geom* g) noexcept nogil:
    # whether deepx_dw.h's channels-in-lanes kernel takes this depthwise conv (depthwise_simd's windows, one channel
    # a group, small planes)
    return (g.R == g.S and g.sh == g.sw and g.dh == 1 and g.dw == 1 and g.K == g.C and g.groups == g.C
            and deepx_dw_lanes_has(g.R, g.sh, g.P, g.Q, (g.P - 1) * g.sh + g.R, (g.Q - 1) * g.sw + g.S))


cdef void depthwise_lanes(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                          ActC act) noexcept nogil:
    # x (N,C,H,W) * w (C,1,R,S) + b -> y (N,C,P,Q) through deepx_dw_lanes, blocks of a vector's channels (16 or 8),
    # each thread a run of them (the next block's inputs, fetched during this one, are the same thread's; as the
    # conv before split its channels); a clip in the kernel, another activation over the block's planes after it
    cdef Py_ssize_t HW = <Py_ssize_t>g.H * g.W, PQ = <Py_ssize_t>g.P * g.Q
    cdef float lo = act.lo if act.kind == CLIP else -INFINITY, hi = act.hi if act.kind == CLIP else INFINITY
    cdef int L = deepx_vec_lanes(), blocks = cdiv_up(g.C, L), nb, c0, nc
    cdef Py_ssize_t plane  # the block's first plane among the N * C
    for nb in prange(N * blocks, schedule='static', use_threads_if=N * g.C * PQ * g.R * g.S >= PAR_MIN):
        c0 = nb % blocks * L
        nc = min(L, g.C - c0)
        plane = nb // blocks * g.C + c0
        deepx_dw_lanes(x + plane * HW, g.H, g.W, w + c0 * g.R * g.S, b + c0 if b != NULL else NULL, y + plane * PQ,
                       g.P, g.Q, g.R, g.sh, g.pt, g.pl, lo, hi, nc, x + (plane + nc) * HW,
                       min(L, N * g.C - plane - nc))
        if act.kind != CLIP and act.kind != NONE:
            affine_act(y + plane * PQ, y + plane * PQ, nc * PQ, 1.0, 0.0, act)


cdef enum:
    CB = 8  # channels per block of the channel-interleaved depthwise path
    # output planes up to this size take it (measured on MobileNetV2's 3x3 depthwise convs against the row-wise
    # depthwise_plane: faster up to 28x28 outputs, and up to 56x56 at stride 2)
    DW_BLOCKED_PQ = 28 * 28
    DW_BLOCKED_PQ_S2 = 56 * 56


cdef extern from *:
    """
    #include <string.h>
    typedef float deepx_v8 __attribute__((vector_size(32)));  /* GCC's portable vectors: AVX, 2 SSE, 2 NEON */
    /* deepx_dw_taps for a K x K window (K a constant where it is inlined: the tap loops unroll, the weight
       vectors stay in registers) */
    static inline __attribute__((always_inline)) void deepx_dw_taps_k(
            const float* restrict xb, const float* restrict wb, float* restrict yb, int P, int Q, int Wp, int sh,
            int sw, const int K) {
        deepx_v8 acc, xv, wk[25];
        memcpy(wk, wb, K * K * 32);
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                const float* x0 = xb + ((Py_ssize_t)(p * sh) * Wp + q * sw) * 8;
                acc = (deepx_v8){0, 0, 0, 0, 0, 0, 0, 0};
                for (int r = 0; r < K; r++)
                    for (int t = 0; t < K; t++) {
                        memcpy(&xv, x0 + ((Py_ssize_t)r * Wp + t) * 8, 32);
                        acc += xv * wk[r * K + t];
                    }
                memcpy(yb + ((Py_ssize_t)p * Q + q) * 8, &acc, 32);
            }
    }
    /* yb (P*Q, 8) = the taps of w (R*S, 8) over xb (Hp, Wp, 8), 8 channels per vector op */
    static void deepx_dw_taps(const float* restrict xb, const float* restrict wb, float* restrict yb, int P, int Q,
                              int R, int S, int Wp, int sh, int sw, int dh, int dw) {
        deepx_v8 acc, xv, wv;
        if (R == 3 && S == 3 && dh == 1 && dw == 1) {
            deepx_dw_taps_k(xb, wb, yb, P, Q, Wp, sh, sw, 3);
            return;
        }
        if (R == 5 && S == 5 && dh == 1 && dw == 1) {
            deepx_dw_taps_k(xb, wb, yb, P, Q, Wp, sh, sw, 5);
            return;
        }
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                acc = (deepx_v8){0, 0, 0, 0, 0, 0, 0, 0};
                for (int r = 0; r < R; r++)
                    for (int t = 0; t < S; t++) {
                        memcpy(&xv, xb + ((Py_ssize_t)(p * sh + r * dh) * Wp + q * sw + t * dw) * 8, 32);
                        memcpy(&wv, wb + (r * S + t) * 8, 32);
                        acc += xv * wv;
                    }
                memcpy(yb + ((Py_ssize_t)p * Q + q) * 8, &acc, 32);
            }
    }
    /* nc <= 8 channel planes x (nc, H, W), plane stride HW -> xb (Hp, Wp, 8) at (pt, pl), channels nc.. zero */
    static void deepx_dw_interleave(const float* restrict x, Py_ssize_t HW, int nc, int H, int W,
                                    float* restrict xb, int Wp, int pt, int pl) {
        for (int h = 0; h < H; h++) {
            const float* row = x + (Py_ssize_t)h * W;
            float* d = xb + ((Py_ssize_t)(h + pt) * Wp + pl) * 8;
            if (nc == 8)
                for (int i = 0; i < W; i++)
                    for (int c = 0; c < 8; c++)
                        d[i * 8 + c] = row[c * HW + i];
            else
                for (int i = 0; i < W; i++)
                    for (int c = 0; c < 8; c++)
                        d[i * 8 + c] = c < nc ? row[c * HW + i] : 0.0f;
        }
    }
    """
    void deepx_dw_taps(const float* xb, const float* wb, float* yb, int P, int Q, int R, int S, int Wp,
                       int sh, int sw, int dh, int dw) noexcept nogil
    void deepx_dw_interleave(const float* x, Py_ssize_t HW, int nc, int H, int W, float* xb, int Wp, int pt,
                             int pl) noexcept nogil


cdef void depthwise_block(const float* x, const float* w, const float* b, float* y, const Geom* g,
                          int c0, int nc, float* xb, float* wb, float* yb, int Hp, int Wp,
                          ActC act) noexcept nogil:
    # channels [c0, c0+nc) of one image x (C,H,W) * w (C,1,R,S) + b -> y (C,P,Q), nc <= CB: interleaved
    # as xb (Hp,Wp,CB) padded, wb (R*S,CB), yb (P*Q,CB) so that every tap is one vector op over CB channels
    cdef int R = g.R, S = g.S, H = g.H, W = g.W, c, h, i, t
    cdef Py_ssize_t HW = <Py_ssize_t>H * W, PQ = <Py_ssize_t>g.P * g.Q, o
    memset(xb, 0, <Py_ssize_t>Hp * Wp * CB * sizeof(float))
    memset(wb, 0, R * S * CB * sizeof(float))
    if H <= Hp - g.pt and W <= Wp - g.pl:
        deepx_dw_interleave(x + c0 * HW, HW, nc, H, W, xb, Wp, g.pt, g.pl)
    else:  # the window never reaches the last rows or columns
        for c in range(nc):
            for h in range(min(H, Hp - g.pt)):
                for i in range(min(W, Wp - g.pl)):
                    xb[((<Py_ssize_t>(h + g.pt)) * Wp + i + g.pl) * CB + c] = x[(c0 + c) * HW + h * W + i]
    for c in range(nc):
        for t in range(R * S):
            wb[t * CB + c] = w[(c0 + c) * R * S + t]
    deepx_dw_taps(xb, wb, yb, g.P, g.Q, R, S, Wp, g.sh, g.sw, g.dh, g.dw)
    for c in range(nc):
        for o in range(PQ):
            y[(c0 + c) * PQ + o] = yb[o * CB + c]
        affine_act(y + (c0 + c) * PQ, y + (c0 + c) * PQ, PQ, 1.0, b[c0 + c] if b != NULL else 0.0, act)


cdef void depthwise_blocked(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                            ActC act) noexcept nogil:
    # x (N,C,H,W) * w (C,1,R,S) + b -> y (N,C,P,Q), one output channel per input channel, CB channels at a time
    cdef int Hp = (g.P - 1) * g.sh + (g.R - 1) * g.dh + 1
    cdef int Wp = (g.Q - 1) * g.sw + (g.S - 1) * g.dw + 1
    cdef int blocks = cdiv_up(g.C, CB), nb, c0
    cdef float* xb = NULL
    cdef float* wb = NULL
    cdef float* yb = NULL
    with parallel(use_threads_if=N * g.K * g.P * g.Q * g.R * g.S >= PAR_MIN):
        xb = <float*>malloc(<Py_ssize_t>Hp * Wp * CB * sizeof(float))
        wb = <float*>malloc(g.R * g.S * CB * sizeof(float))
        yb = <float*>malloc(<Py_ssize_t>g.P * g.Q * CB * sizeof(float))
        for nb in prange(N * blocks, schedule='static'):
            c0 = nb % blocks * CB
            depthwise_block(x + <Py_ssize_t>(nb // blocks) * g.C * g.H * g.W, w, b,
                            y + <Py_ssize_t>(nb // blocks) * g.C * g.P * g.Q, g, c0, min(CB, g.C - c0),
                            xb, wb, yb, Hp, Wp, act)
        free(xb)
        free(wb)
        free(yb)


cdef struct Tiling:
    int n, cols  # tiles of output pixels and columns per tile (the last may be shorter)


cdef Tiling tiling(const Geom* g, int nth):
    # tiles of at most CONV_TILE pixels, or with nth threads each running whole tiles (SHARES per thread while they
    # keep >= 128 pixels) CONV_TILE / nth; few pixels: tiles of CONV_TILE shared by all threads. With the packed
    # GEMM, tiles whose columns fit in L2 (COL_FLOATS, each thread's in its own core's) while they keep >= 256
    # pixels: the GEMM reads them there, not from memory (measured at 2 threads, tiles that size against half of
    # it: ResNet50's 128 -> 128 3x3/2 on 56x56 10-17% faster, AlexNet's 5x5 9%, the others within noise)
    cdef int PQ = g.P * g.Q, cap = max(1, config.CONV_TILE)
    cdef bint whole = nth > 1 and PQ >= 256 * nth
    if whole:
        cap = max(1, cap // nth)
    if deepx_gemm_isa():
        cap = min(cap, max(256, COL_FLOATS // (g.C // g.groups * g.R * g.S)))
    cdef Tiling t
    if whole:
        t.n = max(cdiv_up(PQ, cap), min(SHARES * nth, PQ // 128))
        t.n = cdiv_up(t.n, nth) * nth  # as many tiles per thread
    else:
        t.n = cdiv_up(PQ, cap)
    t.cols = cdiv_up(PQ, t.n)
    t.n = cdiv_up(PQ, t.cols)  # no empty tile
    return t


cdef struct Weights:
    const float* w  # (K, C/g, R, S)
    const float* packed  # each group's (K/g, C/g*R*S) packed by deepx_pack_a; NULL: BLAS on w
    Py_ssize_t group  # floats of one group in packed
    int level  # the packed GEMM's level packed was made for (deepx_gemm_pick)


cdef void group_gemm(const Weights* W, const Geom* g, int grp, int n, const float* b, int ldb,
                     float* c, const float* res, int ldc, const float* bias, ActC act, int nth) noexcept nogil:
    # c (K/g, n) = act(group grp's weights · b (C/g*R*S, n) + bias [+ res, laid out as c]): packed kernel, else
    # BLAS
    cdef int Kg = g.K // g.groups, CRS = g.C // g.groups * g.R * g.S
    if W.packed != NULL:
        gemm_packed_parts(W.level, Kg, n, CRS, W.packed + grp * W.group, b, ldb, c, res, ldc, bias, act,
                          nth)
    else:
        gemm_parts(Kg, n, CRS, W.w + <Py_ssize_t>grp * Kg * CRS, CRS, b, ldb, c, res, ldc, bias, act, nth)


cdef void conv_tile(const float* x, const Weights* W, int grp, const float* b, float* y, const float* res,
                    const Geom* g, int j0, int T, float* col, ActC act, int nth) noexcept nogil:
    # output pixels j0 .. j0+T of group grp (x, b, y: the group's): im2col into col (C/g*R*S, T), one
    # GEMM into y (K/g, P*Q), bias + activation; nth > 1: threads share the im2col rows and the GEMM
    cdef int CRS = g.C // g.groups * g.R * g.S, row
    for row in prange(CRS, num_threads=nth, schedule='dynamic', chunksize=16,
                      use_threads_if=nth > 1):
        im2col_row(x, g, row, j0, T, col + <Py_ssize_t>row * T)
    group_gemm(W, g, grp, T, col, T, y + j0, res + j0 if res != NULL else NULL, g.P * g.Q, b, act, nth)


cdef void conv_group(const float* x, const Weights* W, const float* b, float* y, const float* res,
                     const Geom* g, int grp, float* col, Tiling t, ActC act, int nth) noexcept nogil:
    # group grp of x (C,H,W) * w (K,C/g,R,S) + b [+ res (K,P,Q)] -> y (K,P,Q); col: scratch of nth *
    # (C/g*R*S, t.cols) floats; nth > 1: the threads share the group's tiles (or GEMM)
    cdef int Cg = g.C // g.groups, Kg = g.K // g.groups, PQ = g.P * g.Q
    cdef int CRS = Cg * g.R * g.S, i, j0
    cdef const float* xg = x + <Py_ssize_t>grp * Cg * g.H * g.W
    cdef const float* bg = b + grp * Kg if b != NULL else NULL
    cdef float* yg = y + <Py_ssize_t>grp * Kg * PQ
    cdef const float* rg = res + <Py_ssize_t>grp * Kg * PQ if res != NULL else NULL
    if is_pointwise(g):
        group_gemm(W, g, grp, PQ, xg, PQ, yg, rg, PQ, bg, act, nth)
    elif t.n >= nth and nth > 1:
        for i in prange(t.n, num_threads=nth, schedule='dynamic'):
            j0 = i * t.cols
            conv_tile(xg, W, grp, bg, yg, rg, g, j0, min(t.cols, PQ - j0),
                      col + <Py_ssize_t>threadid() * CRS * t.cols, act, 1)
    else:
        for i in range(t.n):
            j0 = i * t.cols
            conv_tile(xg, W, grp, bg, yg, rg, g, j0, min(t.cols, PQ - j0), col, act, nth)


cdef void conv_image(const float* x, const Weights* W, const float* b, float* y, const float* res,
                     const Geom* g, float* col, Tiling t, ActC act, int nth) noexcept nogil:
    # x (C,H,W) * w (K,C/g,R,S) + b [+ res] -> y (K,P,Q); col: scratch of nth * (C/g*R*S, t.cols) floats;
    # as many groups as threads or more: each thread whole groups (one parallel region)
    cdef int grp, CRS = g.C // g.groups * g.R * g.S
    if nth > 1 and g.groups >= nth:
        for grp in prange(g.groups, num_threads=nth, schedule='dynamic'):
            conv_group(x, W, b, y, res, g, grp, col + <Py_ssize_t>threadid() * CRS * t.cols, t, act,
                       1)
    else:
        for grp in range(g.groups):
            conv_group(x, W, b, y, res, g, grp, col, t, act, nth)


cdef Py_ssize_t col_floats(const Geom* g, Tiling t, int nth) noexcept nogil:
    # scratch of conv_image: nth column tiles (none for a pointwise conv)
    return 0 if is_pointwise(g) else <Py_ssize_t>nth * g.C // g.groups * g.R * g.S * t.cols


_local = threading.local()


cdef float* scratch(Py_ssize_t n) except NULL:
    """This thread's scratch of at least n floats, shared by every conv it runs (one at a time): a
    planned conv keeps only its Winograd weights, not tens of MB of scratch per layer."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.shape[0] < n:
        buf = _local.buf = np.empty(max(n, 1), np.float32)
    cdef float[::1] v = buf
    return &v[0]


# Winograd F(m x m,3x3) for 3x3 convs of stride 1, dilation 1, one group: each output tile (m,m)
# is Aᵀ [Σ_c (G w Gᵀ) ⊙ (Bᵀ d B)] A over input tiles d (m+2,m+2); the sum over c is (m+2)² GEMMs
# (K,C)·(C,tiles). m = 2: 16 multiplications per 4 outputs and channel pair (im2col: 36); m = 4 (AVX-512, the
# transforms along a row in deepx_wino.h): 36 per 16, 2.25 an output, at 10x F(2x2)'s rounding error (relative
# 5e-6 against 3e-7 on a conv alone), for planes of WINO4_MIN_TILES 4x4 tiles or more

cdef enum:
    WINO_FLOATS = 1 << 19  # target scratch per block of tiles: v (E,C,T) + m (E,K,T)
    WINO_COLS = 128  # but at least this many tiles per block (columns of its GEMMs)
    WINO_MIN_TILES = 16  # with the packed GEMM, im2col up to this many tiles (8x8 outputs),
    WINO_MIN_C = 64  # and up to 196 tiles (28x28) with fewer input channels than this,
    WINO_MID_C = 128  # and up to 49 tiles (14x14) with fewer than this (measured in models, A/B in one process:
    # SqueezeNet's 64 -> 256 on 13x13 0.48 -> 0.32 ms at 1 thread, Inception v2's 96 -> 128 on 14x14 0.31 -> 0.28;
    # from 128 channels Winograd wins, 128 -> 160 on 14x14 0.30 -> 0.39 ms without it at 2 threads)
    # Without the packed GEMM (BLAS for both), im2col where Winograd's 2x2 tiles overhang the output by this many
    # percent or more (odd sides up to 13: 7x7 by 31%, 13x13 by 16%) and K >= 64 (measured on the AVX2 EPYC, alone,
    # 1 / 2 threads: SqueezeNet's 48 -> 192 on 13x13 1.19-1.30x / 1.27-1.42x faster, Inception v1's 192 -> 384 on
    # 7x7 1.23-1.29x / 1.24-1.31x, ResNet50's 512 -> 512 on 7x7 1.09-1.10x / 1.07-1.14x; DenseNet121's 128 -> 32 on
    # 7x7 0.80-0.91x, so K >= 64; Winograd stays on 14x14, Inception v2's 96 -> 128 0.83-0.95x with im2col. Whole
    # models, two executors alternating: SqueezeNet -2.8% / -3.9% time, Inception v2 -2.5% / -1.5%, Inception v1,
    # ResNet50 and AlexNet within ±2%)
    WINO_OVERHANG = 15
    # F(4x4,3x3) from this many 4x4 output tiles (28x28 outputs): below, its transformed weights (2.25x F(2x2)'s)
    # are read from memory for too few tiles each (measured in ResNet50, executors planned each way alternating, at 1
    # thread: its 256 -> 256 convs on 14x14 1.18-1.21 -> 1.61-1.73 ms, those on 28x28 1.28-1.32 -> 0.85, on 56x56
    # 1.37-1.44 -> 1.00-1.16). Alone, both alternating: 0.57-0.80x the time on 28x28 to 112x112 planes. Whole models
    # (medians, 1 / 2 threads): ResNet50 59.6 -> 55.8 / 34.5 -> 32.8 ms, Inception v2 31.4 -> 28.1 / 17.8 -> 17.1,
    # Inception v1 29.6 -> 27.1 / 18.4 -> 16.2, VGG19 218 -> 168 / 115 -> 88, DenseNet121 48.8 -> 46.5 / 29.7 -> 29.6,
    # SqueezeNet within noise
    WINO4_MIN_TILES = 49
    # products of at most this many columns (a block of 49 tiles: 14x14 outputs, or 28x28 at F(4x4,3x3)) on 8-row
    # panels (8 x 48 tiles: 11 loads a k step, the 12 x 32 ones 14). Measured on the AVX-512 Xeon: in a C program 256 x
    # 256 x 49 1.06x, 512 x 512 x 49 1.03x, 256 x 256 x 48 1.11x, wider products 0.98-1.01x; whole models, executors
    # planned each way in both orders, at 2 threads: ResNet50 -0.3% to -1.0% the time (four runs), VGG19 -1.8% /
    # -0.4%, Inception v2 -0.4% / -2.7%, Inception v1 -0.7% / +0.6%; ResNet50 at 1 thread -0.7% / -1.3%
    WINO_L3_COLS = 64


cdef struct Wino:
    int m, E  # output tiles (m,m): F(2x2,3x3) (m 2) or F(4x4,3x3) (m 4); E = (m+2)² matrices
    int TX, TY, rows, n  # tiles per row, tile rows, tile rows per block, blocks (0: not Winograd)
    Py_ssize_t su, sv, sm  # strides between the E matrices of u (K,C), v (C,T) and m (K,T)
    int level  # > 0: u's matrices packed for the GEMM kernel of this level (su apart), else plain
    int zrows  # output rows per block kept for a following 1x1 stage (0: none)
    Py_ssize_t block  # scratch floats per block: v, m, z (K, zrows, Q), then nth row scratches


cdef inline Py_ssize_t wino_stride(Py_ssize_t n):
    # >= n and 16 floats past a multiple of 4 KiB: the 16 matrices fall in different cache sets
    return n + (16 - n % 1024 + 1024) % 1024


cdef inline int wino_row_scratch(int TX, int m) noexcept nogil:
    # floats of row scratch a thread needs for the transforms of one row of TX tiles (F(2x2,3x3): input 5 rows of
    # 2TX + 2, output 14 rows of TX; F(4x4,3x3): input 7 rows of 4TX + 2, its output written in place)
    if m == 4:
        return 7 * (4 * TX + 2)
    return max(10 * TX + 10, 14 * TX)


cdef Wino wino_plan(const Geom* g, bint then_1x1, int nth):
    # blocks of whole tile rows, about WINO_FLOATS of scratch or WINO_COLS tiles each; when there are several, a
    # multiple of nth blocks as even as can be (at 1 thread too: ResNet50's 128 -> 128 on 28x28 as 7 + 7 tile rows,
    # not 10 + 4, 4-7% faster; VGG19 3% at 1 thread)
    cdef Wino p
    p.n = 0
    if not (g.R == 3 and g.S == 3 and g.sh == 1 and g.sw == 1 and g.dh == 1 and g.dw == 1
            and g.groups == 1):
        return p
    cdef int t2 = cdiv_up(g.Q, 2) * cdiv_up(g.P, 2)  # F(2x2,3x3)'s tiles
    if not deepx_gemm_isa() and g.K >= 64 and 4 * t2 * 100 >= (100 + WINO_OVERHANG) * g.P * g.Q:
        return p
    if deepx_gemm_isa() and (t2 <= WINO_MIN_TILES
                             or g.C < WINO_MIN_C and t2 <= 196
                             or g.C < WINO_MID_C and t2 <= 49):
        return p  # im2col + the packed GEMM: faster here (measured: weights from memory, few channels)
    p.m = 4 if deepx_vec_lanes() == 16 and cdiv_up(g.P, 4) * cdiv_up(g.Q, 4) >= WINO4_MIN_TILES else 2
    p.E = (p.m + 2) * (p.m + 2)
    p.TX, p.TY = cdiv_up(g.Q, p.m), cdiv_up(g.P, p.m)
    p.rows = min(p.TY, max(cdiv_up(WINO_COLS, p.TX), WINO_FLOATS // (p.E * (g.C + g.K) * p.TX)))
    p.n = cdiv_up(p.TY, p.rows)
    if p.n > 1:
        p.rows = cdiv_up(p.TY, cdiv_up(p.n, nth) * nth)
        p.n = cdiv_up(p.TY, p.rows)
    p.level = deepx_gemm_pick(deepx_gemm_isa(), g.K, g.C)
    if p.level == 2 and p.rows * p.TX <= WINO_L3_COLS:
        p.level = 3
    p.su = wino_stride(deepx_packed_floats(p.level, g.K, g.C) if p.level else <Py_ssize_t>g.K * g.C)
    p.sv = wino_stride(<Py_ssize_t>g.C * p.rows * p.TX)
    p.sm = wino_stride(<Py_ssize_t>g.K * p.rows * p.TX)
    p.zrows = p.m * p.rows if then_1x1 else 0
    p.block = p.E * (p.sv + p.sm) + <Py_ssize_t>g.K * p.zrows * g.Q + nth * wino_row_scratch(p.TX, p.m)
    return p


def winograd_products(int C, int H, int W, int K, int R, int S, int groups, stride, pads, dilation):
    """Multiplications per input and output channel pair of a conv of this geometry run as Winograd: (m+2)² per m x m
    output tile (F(2x2,3x3): 16 per 4 outputs, F(4x4,3x3): 36 per 16, against 9 an output); 0: it does not run
    Winograd."""
    cdef Geom g = geom(C, H, W, K, R, S, groups, stride, pads, dilation)
    cdef Wino p = wino_plan(&g, False, 1)
    return p.E * p.TX * p.TY if p.n else 0


cdef enum:
    WCHUNK = 128  # filters transformed per chunk (into a stack buffer, then copied out)


cdef inline void wino_g2(float a, float b, float c, float* o, Py_ssize_t s) noexcept nogil:
    # o[i*s] = (G (a,b,c))[i], i < 4, F(2x2,3x3)'s G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]
    o[0] = a
    o[s] = 0.5 * (a + b + c)
    o[2 * s] = 0.5 * (a - b + c)
    o[3 * s] = c


cdef inline void wino_g4(float a, float b, float c, float* o, Py_ssize_t s) noexcept nogil:
    # o[i*s] = (G (a,b,c))[i], i < 6, F(4x4,3x3)'s
    # G = [[¼,0,0],[-⅙,-⅙,-⅙],[-⅙,⅙,-⅙],[1/24,1/12,⅙],[1/24,-1/12,⅙],[0,0,1]]
    o[0] = a / 4
    o[s] = -(a + b + c) / 6
    o[2 * s] = -(a - b + c) / 6
    o[3 * s] = a / 24 + b / 12 + c / 6
    o[4 * s] = a / 24 - b / 12 + c / 6
    o[5 * s] = c


cdef void wino_weight_chunk(const float* f, Py_ssize_t n, float* u, Py_ssize_t su, int m) noexcept nogil:
    # n <= WCHUNK filters f (n,3,3) -> u[e*su + i] = (G f_i Gᵀ)[e], e < (m+2)², G F(m x m,3x3)'s (wino_g2, wino_g4)
    cdef float buf[36 * WCHUNK]
    cdef float t[18]  # G f (m+2,3)
    cdef Py_ssize_t k
    cdef int i, j, a = m + 2
    for k in range(n):
        for j in range(3):  # G down each column of f
            if m == 4:
                wino_g4(f[9 * k + j], f[9 * k + 3 + j], f[9 * k + 6 + j], t + j, 3)
            else:
                wino_g2(f[9 * k + j], f[9 * k + 3 + j], f[9 * k + 6 + j], t + j, 3)
        for i in range(a):  # then along each row of G f
            if m == 4:
                wino_g4(t[3 * i], t[3 * i + 1], t[3 * i + 2], buf + a * i * WCHUNK + k, WCHUNK)
            else:
                wino_g2(t[3 * i], t[3 * i + 1], t[3 * i + 2], buf + a * i * WCHUNK + k, WCHUNK)
    for i in range(a * a):
        memcpy(u + i * su, buf + i * WCHUNK, n * sizeof(float))


cdef void wino_weights(const float* w, int K, int C, float* u, Py_ssize_t su, int m,
                       int nth) noexcept nogil:
    # w (K,C,3,3) -> u ((m+2)²,K,C), matrices su apart
    cdef Py_ssize_t i, KC = <Py_ssize_t>K * C, n = cdiv_up(KC, WCHUNK)
    for i in prange(n, num_threads=nth, schedule='static', use_threads_if=KC * 16 >= PAR_MIN):
        wino_weight_chunk(w + i * WCHUNK * 9, min(WCHUNK, KC - i * WCHUNK), u + i * WCHUNK, su, m)


cdef inline void col_diff(const float* a, const float* b, float* o, int n, float sb) noexcept nogil:
    # o = a + sb * b over n floats (sb = +-1): one step of Bᵀ d, vectorized
    cdef int j
    for j in range(n):
        o[j] = a[j] + sb * b[j]


cdef void wino_tile_rows(const float* x, const Geom* g, int h0, int n, int Wt, float* rows, const float** d,
                         int lo, int hi) noexcept nogil:
    # the n input rows h0.. of a row of tiles in one channel x (H,W): d[i] = row h0 + i from column lo (rows outside x:
    # the zero row at rows + n*Wt); the n scratch rows of Wt floats at rows get zeros left and right of x's columns
    # [lo, hi)
    cdef int i, ih
    cdef Py_ssize_t j
    cdef float* zero = rows + n * Wt
    cdef float* r
    for i in range(n):
        ih = h0 + i
        if ih < 0 or ih >= g.H:
            memset(zero, 0, Wt * sizeof(float))
            d[i] = zero
        else:
            d[i] = x + <Py_ssize_t>ih * g.W + lo - g.pl
    for i in range(n):
        r = rows + i * Wt
        for j in range(lo):  # a column or two: no memset call
            r[j] = 0.0
        for j in range(hi, Wt):
            r[j] = 0.0


cdef void wino_input_row(const float* x, const Geom* g, int ty, int TX, float* rows, float* v,
                         Py_ssize_t es) noexcept nogil:
    # tile row ty of one channel x (H,W) -> v[e*es + tx] = (Bᵀ d B)[e], tiles d (4,4) at
    # (2ty - pt, 2tx - pl), zeros outside x; rows: scratch (5, 2TX+2), Bᵀ d then a zero row
    cdef int Wt = 2 * TX + 2, i, lo = min(g.pl, Wt), hi = max(lo, min(Wt, g.pl + g.W))
    cdef Py_ssize_t j
    cdef const float* d[4]  # the tile row's four input rows from column lo (zeros: outside x)
    cdef float* r
    cdef float* o
    wino_tile_rows(x, g, 2 * ty - g.pt, 4, Wt, rows, d, lo, hi)
    # Bᵀ d down the columns, read straight from x
    col_diff(d[0], d[2], rows + lo, hi - lo, -1.0)
    col_diff(d[1], d[2], rows + Wt + lo, hi - lo, 1.0)
    col_diff(d[2], d[1], rows + 2 * Wt + lo, hi - lo, -1.0)
    col_diff(d[1], d[3], rows + 3 * Wt + lo, hi - lo, -1.0)
    if deepx_vec_lanes():  # with AVX-512 16 tiles a step, with AVX2 8
        (deepx_wino2_in if deepx_vec_lanes() == 16 else deepx_wino2_in8)(rows, Wt, TX, v, es)
        return
    for i in range(4):  # (Bᵀ d) B along the rows
        r = rows + i * Wt
        o = v + 4 * i * es
        for j in range(TX):
            o[j] = r[2 * j] - r[2 * j + 2]
            o[es + j] = r[2 * j + 1] + r[2 * j + 2]
            o[2 * es + j] = r[2 * j + 2] - r[2 * j + 1]
            o[3 * es + j] = r[2 * j + 1] - r[2 * j + 3]


cdef void wino_input_row4(const float* x, const Geom* g, int ty, int TX, float* rows, float* v,
                          Py_ssize_t es) noexcept nogil:
    # F(4x4,3x3): tile row ty of one channel x (H,W) -> v[e*es + tx] = (Bᵀ d B)[e], e < 36, tiles d (6,6) at
    # (4ty - pt, 4tx - pl), zeros outside x; rows: scratch (7, 4TX+2), Bᵀ d then a zero row;
    # Bᵀ = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
    cdef int Wt = 4 * TX + 2, lo = min(g.pl, Wt), hi = max(lo, min(Wt, g.pl + g.W))
    cdef const float* d[6]  # the tile row's six input rows from column lo (zeros: outside x)
    wino_tile_rows(x, g, 4 * ty - g.pt, 6, Wt, rows, d, lo, hi)
    deepx_wino4_cols(d, hi - lo, rows + lo, Wt)  # Bᵀ d down the columns, read straight from x
    deepx_wino4_in(rows, Wt, TX, v, es)  # (Bᵀ d) B along the rows


cdef void wino_output_row4(const float* m, Py_ssize_t es, int TX, float* y, int nr, int Q, float bias,
                           ActC act) noexcept nogil:
    # F(4x4,3x3): m[e*es + tx], e < 36 -> y (nr <= 4, Q) = act(Aᵀ m A + bias) for a row of output tiles,
    # Aᵀ = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]]: the bias and a clamp in deepx_wino4_out's
    # stores, another activation in a pass over the rows after (measured against writing lines to scratch and an
    # affine_act pass, both alternating: VGG19 170.3 -> 168.0 ms, ResNet50 and Inception v2 0.1-0.3% at 1 thread)
    cdef bint clip = act.kind == CLIP
    deepx_wino4_out(m, es, TX, y, Q, nr, Q, bias, act.lo if clip else -INFINITY, act.hi if clip else INFINITY)
    act_after_clamp(y, nr, Q, act)


cdef inline void act_after_clamp(float* y, int nr, int Q, ActC act) noexcept nogil:
    # y (nr, Q) = act(y) after a kernel that clamped in its stores: an activation other than a clamp, in a pass
    cdef int i
    for i in range(nr if act.kind != CLIP and act.kind != NONE else 0):
        affine_act(y + i * Q, y + i * Q, Q, 1.0, 0.0, act)


cdef void wino_output_row(const float* m, Py_ssize_t es, int TX, float* rows, float* y, int nr,
                          int Q, float bias, ActC act) noexcept nogil:
    # m[e*es + tx], e < 16 -> y (nr <= 2, Q) = act(Aᵀ m A + bias) for a row of output tiles,
    # Aᵀ = [[1,1,1,0],[0,1,-1,-1]]; rows: scratch (14, TX). AVX-512 / AVX2: deepx_wino2_out / _out8 (measured
    # alone, both ways alternating: ResNet50's 256 x 14x14 conv 1.15x as fast at 1 thread with deepx_wino2_in, 1.29x
    # at 2)
    cdef Py_ssize_t j
    cdef int i, c
    cdef float* s = rows  # (2, 4, TX): Aᵀ m, the tiles' (2,4) one after the other
    cdef float* o = rows + 8 * TX  # (2, 2, TX): Aᵀ m A
    cdef float* line = rows + 12 * TX  # (2TX): one output row
    cdef const float* m0
    cdef float* si
    cdef bint clip = act.kind == CLIP
    if deepx_vec_lanes():  # the bias and a clamp in deepx_wino2_out's stores, another activation in a pass after
        (deepx_wino2_out if deepx_vec_lanes() == 16 else deepx_wino2_out8)(
            m, es, TX, y, Q, nr, Q, bias, act.lo if clip else -INFINITY, act.hi if clip else INFINITY)
        act_after_clamp(y, nr, Q, act)
        return
    for c in range(4):  # few pointers per loop, so that each is vectorized
        m0 = m + c * es
        for j in range(TX):
            s[c * TX + j] = m0[j] + m0[4 * es + j] + m0[8 * es + j]
            s[(4 + c) * TX + j] = m0[4 * es + j] - m0[8 * es + j] - m0[12 * es + j]
    for i in range(2):
        si = s + 4 * i * TX
        for j in range(TX):
            o[2 * i * TX + j] = si[j] + si[TX + j] + si[2 * TX + j]
            o[(2 * i + 1) * TX + j] = si[TX + j] - si[2 * TX + j] - si[3 * TX + j]
    for i in range(nr):
        for j in range(TX):
            line[2 * j] = o[2 * i * TX + j]
            line[2 * j + 1] = o[(2 * i + 1) * TX + j]
        affine_act(line, y + i * Q, Q, 1.0, bias, act)


cdef void wino_block(const float* x, const float* u, const float* w2, int K2, const float* b,
                     float* y, const Geom* g, const Wino* p, int ty0, int ty1, float* buf,
                     ActC act, int nth) noexcept nogil:
    # tile rows ty0 .. ty1: x (C,H,W) * u (16,K,C) -> z (K, output rows of the block);
    # y (K,P,Q) = act(z + b), or with w2 (K2,K): y (K2,P,Q) = act(w2 · z + b); buf: p.block
    # floats, v (16,C,T) and m (16,K,T) for the T tiles, z, then nth row scratches;
    # nth > 1: the threads share each step
    cdef int n = ty1 - ty0, T = n * p.TX, C = g.C, K = g.K, Q = g.Q, ci, e, ki, part, lo, hi, M = p.m
    cdef int r0 = M * ty0, nr = min(g.P, M * ty1) - r0, RW = wino_row_scratch(p.TX, M)
    cdef int parts = min(nth, K2)  # blocks of w2's rows; each reads all of z
    cdef Py_ssize_t HW = <Py_ssize_t>g.H * g.W, PQ = <Py_ssize_t>g.P * Q, NZ = <Py_ssize_t>nr * Q
    cdef float* v = buf
    cdef float* m = v + p.E * p.sv
    cdef float* z = m + p.E * p.sm
    cdef float* rows = z + (K * p.zrows * Q if w2 != NULL else 0)
    with parallel(num_threads=nth, use_threads_if=nth > 1):
        for ci in prange(C * n, schedule='static'):
            if M == 4:
                wino_input_row4(x + ci // n * HW, g, ty0 + ci % n, p.TX, rows + threadid() * RW,
                                v + ci * p.TX, p.sv)
            else:
                wino_input_row(x + ci // n * HW, g, ty0 + ci % n, p.TX, rows + threadid() * RW,
                               v + ci * p.TX, p.sv)
        for e in prange(p.E, schedule='dynamic'):
            if p.level:
                deepx_gemm_packed(p.level, K, T, C, u + e * p.su, v + e * p.sv, T, m + e * p.sm, NULL, T,
                                  NULL, 0, 0.0, 0.0)
            else:
                gemm(False, False, K, T, C, u + e * p.su, C, v + e * p.sv, T, 0.0, m + e * p.sm, T)
        for ki in prange(K * n, schedule='static'):
            if M == 4 and w2 == NULL:
                wino_output_row4(m + ki * p.TX, p.sm, p.TX, y + ki // n * PQ + (r0 + 4 * (ki % n)) * Q,
                                 min(4, nr - 4 * (ki % n)), Q, b[ki // n] if b != NULL else 0.0,
                                 act)
            elif M == 4:
                wino_output_row4(m + ki * p.TX, p.sm, p.TX, z + ki // n * NZ + 4 * (ki % n) * Q,
                                 min(4, nr - 4 * (ki % n)), Q, 0.0, IDENT)
            elif w2 == NULL:
                wino_output_row(m + ki * p.TX, p.sm, p.TX, rows + threadid() * RW,
                                y + ki // n * PQ + (r0 + 2 * (ki % n)) * Q,
                                min(2, nr - 2 * (ki % n)), Q, b[ki // n] if b != NULL else 0.0,
                                act)
            else:
                wino_output_row(m + ki * p.TX, p.sm, p.TX, rows + threadid() * RW,
                                z + ki // n * NZ + 2 * (ki % n) * Q, min(2, nr - 2 * (ki % n)),
                                Q, 0.0, IDENT)
        for part in prange(parts if w2 != NULL else 0, schedule='dynamic'):
            lo = <long>K2 * part // parts
            hi = <long>K2 * (part + 1) // parts
            gemm(False, False, hi - lo, NZ, K, w2 + lo * K, K, z, NZ, 0.0,
                 y + lo * PQ + r0 * Q, PQ)
            bias_act_rows(y + lo * PQ + r0 * Q, hi - lo, NZ, PQ, b + lo if b != NULL else NULL,
                          act)


cdef void wino_image(const float* x, const float* u, const float* w2, int K2, const float* b,
                     float* y, const Geom* g, const Wino* p, float* buf, ActC act,
                     int nth) noexcept nogil:
    # x (C,H,W) * u (16,K,C) [then w2 (K2,K) ·] + b -> y (K or K2,P,Q); buf: nth blocks' scratch
    # (each thread whole blocks when there are enough, else all threads in each block)
    cdef int i
    if p.n >= nth > 1:
        for i in prange(p.n, num_threads=nth, schedule='dynamic'):
            wino_block(x, u, w2, K2, b, y, g, p, i * p.rows, min(p.TY, (i + 1) * p.rows),
                       buf + threadid() * p.block, act, 1)
    else:
        for i in range(p.n):
            wino_block(x, u, w2, K2, b, y, g, p, i * p.rows, min(p.TY, (i + 1) * p.rows), buf,
                       act, nth)


# Direct convs (stride 1 or 2, one group, with the packed GEMM): an implicit GEMM over the input copied once onto a
# grid (padded; at stride 2 split into its 4 phases, even and odd rows by even and odd columns, so that a stride-2
# window reads each phase at stride 1), each weight's tap read in place (deepx_gemm_implicit); outputs on the grid
# (Wv wide, a block of rows at a time) then kept (Q of each Wv): no im2col matrix, and none of Winograd's
# transforms, which cost more than they save on few channels

cdef enum:
    # measured against Winograd and im2col (AMD EPYC, 1 and 2 threads): 3x3 / 1 convs of 16-48 input channels
    # 1.1-1.6x faster while the scratch stays in L2, slower with 64 channels on 28x28 or more or past L2 (32->64 on
    # 80x80: 0.8x); at stride 2 the 7x7 stems 1.17x against im2col. deepx_bcast.h's lanes now take those of 64
    # output channels or more, and at stride 2 those of 64 taps or more (ResNet50's stem): stride 2 here is a window
    # of 25 taps or more on one or two channels
    DIRECT_MAX_C = 48  # stride 1: input channels up to this
    DIRECT_FLOATS = 1 << 18  # stride 1: scratch up to this
    DIRECT_X_FLOATS = 1 << 19  # stride 2 (windows of 25 taps or more): the input's grid up to this
    DIRECT_Z_FLOATS = 1 << 17  # outputs on the grid: rows of them up to this at a time


cdef inline int direct_wv(const Geom* g) noexcept nogil:
    # the grid's width: the outputs' plus the window's reach
    return g.Q + (g.S - 1) // g.sw


cdef inline int direct_hv(const Geom* g) noexcept nogil:
    return g.P + (g.R - 1) // g.sh


cdef inline int direct_rows(const Geom* g) noexcept nogil:
    # output rows per block
    return max(1, min(g.P, DIRECT_Z_FLOATS // (g.K * direct_wv(g))))


cdef inline Py_ssize_t direct_xfloats(const Geom* g) noexcept nogil:
    # the input's grid: C * stride² planes (Hv, Wv)
    return <Py_ssize_t>g.C * g.sh * g.sw * direct_hv(g) * direct_wv(g)


cdef Py_ssize_t direct_floats(const Geom* g) noexcept nogil:
    # scratch of direct_image: the input's grid, then a block of outputs (K, rows * Wv)
    return direct_xfloats(g) + <Py_ssize_t>g.K * direct_rows(g) * direct_wv(g)


cdef bint direct_pays(const Geom* g) noexcept nogil:
    if not (deepx_gemm_isa() != 0 and g.groups == 1 and g.sh == g.sw and g.dh == 1 and g.dw == 1
            and g.R * g.S > 1):
        return False
    if g.sh == 1:
        return g.C <= DIRECT_MAX_C and direct_floats(g) <= DIRECT_FLOATS
    return g.sh == 2 and g.R * g.S >= 25 and direct_xfloats(g) <= DIRECT_X_FLOATS


cdef object direct_offsets(const Geom* g):
    # off (C*R*S + 4): weight (c, r, s)'s tap in the input's grid, then 4 copies of the last (for the prefetches)
    cdef int st = g.sh, n = g.C * g.R * g.S, i, c, r, s
    cdef Py_ssize_t plane = <Py_ssize_t>direct_hv(g) * direct_wv(g)
    off = np.empty(n + 4, np.intc)
    cdef int[::1] o = off
    for i in range(n):
        c, r, s = i // (g.R * g.S), i // g.S % g.R, i % g.S
        o[i] = ((c * st + r % st) * st + s % st) * plane + r // st * direct_wv(g) + s // st
    for i in range(n, n + 4):
        o[i] = o[n - 1]
    return off


cdef void grid_plane(const float* x, int H, int W, int t, int l, int st, float* dst, int Hv,
                     int Wv) noexcept nogil:
    # dst (Hv,Wv) = x[st*i - t, st*j - l], 0 outside x (H,W): a row at a time, no test per element (the 7x7 / 2
    # stems of ResNet50, Inception v1 and DenseNet121 1.5-2.5% faster than with one)
    cdef int i, h, lo, hi
    if st == 1 and t >= 0 and l >= 0:
        pad_plane(x, H, W, t, l, dst, Hv, Wv)
        return
    span(Wv, st, -l, W, &lo, &hi)
    for i in range(Hv):
        h = st * i - t
        if h < 0 or h >= H:
            memset(dst + <Py_ssize_t>i * Wv, 0, Wv * sizeof(float))
        else:
            gather_row(dst + <Py_ssize_t>i * Wv, x + <Py_ssize_t>h * W - l, Wv, lo, hi, st)


cdef void direct_image(const float* x, const Weights* W, const int* off, const float* b, float* y,
                       const Geom* g, float* buf, ActC act, int nth) noexcept nogil:
    # x (C,H,W) * w (K,C,R,S) + b -> y (K,P,Q), stride 1 or 2: x onto its grid in buf, then by blocks of output
    # rows the implicit GEMM into z (K, rows*Wv), threads sharing its columns (the last needed: n), or its panels
    # of rows when the columns are few, and y keeps the Q of each Wv
    cdef int st = g.sh, Hv = direct_hv(g), Wv = direct_wv(g), rows = direct_rows(g), CRS = g.C * g.R * g.S
    cdef int mr = deepx_gemm_mr(W.level), panels = cdiv_up(g.K, mr)
    cdef int pl, n, parts, part, lo, hi, k, p, p0, p1
    cdef bint cols
    cdef Py_ssize_t HvWv = <Py_ssize_t>Hv * Wv, ldz = <Py_ssize_t>rows * Wv
    cdef float* xv = buf
    cdef float* z = buf + direct_xfloats(g)
    cdef bint clip = act.kind == CLIP
    for pl in prange(g.C * st * st, num_threads=nth, schedule='static', use_threads_if=nth > 1):
        grid_plane(x + pl // (st * st) * <Py_ssize_t>g.H * g.W, g.H, g.W, g.pt - pl // st % st, g.pl - pl % st,
                   st, xv + pl * HvWv, Hv, Wv)
    p0 = 0
    while p0 < g.P:
        p1 = min(g.P, p0 + rows)
        n = (p1 - p0 - 1) * Wv + g.Q
        cols = n >= 96 * nth
        parts = 1 if nth == 1 else min(nth, cdiv_up(n, 96) if cols else panels)
        for part in prange(parts, num_threads=nth, schedule='dynamic', use_threads_if=parts > 1):
            if cols:
                lo = <long>n * part // parts // 96 * 96
                hi = n if part == parts - 1 else <long>n * (part + 1) // parts // 96 * 96
                deepx_gemm_implicit(W.level, g.K, hi - lo, CRS, W.packed, xv + <Py_ssize_t>p0 * Wv + lo, off,
                                    z + lo, ldz, b, clip, act.lo, act.hi)
            else:
                lo = panels * part // parts * mr
                hi = min(g.K, panels * (part + 1) // parts * mr)
                deepx_gemm_implicit(W.level, hi - lo, n, CRS, W.packed + <Py_ssize_t>lo * CRS,
                                    xv + <Py_ssize_t>p0 * Wv, off, z + lo * ldz, ldz,
                                    b + lo if b != NULL else NULL, clip, act.lo, act.hi)
        for k in prange(g.K, num_threads=nth, schedule='static', use_threads_if=nth > 1):
            for p in range(p0, p1):
                if clip or act.kind == NONE:
                    memcpy(y + (<Py_ssize_t>k * g.P + p) * g.Q, z + k * ldz + (p - p0) * Wv, g.Q * sizeof(float))
                else:
                    affine_act(z + k * ldz + (p - p0) * Wv, y + (<Py_ssize_t>k * g.P + p) * g.Q, g.Q, 1.0, 0.0,
                               act)
        p0 = p1


# Convs with the output channels in the vector lanes (deepx_bcast.h), for strided convs, the stride-1 ones of 64
# output channels or more that the direct path would take, and those Winograd does not take: each input value
# broadcast to 16 channels, read from a zero-padded copy of the input (or in place), so a stride costs nothing: no
# im2col matrix, no grid of phases. Measured (AMD EPYC Zen 5, two executors of one model in one process, 1 / 2
# threads): ResNet50 1.8% / 3.5% faster (its 3x3/2 convs 0.3-0.7 ms each at 1 thread, the 7x7/2 stem 0.17 ms),
# DenseNet121 0 / 4.4%, AlexNet 1.1% / 2.8%; the stride-1 convs Winograd does not take, Inception v2 1.9% / 1.6%,
# SqueezeNet 1.0% / 3.2% more (its 3x3 convs on 13x13); those over the direct path, SqueezeNet 3.0% / 3.4%,
# Inception v1 1.3% / 4.4% more (with fewer output channels the direct path stays: YOLOv8n's 16 -> 16 3x3 on 80x80
# 0.35 ms against 0.53)

cdef enum:
    # fewer taps (C*R*S) stay on im2col: the tiles' way out (stores, transposes) weighs on too few FMAs (measured in
    # models: MobileNetV2's 3 -> 32 3x3/2 stem 0.39 ms against 0.35, SqueezeNet's 3 -> 64 0.67 against 0.52)
    BCAST_MIN_TAPS = 64


cdef inline bint bcast_in_place(const Geom* g) noexcept nogil:
    # no window reaches past x (no padding at the top and left, none read at the bottom and right): read x in place
    return (g.pt == 0 and g.pl == 0 and (g.P - 1) * g.sh + (g.R - 1) * g.dh < g.H
            and (g.Q - 1) * g.sw + (g.S - 1) * g.dw < g.W)


cdef inline int bcast_hp(const Geom* g) noexcept nogil:
    # rows of the input as read: x's, or the padded copy's (what the windows reach, and all of x below the top padding)
    return g.H if bcast_in_place(g) else max((g.P - 1) * g.sh + (g.R - 1) * g.dh + 1, g.H + g.pt)


cdef inline int bcast_wp(const Geom* g) noexcept nogil:
    return g.W if bcast_in_place(g) else max((g.Q - 1) * g.sw + (g.S - 1) * g.dw + 1, g.W + g.pl)


cdef Py_ssize_t bcast_xfloats(const Geom* g) noexcept nogil:
    return 0 if bcast_in_place(g) else <Py_ssize_t>g.C * bcast_hp(g) * bcast_wp(g)


cdef inline int bcast_pix(const Geom* g, int nth) noexcept nogil:
    # output pixels an item: DEEPX_BC_PIX, more for few taps (about DEEPX_BC_T taps' worth, at most 8 times) while
    # each thread keeps 4 items or more: longer runs of each output row (measured on ResNet50's 7x7/2 stem, 147 taps,
    # in the model: 576 pixels against 96 1.53 -> 1.43 ms at 1 thread, 0.75 -> 0.70 at 2; 288 or 1152: no better)
    cdef int items = cdiv_up(g.K, DEEPX_BC_K) * (g.P * g.Q) // (4 * nth * DEEPX_BC_PIX)
    return DEEPX_BC_PIX * max(1, min(8, min(DEEPX_BC_T // (g.C * g.R * g.S), items)))


cdef Py_ssize_t bcast_floats(const Geom* g, int nth) noexcept nogil:
    # scratch of bcast_image: the padded input (if any), then each thread's tile buffer (bcast_pix x DEEPX_BC_K)
    return bcast_xfloats(g) + <Py_ssize_t>nth * bcast_pix(g, nth) * DEEPX_BC_K


cdef bint bcast_fits(const Geom* g) noexcept nogil:
    # a conv the kernel takes: AVX-512, one group, a window of more than one tap, enough taps
    return (deepx_gemm_isa() != 0 and g.groups == 1 and g.R * g.S > 1 and g.C * g.R * g.S >= BCAST_MIN_TAPS)


cdef tuple bcast_offsets(const Geom* g):
    # toff (C*R*S): tap (c, r, s)'s offset in the padded input; po (P*Q): output pixel (p, q)'s window's corner
    cdef Py_ssize_t Hp = bcast_hp(g), Wp = bcast_wp(g)
    c, r, s = np.meshgrid(np.arange(g.C), np.arange(g.R), np.arange(g.S), indexing="ij")
    p, q = np.meshgrid(np.arange(g.P), np.arange(g.Q), indexing="ij")
    return ((c * Hp * Wp + r * g.dh * Wp + s * g.dw).ravel().astype(np.intc),
            (p * g.sh * Wp + q * g.sw).ravel().astype(np.intc))


cdef void bcast_image(const float* x, const float* wp, const int* toff, const int* po, const float* b, float* y,
                      const float* res, const Geom* g, float* buf, ActC act, int nth) noexcept nogil:
    # x (C,H,W) * w (K,C,R,S) (wp: packed by deepx_bc_pack) + b [+ res] -> y (K,P,Q): x read in place or padded
    # into buf, then items of bcast_pix output pixels by DEEPX_BC_K channels shared by the threads; an activation
    # other than a clamp in a pass after
    cdef int Hp = bcast_hp(g), Wp = bcast_wp(g), PQ = g.P * g.Q, T = g.C * g.R * g.S
    cdef int pix = bcast_pix(g, nth)
    cdef int nk = cdiv_up(g.K, DEEPX_BC_K), items = cdiv_up(PQ, pix) * nk, it, j0, c, k
    cdef float* tiles = buf + bcast_xfloats(g)
    cdef const float* xp = x if bcast_in_place(g) else buf
    cdef bint clip = act.kind == CLIP
    if xp == buf:
        for c in prange(g.C, num_threads=nth, schedule='static', use_threads_if=nth > 1):
            pad_plane(x + <Py_ssize_t>c * g.H * g.W, g.H, g.W, g.pt, g.pl, buf + <Py_ssize_t>c * Hp * Wp, Hp, Wp)
    for it in prange(items, num_threads=nth, schedule='dynamic', use_threads_if=nth > 1):
        j0 = it // nk * pix
        deepx_bc_item(g.K, T, wp, xp, toff, po, j0, min(pix, PQ - j0), it % nk * DEEPX_BC_K, y, res, PQ,
                      b, clip, act.lo, act.hi, tiles + <Py_ssize_t>threadid() * pix * DEEPX_BC_K)
    if not clip and act.kind != NONE:
        for k in prange(g.K, num_threads=nth, schedule='static', use_threads_if=nth > 1):
            affine_act(y + <Py_ssize_t>k * PQ, y + <Py_ssize_t>k * PQ, PQ, 1.0, 0.0, act)


cdef void add_residual(float* y, const float* res, Py_ssize_t n, ActC act, int nth) noexcept nogil:
    # y (n) = act(y + res), in parts of 16384 floats shared by the threads; nothing when res is NULL
    cdef Py_ssize_t part, i, lo, hi, size = 1 << 14, parts = cdiv_up(n, size)
    if res == NULL:
        return
    for part in prange(parts, num_threads=nth, schedule='static', use_threads_if=nth > 1 and parts > 1):
        lo = part * size
        hi = min(n, lo + size)
        for i in range(lo, hi):
            y[i] = y[i] + res[i]
        affine_act(y + lo, y + lo, hi - lo, 1.0, 0.0, act)


cdef class Conv:
    """A k x k conv stage, optionally followed by a 1x1 one: geometry, plan (Winograd, channels in lanes, direct
    or im2col tiles) and the Winograd weights; its scratch (`floats` of it) is the calling thread's."""
    cdef Geom g
    cdef Tiling t
    cdef Wino p
    cdef int nth, K2
    cdef const float[:, :, :, ::1] w, w2v
    cdef const float* w2  # w2v's data, NULL without a 1x1 stage
    cdef float[::1] u  # Winograd: u (16,K,C), matrices p.su apart (packed when p.level)
    cdef float[::1] packed  # im2col and direct: the weights packed for the GEMM kernel (when the CPU has one); bcast:
                            # by deepx_bc_pack
    cdef Weights W
    cdef int[::1] off  # direct: each weight's tap in the input's grid (direct_offsets); empty otherwise
    cdef int[::1] toff, po  # bcast: the taps' and output pixels' offsets in the input as read (bcast_offsets)
    cdef bint bc  # the channels in lanes (deepx_bcast.h)
    cdef Py_ssize_t floats  # scratch: Winograd blocks, the lanes' padded input and tiles, the direct grids, or column
                            # tiles [+ the 1x1 stage's input]

    cdef void image(self, const float* x, const float* b, float* y, const float* res, ActC act,
                    float* buf) noexcept nogil:
        # x (C,H,W) * w (K,C/g,R,S) [then w2 (K2,K) ·] + b [+ res, laid out as y] -> y (K or K2,P,Q); buf:
        # scratch. The GEMM and lanes paths add res in their kernels' registers, Winograd and direct after
        cdef int PQ = self.g.P * self.g.Q
        cdef float* mid
        cdef ActC first = act if res == NULL else IDENT  # the activation of a pass the residual comes after
        if self.p.n:
            wino_image(x, &self.u[0], self.w2, self.K2, b, y, &self.g, &self.p, buf, first, self.nth)
            add_residual(y, res, <Py_ssize_t>(self.K2 if self.w2 != NULL else self.g.K) * PQ, act, self.nth)
        elif self.bc:
            bcast_image(x, &self.packed[0], &self.toff[0], &self.po[0], b, y, res, &self.g, buf, act, self.nth)
        elif self.off.shape[0]:
            direct_image(x, &self.W, &self.off[0], b, y, &self.g, buf, first, self.nth)
            add_residual(y, res, <Py_ssize_t>self.g.K * PQ, act, self.nth)
        elif self.w2 == NULL:
            conv_image(x, &self.W, b, y, res, &self.g, buf, self.t, act, self.nth)
        else:  # the k x k stage into mid (K,P,Q), after the column tiles
            mid = buf + col_floats(&self.g, self.t, self.nth)
            conv_image(x, &self.W, NULL, mid, NULL, &self.g, buf, self.t, IDENT, self.nth)
            gemm_parts(self.K2, PQ, self.g.K, self.w2, self.g.K, mid, PQ, y, res, PQ, b, act,
                       self.nth)


cdef enum:
    # at 2 threads or more, Winograd's 3x3 convs of few channels (C*K/(C+K) <= this) and 50-196 output tiles (up to
    # 28x28) run on the lanes: each thread its own items, where Winograd's one block is shared step by step
    # (measured, two executors alternating: Inception v2 0.7-2.8% faster at 2 threads, DenseNet121 and Inception v1
    # within 0.5%; with ResNet50's 56x56 ones too, ResNet50 0.2-1.7% slower)
    LANES_FEW_CK = 40


cdef enum Path:
    LANES, DIRECT, WINOGRAD, TILES  # the channels in lanes, direct, Winograd, im2col tiles (or a 1x1 GEMM)


cdef Path stage_path(const Geom* g, bint then_1x1, int nth):
    # the path a conv stage of geometry g [followed by a 1x1 stage] takes on nth threads
    cdef bint lanes = not then_1x1 and bcast_fits(g)
    if lanes and (g.sh > 1 or g.sw > 1 or g.K >= DEEPX_BC_K and direct_pays(g)):
        return LANES
    if not then_1x1 and direct_pays(g):
        return DIRECT
    if wino_plan(g, then_1x1, 1).n and not (lanes and nth > 1 and g.C * g.K <= LANES_FEW_CK * (g.C + g.K)
                                             and 49 < cdiv_up(g.P, 2) * cdiv_up(g.Q, 2) <= 196):
        return WINOGRAD
    return LANES if lanes else TILES  # the lanes: what im2col would take at stride 1


def conv2d_over_residual(shapes, stride, pads, dilation, int groups, act=None):
    """Whether conv2d of these shapes (x, w, b, z) may write its output over its residual z (one buffer) at any
    thread count: its kernel reads each residual value before it writes that output (the channels in lanes; the
    packed GEMM in one k block, AVX2's lanes GEMM in any), where Winograd and the direct path add the residual after
    and BLAS writes first."""
    (N, C, H, W), (K, Cg, R, S) = shapes[0], shapes[1]
    cdef Geom g = geom(C, H, W, K, R, S, groups, stride, pads, dilation)
    cdef int level = gemm_level(&g)
    cdef bint gemm = level == 4 or level != 0 and Cg * R * S <= DEEPX_KC  # level 4: its k blocks' sums aside
    cdef Path path
    for nth in (1, 2):  # the paths at 1 and at 2+ threads
        path = stage_path(&g, False, nth)
        if not (path == LANES or path == TILES and gemm):
            return False
    return True


cdef Conv conv_stage(Geom g, const float[:, :, :, ::1] w, const float[:, :, :, ::1] w2,
                     int nth):
    """Plan a conv stage of geometry g, weights w and optional 1x1 weights w2 (K2,K,1,1) on nth
    threads (Winograd weights made here)."""
    cdef Conv c = Conv.__new__(Conv)
    cdef Path path = stage_path(&g, w2 is not None, nth)
    cdef bint bc = path == LANES, direct = path == DIRECT
    if path == WINOGRAD:  # else c.p stays zero
        c.p = wino_plan(&g, w2 is not None, nth)
    c.g, c.w, c.nth, c.bc = g, w, nth, bc
    c.w2v, c.w2, c.K2 = w2, NULL, 0
    if w2 is not None:
        c.w2, c.K2 = &w2[0, 0, 0, 0], w2.shape[0]
    cdef float[::1] u
    cdef int e
    c.off = np.empty(0, np.intc)
    if c.p.n:
        c.u = np.empty(c.p.E * c.p.su, np.float32)
        c.floats = nth * c.p.block
        u = c.u if not c.p.level else np.empty(c.p.E * <Py_ssize_t>g.K * g.C, np.float32)
        with nogil:
            wino_weights(&w[0, 0, 0, 0], g.K, g.C, &u[0],
                         <Py_ssize_t>g.K * g.C if c.p.level else c.p.su, c.p.m, nth)
            for e in range(c.p.E if c.p.level else 0):
                deepx_pack_a(c.p.level, g.K, g.C, &u[0] + e * <Py_ssize_t>g.K * g.C, g.C,
                             &c.u[0] + e * c.p.su)
    elif bc:
        c.toff, c.po = bcast_offsets(&g)
        c.floats = bcast_floats(&g, nth)
        c.packed = np.empty(deepx_bc_floats(g.K, g.C * g.R * g.S), np.float32)
        with nogil:
            deepx_bc_pack(g.K, g.C * g.R * g.S, &w[0, 0, 0, 0], &c.packed[0])
    elif direct:
        c.off = direct_offsets(&g)
        c.floats = direct_floats(&g)
        pack_weights(c)
    else:
        c.t = tiling(&g, nth)
        c.floats = col_floats(&g, c.t, nth) + (<Py_ssize_t>g.K * g.P * g.Q if w2 is not None else 0)
        pack_weights(c)
    return c


cdef enum:
    # AVX2's GEMM with the output channels in the lanes (level 4) over BLAS for convs on up to SMALL_PQ output
    # pixels, up to MID_PQ where a group's weights are at most MID_W floats, with at most 1/16 of its panels padding
    # (16 rows, the last of 8 where 8 are enough). Measured on the AVX2 EPYC, two executors alternating, 1 / 2
    # threads: MobileNetV2 -8.0% / -7.1% time, ResNet50 -3.9% / -4.0%, SqueezeNet -2.2% / -1.6%, ShuffleNet (68 and
    # 136 rows a group: the 8-row panels) -4.6% / -3.2%; alone, against OpenBLAS + the bias pass: 1x1 convs on 7x7
    # 1.09-1.23x / 0.99-1.10x, on 14x14 1.04-1.10x / 0.91-1.19x; ResNet50's on 28x28 0.88-0.95x at 1 thread, hence
    # MID_W
    SMALL_PQ = 196
    MID_PQ = 784
    MID_W = 1 << 14


cdef int gemm_level(const Geom* g) noexcept nogil:
    # the packed GEMM's level for g's weights: AVX-512's (2 or 3), AVX2's for small planes (4) or up to DEEPX_K1 taps
    # (1), 0: BLAS
    cdef int Kg = g.K // g.groups, CRS = g.C // g.groups * g.R * g.S, PQ = g.P * g.Q
    if deepx_gemm_isa():
        return deepx_gemm_pick(deepx_gemm_isa(), Kg, CRS if g.R * g.S == 1 else 0)
    if not deepx_gemm_avx2():
        return 0
    if ((PQ <= SMALL_PQ or PQ <= MID_PQ and Kg * CRS <= MID_W)
            and (cdiv_up(Kg, 8) * 8 if Kg % 16 <= 8 else cdiv_up(Kg, 16) * 16) - Kg <= Kg // 16):
        return 4
    return 1 if CRS <= DEEPX_K1 else 0


cdef void pack_weights(Conv c):
    # c.W: the weights, each group's packed for the GEMM kernel when this CPU has one (gemm_level)
    cdef Geom g = c.g
    cdef int grp, Kg = g.K // g.groups, CRS = g.C // g.groups * g.R * g.S
    cdef int level = gemm_level(&g)
    c.W.w, c.W.packed, c.W.level = &c.w[0, 0, 0, 0], NULL, level
    if level == 0:
        return
    c.W.group = deepx_packed_floats(level, Kg, CRS)
    c.packed = np.empty(g.groups * c.W.group, np.float32)
    c.W.packed = &c.packed[0]
    with nogil:
        for grp in range(g.groups):
            deepx_pack_a(level, Kg, CRS, c.W.w + <Py_ssize_t>grp * Kg * CRS, CRS,
                         &c.packed[0] + grp * c.W.group)


cdef int run_images(Conv conv, const float* x, int N, const float* b, float* y, const float* res,
                    ActC a) except -1:
    # N images (C,H,W) of x through one conv stage [+ res (N,K,P,Q)] -> y (N,K,P,Q) (K: the last stage's)
    cdef Py_ssize_t sx = <Py_ssize_t>conv.g.C * conv.g.H * conv.g.W
    cdef Py_ssize_t sy = <Py_ssize_t>(conv.K2 if conv.w2 != NULL else conv.g.K) * conv.g.P * conv.g.Q
    cdef int n
    cdef float* buf = scratch(conv.floats)
    with nogil:
        for n in range(N):
            conv.image(x + n * sx, b, y + n * sy, res + n * sy if res != NULL else NULL, a, buf)
    return 0


cdef void depthwise_any(const float* x, const float* w, const float* b, float* y, const Geom* g, int N,
                        ActC a) noexcept nogil:
    # x (N,C,H,W) * w (K,1,R,S) + b -> y (N,K,P,Q): AVX-512 channels in lanes (small planes) or planes, channel
    # blocks or plain loops
    if depthwise_lanes_fits(g):
        depthwise_lanes(x, w, b, y, g, N, a)
    elif depthwise_simd(g):
        depthwise_vec(x, w, b, y, g, N, a)
    elif g.K == g.C and (g.P * g.Q <= DW_BLOCKED_PQ or g.P * g.Q <= DW_BLOCKED_PQ_S2 and g.sw == 2):
        depthwise_blocked(x, w, b, y, g, N, a)
    else:
        depthwise(x, w, b, y, g, N, a)


cdef Conv stage_for(dict plans, Geom g, const float[:, :, :, ::1] w, const float[:, :, :, ::1] w2,
                    int nth):
    # the stage of plans (None: a new one) for geometry g on nth threads, made on first use
    cdef Conv conv
    key = (g.C, g.H, g.W, g.K, g.R, g.S, g.groups, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw, g.P, g.Q, nth)
    if plans is None:
        return conv_stage(g, w, w2, nth)
    conv = plans.get(key)
    if conv is None:
        conv = plans[key] = conv_stage(g, w, w2, nth)
    return conv


cdef class Bound:
    """conv2d / conv2d_lowrank of arrays planned once: the arguments read, the plan kept for the thread count of the
    last call; run when called with no arguments. The executor binds its steps so (kernels.bind: their arena views
    and weights stay put; a call through conv2d's signature costs 5-10 µs of argument parsing and plan lookup)."""
    cdef tuple keep  # the arrays, alive while planned
    cdef Geom g
    cdef int N
    cdef bint dw
    cdef const float[:, :, :, ::1] w, w2
    cdef const float* x
    cdef const float* b
    cdef const float* res
    cdef float* y
    cdef ActC act
    cdef dict plans
    cdef Conv conv

    def __call__(self):
        cdef int blas
        if self.dw:
            with nogil:
                depthwise_any(self.x, &self.w[0, 0, 0, 0], self.b, self.y, &self.g, self.N,
                              self.act if self.res == NULL else IDENT)
                add_residual(self.y, self.res, <Py_ssize_t>self.N * self.g.K * self.g.P * self.g.Q, self.act,
                             omp_get_max_threads())
            return
        blas = blas_serial()
        try:
            run_images(self.plan(kernel_threads(blas)), self.x, self.N, self.b, self.y, self.res, self.act)
        finally:
            blas_restore(blas)

    def read_from(self, x):
        """Read the input from x (its shape; float32, C order) from now on: the executor points its first conv at a
        caller's array (no copy into the arena)."""
        cdef const float[:, :, :, ::1] v = x
        if tuple(x.shape) != tuple(self.keep[0].shape):
            raise ValueError(f"conv2d: x has shape {tuple(x.shape)}, bound to {tuple(self.keep[0].shape)}")
        self.keep = (x,) + self.keep[1:]
        self.x = &v[0, 0, 0, 0]

    cdef Conv plan(self, int nth):
        # the conv stage for nth threads, made when the thread count changed
        if self.conv is None or self.conv.nth != nth:
            self.conv = stage_for(self.plans, self.g, self.w, self.w2, nth)
        return self.conv


cdef Bound bound(dict plans, const float[:, :, :, ::1] x, const float[:, :, :, ::1] w,
                 const float[:, :, :, ::1] w2, const float[::1] b, const float[:, :, :, ::1] z, stride, pads,
                 dilation, int groups, act, out):
    # conv2d (w2 None) or conv2d_lowrank of x [+ z] into out (None: a new array), planned through plans (None: its
    # own)
    cdef Bound k = Bound.__new__(Bound)
    k.g = geom(x.shape[1], x.shape[2], x.shape[3], w.shape[0], w.shape[2], w.shape[3], groups, stride, pads,
               dilation)
    shape = (x.shape[0], w.shape[0] if w2 is None else w2.shape[0], k.g.P, k.g.Q)
    if out is None:
        out = np.empty(shape, np.float32)
    elif tuple(out.shape) != shape:
        raise ValueError(f"conv2d: out has shape {tuple(out.shape)}, the conv makes {shape}")
    zs = (z.shape[0], z.shape[1], z.shape[2], z.shape[3]) if z is not None else shape
    if zs != shape:
        raise ValueError(f"conv2d: z has shape {zs}, the conv makes {shape}")
    cdef float[:, :, :, ::1] y = out
    k.keep, k.N, k.w, k.w2, k.plans = (x, w, w2, b, out, z), x.shape[0], w, w2, {} if plans is None else plans
    k.res = &z[0, 0, 0, 0] if z is not None else NULL
    k.dw = w2 is None and w.shape[1] == 1 and groups > 1
    k.x, k.b, k.y, k.act = &x[0, 0, 0, 0], &b[0] if b is not None else NULL, &y[0, 0, 0, 0], as_act(act)
    return k


cdef Conv planned(Bound k):
    # k's conv stage for the thread count in force (as its call plans it)
    cdef int blas = blas_serial()
    try:
        return k.plan(kernel_threads(blas))
    finally:
        blas_restore(blas)


cdef enum:
    # MobileNetV2's inverted residuals at 2 threads on the AVX-512 Xeon, per block within whole runs against its three
    # convs alternating: output planes of up to 28x28 by channels, 1.03-1.31x as fast (14x14 1.14-1.31x, where bands
    # of rows were 1.03-1.17x; 28x28 1.03-1.20x, rows 0.87-1.08x; 7x7 1.04-1.10x, rows 0.72x in a C program)
    CHAIN_CH_PQ = 784
    # by rows at stride 1 up to 56x56 planes: 1.18x as fast on 56x56 (widened in pieces; by channels a thread's
    # buffers would pass its L2)
    CHAIN_PQ_MAX = 3136
    # a depthwise conv and its 1x1 (no widening conv before): 112x112 planes and up (MobileNetV2's first block, 32 ->
    # 16 channels: the pair 1.19x as fast within whole runs at 2 threads, 1.40x in a C program), bands of at most
    # CHAIN2_FLOATS a thread
    CHAIN2_PQ_MIN = 12544
    CHAIN2_FLOATS = 1 << 18
    # by rows at stride 2, input planes of 112x112 and up: MobileNetV2's 16 -> 96 -> 24 block 1.21x as fast
    CHAIN_S2_PQ_MIN = 12544
    # floats of widened rows a thread holds at a time: that 112x112 block 1.29x as fast with 512 KB, 1.16x with 1 MB,
    # 1.03x with 2 MB, 1.13x with 256 KB (pieces of 2 output rows: a third of the widened rows computed twice)
    CHAIN_WIDE = 1 << 17
    CHAIN_ROWS = 7  # rows a thread's band has at least (as measured: 7 of 14 at 2 threads); fewer, the halo rows'
    # widening conv, done by both threads, costs too much


cdef bint pointwise(Bound k):
    # a 1x1 conv, stride 1, one group, one image, its output the input's size, no 1x1 stage after it
    cdef Geom g = k.g
    return (not k.dw and k.w2 is None and k.N == 1 and g.R == 1 and g.S == 1 and g.sh == 1 and g.sw == 1
            and g.pt == 0 and g.pl == 0 and g.groups == 1 and g.P == g.H and g.Q == g.W)


cdef class Chain:
    """An inverted residual (MobileNetV2's block): a widening 1x1 conv, a depthwise k x k one (stride 1 or 2, same
    padding) and a narrowing 1x1 [+ a residual], bound, run in one parallel region at 2+ threads, so that what a
    conv reads was written by its own core and the widened tensor stays in cache. On small output planes
    (chain_channels) each thread takes its part of the widened channels through the widening and depthwise convs
    and sums its part of the narrowing one, then writes its rows of the output. On larger ones (chain_band) each
    thread takes a band of the output's rows through all three, into buffers of its own (the widening conv over the
    rows the band's windows read, halo rows computed by both threads; in pieces of at most CHAIN_WIDE floats), and
    the narrowing conv writes the band's pixels of the output. Without the widening conv (e None) the depthwise conv
    reads its input's rows in place. At 1 thread (or bands under CHAIN_ROWS) the convs run as bound. The
    intermediate tensors are not written."""
    cdef Bound e, d, p
    cdef bint by_channels  # output planes of at most CHAIN_CH_PQ pixels: the threads split the widened channels
    cdef float[::1] parts  # by_channels: the narrowing weights' columns of each thread's channels, each packed
    cdef int parts_nth  # the thread count they were packed for

    def __call__(self):
        cdef Geom g = self.d.g
        cdef int nth = omp_get_max_threads(), E = g.C, t
        cdef Conv ce = None, cp = None
        if nth >= 2 and (g.P >= CHAIN_ROWS * nth or self.by_channels):
            ce, cp = planned(self.e) if self.e is not None else None, planned(self.p)
        if cp is None or cp.W.packed == NULL or self.e is not None and ce.W.packed == NULL:
            return self.unchained()
        cdef Band a
        a.H, a.W, a.P, a.Q, a.s, a.pt, a.E, a.K2, a.R = g.H, g.W, g.P, g.Q, g.sh, g.pt, E, self.p.g.K, g.R
        a.rows = cdiv_up(g.P, nth)
        a.piece = a.rows
        if ce is not None:
            a.piece = min(a.rows, max(1, (CHAIN_WIDE // (E * g.W) - g.R) // g.sh + 1))
        cdef Py_ssize_t most, per  # by channels: the channels a thread takes at most; floats of scratch a thread
        if self.by_channels:
            most = cdiv_up(cdiv_up(E, deepx_gemm_mr(ce.W.level)), nth) * deepx_gemm_mr(ce.W.level)
            per = <Py_ssize_t>a.K2 * g.P * g.Q + most * (<Py_ssize_t>g.P * g.Q + g.H * g.W)
            a.part = deepx_packed_floats(cp.W.level, a.K2, most)
            self.pack_parts(cp.W.level, ce.W.level, nth, a.part)
        else:
            per = <Py_ssize_t>E * a.rows * g.Q + (
                <Py_ssize_t>E * ((a.piece - 1) * g.sh + g.R) * g.W if ce is not None else 0)
        a.per = (per + 15) & ~15
        cdef float* buf = scratch(nth * a.per)
        a.x, a.we, a.eb = self.d.x, NULL, NULL
        if ce is not None:
            a.C, a.x, a.we, a.le, a.eb, a.ea = self.e.g.C, self.e.x, ce.W.packed, ce.W.level, self.e.b, self.e.act
        a.wd, a.db, a.da = &self.d.w[0, 0, 0, 0], self.d.b, self.d.act
        a.wp = &self.parts[0] if self.by_channels else cp.W.packed
        a.lp, a.pb, a.pa, a.y, a.res = cp.W.level, self.p.b, self.p.act, self.p.y, self.p.res
        # the output over the input (a residual in place, or arena reuse): every thread reads its rows of the input
        # before any writes its rows of the output
        cdef size_t nx = <size_t>(a.C if ce is not None else E) * g.H * g.W, ny = <size_t>a.K2 * g.P * g.Q
        a.sync = <size_t>a.x < <size_t>(a.y + ny) and <size_t>a.y < <size_t>(a.x + nx)
        cdef bint chans = self.by_channels
        cdef int ran = 0
        cdef int* done = &ran
        with nogil, parallel(num_threads=nth):
            if omp_get_num_threads() == nth:  # a band for each thread (fewer, when nested: the convs run as bound)
                t = threadid()
                if chans:
                    chain_channels(&a, buf, t, nth)
                else:
                    chain_band(&a, buf + t * a.per, t, nth)
                if t == 0:
                    done[0] = 1
        if not ran:
            self.unchained()

    cdef pack_parts(self, int level, int le, int nth, Py_ssize_t part):
        # the narrowing weights (K2, E) cut into each thread's columns (chain_channels), each packed for level, part
        # floats apart
        cdef int K2 = self.p.g.K, E = self.d.g.C, t, c0, c1
        if self.parts_nth == nth:
            return
        self.parts = np.empty(nth * part + 16, np.float32)
        for t in range(nth):
            c0, c1 = chan_at(E, le, t, nth), chan_at(E, le, t + 1, nth)
            if c1 > c0:
                deepx_pack_a(level, K2, c1 - c0, &self.p.w[0, c0, 0, 0], E, &self.parts[t * part])
        self.parts_nth = nth

    cdef unchained(self):
        for k in (self.e, self.d, self.p):
            if k is not None:
                k()


cdef struct Band:
    # a Chain's arguments: x (C,H,W) -> E channels (we, level le, bias eb, act ea; we NULL: x is the depthwise conv's
    # input, E channels) -> depthwise R x R, stride s, pt rows of padding on top (wd, db, da) -> (E,P,Q) -> K2
    # channels (wp, lp, pb, pa) [+ res] -> y (K2,P,Q); bands of at most `rows` output rows, widened `piece` at a time
    int H, W, P, Q, s, pt, C, E, K2, R, le, lp, rows, piece
    Py_ssize_t per  # scratch floats a thread
    Py_ssize_t part  # by channels: floats between the threads' packed parts of the narrowing weights
    bint sync  # the output overlaps x: a barrier between the reads of x and the writes of y
    const float* x
    const float* we
    const float* eb
    const float* wd
    const float* db
    const float* wp
    const float* pb
    const float* res
    float* y
    ActC ea, da, pa


cdef inline void chain_dw(const Band* a, int c, const float* x, int rows, float* y, int P, int pt) noexcept nogil:
    # channel c of a Chain's depthwise conv: `rows` rows of x (a.W wide, pt rows of padding above) -> P rows of y
    cdef float lo = a.da.lo if a.da.kind == CLIP else -INFINITY, hi = a.da.hi if a.da.kind == CLIP else INFINITY
    deepx_dw_plane(x, rows, a.W, a.wd + c * a.R * a.R, a.R, a.db[c] if a.db != NULL else 0.0, y, P, a.Q, a.s, pt,
                   a.pt, lo, hi, NULL, NULL)
    if a.da.kind != CLIP and a.da.kind != NONE:
        affine_act(y, y, <Py_ssize_t>P * a.Q, 1.0, 0.0, a.da)


cdef void chain_band(const Band* a, float* buf, int t, int nth) noexcept nogil:
    # thread t's band of output rows through a Chain's three convs, buf its scratch: the depthwise output (E, band)
    # then the widened rows of a piece
    cdef int E = a.E, W = a.W, Q = a.Q, c, q0, q1, s0, s1
    cdef int r0 = <long>a.P * t // nth, r1 = <long>a.P * (t + 1) // nth
    cdef Py_ssize_t HW = <Py_ssize_t>a.H * W, no = <Py_ssize_t>(r1 - r0) * Q, ns, ps
    cdef float* deep = buf  # (E, no)
    cdef float* wbuf = buf + <Py_ssize_t>E * a.rows * Q
    cdef const float* wide
    q0 = r0
    while q0 < r1:
        q1 = min(q0 + a.piece, r1)
        s0, s1 = max(q0 * a.s - a.pt, 0), min((q1 - 1) * a.s - a.pt + a.R, a.H)  # the input rows its windows read
        ns, wide, ps = <Py_ssize_t>(s1 - s0) * W, a.x + s0 * W, HW
        if a.we != NULL:  # widened into wbuf, (E, ns)
            gemm_packed_act(a.le, E, ns, a.C, a.we, a.x + s0 * W, HW, wbuf, NULL, ns, a.eb, a.ea)
            wide, ps = wbuf, ns
        for c in range(E):
            chain_dw(a, c, wide + c * ps, s1 - s0, deep + c * no + (q0 - r0) * Q, q1 - q0, s0 - q0 * a.s + a.pt)
        q0 = q1
    if a.sync:
        omp_barrier()
    gemm_packed_act(a.lp, a.K2, no, E, a.wp, deep, no, a.y + r0 * Q, a.res + r0 * Q if a.res != NULL else NULL,
                    <Py_ssize_t>a.P * Q, a.pb, a.pa)


cdef inline int chan_at(int E, int level, int t, int nth) noexcept nogil:
    # the first of thread t's widened channels in chain_channels: whole row panels of the widening weights
    cdef int mr = deepx_gemm_mr(level)
    return min(E, cdiv_up(E, mr) * t // nth * mr)


cdef void chain_channels(const Band* a, float* buf, int t, int nth) noexcept nogil:
    # thread t's widened channels through a Chain's widening and depthwise convs and its part of the narrowing one's
    # sums (K2, PQ) into its scratch (buf + t * per: sums, depthwise output, widened); after every thread's, its rows
    # of the output: the threads' sums + bias [+ res]
    cdef int c0 = chan_at(a.E, a.le, t, nth), c1 = chan_at(a.E, a.le, t + 1, nth), c, u, k
    cdef int k0 = <long>a.K2 * t // nth, k1 = <long>a.K2 * (t + 1) // nth
    cdef Py_ssize_t HW = <Py_ssize_t>a.H * a.W, PQ = <Py_ssize_t>a.P * a.Q, j
    cdef float* part = buf + t * a.per
    cdef float* deep = part + a.K2 * PQ
    cdef float* wide = deep + (c1 - c0) * PQ
    cdef float* out
    cdef const float* other
    cdef const float* wp = a.wp + t * a.part
    if c1 > c0:
        gemm_packed_act(a.le, c1 - c0, HW, a.C, a.we + <Py_ssize_t>c0 * a.C, a.x, HW, wide, NULL, HW,
                        a.eb + c0 if a.eb != NULL else NULL, a.ea)
        for c in range(c0, c1):
            chain_dw(a, c, wide + (c - c0) * HW, a.H, deep + (c - c0) * PQ, a.P, a.pt)
        gemm_packed_act(a.lp, a.K2, PQ, c1 - c0, wp, deep, PQ, part, NULL, PQ, NULL, IDENT)
    else:
        memset(part, 0, a.K2 * PQ * sizeof(float))
    omp_barrier()
    for k in range(k0, k1):
        out = a.y + k * PQ
        if a.res != NULL:
            for j in range(PQ):
                out[j] = buf[k * PQ + j] + a.res[k * PQ + j]
        else:
            memcpy(out, buf + k * PQ, PQ * sizeof(float))
        for u in range(1, nth):
            other = buf + u * a.per + k * PQ
            for j in range(PQ):
                out[j] += other[j]
        affine_act(out, out, PQ, 1.0, a.pb[k] if a.pb != NULL else 0.0, a.pa)


def bind_conv_chain(*bound):
    """conv2d's bound e -> d -> p, or d -> p (each reading the one before's output, which nothing else reads), as
    one Chain when they make an inverted residual it takes (Bound convs; output planes of up to CHAIN_CH_PQ pixels by
    channels, else by rows: input planes of up to CHAIN_PQ_MAX pixels at stride 1, CHAIN_S2_PQ_MIN and up at stride
    2, or without e of CHAIN2_PQ_MIN and up at stride 1; a depthwise kernel for the window on this CPU); else None."""
    if not all(isinstance(k, Bound) for k in bound):
        return None
    e, d, p = bound if len(bound) == 3 else (None, *bound)
    return chain_of(e, d, p)


cdef Chain chain_of(Bound e, Bound d, Bound p):
    cdef Geom g = d.g
    cdef Py_ssize_t PQ = <Py_ssize_t>g.H * g.W
    cdef bint by_channels = <Py_ssize_t>g.P * g.Q <= CHAIN_CH_PQ
    if e is not None and not (pointwise(e) and e.res == NULL and d.x == e.y and e.g.K == g.C and e.g.H == g.H
                              and e.g.W == g.W and (by_channels or (PQ <= CHAIN_PQ_MAX if g.sh == 1
                                                                    else PQ >= CHAIN_S2_PQ_MIN))):
        return None
    if e is None and not (g.sh == 1 and PQ >= CHAIN2_PQ_MIN and g.C * PQ <= 2 * CHAIN2_FLOATS):
        return None
    if not (pointwise(p) and d.dw and d.res == NULL and d.N == 1
            and g.R == g.S and g.R % 2 == 1 and g.sh == g.sw and g.sh <= 2 and g.dh == 1 and g.dw == 1
            and g.pt == g.R // 2 and g.pl == g.S // 2 and g.P == cdiv_up(g.H, g.sh) and g.Q == cdiv_up(g.W, g.sw)
            and g.K == g.C and depthwise_simd(&g) and p.x == d.y and p.g.C == g.C and p.g.H == g.P):
        return None
    cdef Chain k = Chain.__new__(Chain)
    k.e, k.d, k.p, k.by_channels = e, d, p, by_channels and e is not None
    return k


cdef object conv_images(dict plans, x, w, w2, b, z, stride, pads, dilation, int groups, act, out):
    # conv2d (w2 None) or conv2d_lowrank of x [+ z], through plans (None: planned for this call)
    k = bound(plans, x, w, w2, b, z, stride, pads, dilation, groups, act, out)
    k()
    return k.keep[4]


def bind_conv2d(x, w, b, z, stride, pads, dilation, int groups, act, out):
    """conv2d of these arrays into out, called with no arguments; they must stay put while it is used."""
    return bound(None, x, w, None, b, z, stride, pads, dilation, groups, act, out)


def bind_conv2d_lowrank(x, w1, w2, b, stride, pads, dilation, act, out):
    """conv2d_lowrank of these arrays into out, called with no arguments; they must stay put while it is used."""
    return bound(None, x, w1, w2, b, None, stride, pads, dilation, 1, act, out)


def conv2d(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w, const float[::1] b,
           const float[:, :, :, ::1] z, stride, pads, dilation, int groups, act, out=None):
    """act(x (N,C,H,W) * w (K,C/g,R,S) + b (K) [+ z (N,K,P,Q)]) -> y (N,K,P,Q)."""
    return conv_images(None, x, w, None, b, z, stride, pads, dilation, groups, act, out)


def conv2d_lowrank(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w1,
                   const float[:, :, :, ::1] w2, const float[::1] b, stride, pads, dilation, act,
                   out=None):
    """x (N,C,H,W) * w1 (r,C,R,S) -> t (r,P,Q);  w2 (K,r,1,1) · t + b (K) -> y (N,K,P,Q)."""
    return conv_images(None, x, w1, w2, b, None, stride, pads, dilation, 1, act, out)


cdef class Prepared:
    """A conv kernel bound to its constant weights (called like the kernel): each input shape's plan
    (Winograd weights, scratch) is made on its first call and reused; other weights run
    unprepared. run(plans or None, x, *args): the kernel through plans."""
    cdef tuple weights
    cdef object run
    cdef dict plans

    def __call__(self, x, *args, **kw):
        cdef Py_ssize_t i, n = len(self.weights)
        cdef bint same = len(args) >= n
        for i in range(n if same else 0):
            same = same and args[i] is self.weights[i]
        return self.run(self.plans if same else None, x, *args, **kw)


cdef Prepared prepared(run, tuple weights):
    cdef Prepared k = Prepared.__new__(Prepared)
    k.run, k.weights, k.plans = run, weights, {}
    return k


def _planned_conv2d(plans, x, w, b, z, stride, pads, dilation, int groups, act, out=None):
    return conv_images(plans, x, w, None, b, z, stride, pads, dilation, groups, act, out)


def _planned_conv2d_lowrank(plans, x, w1, w2, b, stride, pads, dilation, act, out=None):
    return conv_images(plans, x, w1, w2, b, None, stride, pads, dilation, 1, act, out)


def prepare_conv2d(w, b=None):
    """conv2d for this constant w (called like conv2d)."""
    return prepared(_planned_conv2d, (w,))


def prepare_conv2d_lowrank(w1, w2, b=None):
    """conv2d_lowrank for these constant w1, w2 (called like conv2d_lowrank)."""
    return prepared(_planned_conv2d_lowrank, (w1, w2))


def _planned_conv2d_tucker2(dict plans, const float[:, :, :, ::1] x,
                            const float[:, :, :, ::1] w_in, const float[:, :, :, ::1] w_core,
                            const float[:, :, :, ::1] w_out, const float[::1] b, stride, pads,
                            dilation, act, out=None):
    # conv2d_tucker2 of x, its k x k + 1x1 stage through plans (None: planned for this call)
    cdef int N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int r1 = w_in.shape[0], r2 = w_core.shape[0], K = w_out.shape[0]
    cdef Geom g = geom(r1, H, W, r2, w_core.shape[2], w_core.shape[3], 1, stride, pads,
                       dilation)
    if out is None:
        out = np.empty((N, K, g.P, g.Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    cdef int n, HW = H * W, blas = blas_serial(), nth = kernel_threads(blas)
    cdef Conv conv
    cdef float* buf
    cdef float* t1
    try:
        conv = stage_for(plans, g, w_core, w_out, nth)
        buf = scratch(conv.floats + <Py_ssize_t>r1 * HW)  # the stage's scratch, then t1
        t1 = buf + conv.floats
        with nogil:
            for n in range(N):
                gemm_parts(r1, HW, C, &w_in[0, 0, 0, 0], C, &x[n, 0, 0, 0], HW, t1, NULL, HW, NULL,
                           IDENT, nth)
                conv.image(t1, bp, &y[n, 0, 0, 0], NULL, a, buf)
    finally:
        blas_restore(blas)
    return out


def conv2d_tucker2(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w_in,
                   const float[:, :, :, ::1] w_core, const float[:, :, :, ::1] w_out,
                   const float[::1] b, stride, pads, dilation, act, out=None):
    """x (N,C,H,W): w_in (r1,C,1,1) · x -> t1 (r1,H,W);  t1 * w_core (r2,r1,R,S) -> t2 (r2,P,Q);
    w_out (K,r2,1,1) · t2 + b (K) -> y (N,K,P,Q)."""
    return _planned_conv2d_tucker2(None, x, w_in, w_core, w_out, b, stride, pads, dilation, act,
                                   out)


def prepare_conv2d_tucker2(w_in, w_core, w_out, b=None):
    """conv2d_tucker2 for these constant weights (called like conv2d_tucker2)."""
    return prepared(_planned_conv2d_tucker2, (w_in, w_core, w_out))


cdef enum:
    COL_FLOATS = 1 << 18  # a transposed conv's col tile (K/g*R*S, rows*W): about an L2 cache


cdef inline void fill(float* y, Py_ssize_t n, float v) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = v


cdef void col2im_channel(const float* col, Py_ssize_t T, int k, int R, int S, int sh, int sw,
                         int pt, int pl, int dh, int dw, int h0, int rows, int W, int P, int Q,
                         float* y) noexcept nogil:
    # output channel k: y (P,Q) += the rows (k, r, s) of col (K*R*S, rows*W) scattered over their
    # windows; col column i*W + iw is input pixel (h0 + i, iw), landing on (oh, ow) = (h0+i, iw) *
    # stride - pads + (r, s) * dilation
    cdef int r, s, i, oh, off, lo, hi
    cdef Py_ssize_t iw
    cdef const float* c
    cdef float* yrow
    for r in range(R):
        for s in range(S):
            c = col + ((<Py_ssize_t>k * R + r) * S + s) * T
            off = s * dw - pl
            span(W, sw, off, Q, &lo, &hi)
            for i in range(rows):
                oh = (h0 + i) * sh - pt + r * dh
                if oh < 0 or oh >= P:
                    continue
                yrow = y + <Py_ssize_t>oh * Q + off
                if sw == 1:
                    for iw in range(lo, hi):
                        yrow[iw] += c[i * W + iw]
                elif sw == 2:  # a constant stride: vectorised
                    for iw in range(lo, hi):
                        yrow[2 * iw] += c[i * W + iw]
                else:
                    for iw in range(lo, hi):
                        yrow[iw * sw] += c[i * W + iw]


cdef void gemm_t_parts(int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                       float* c, int ldc, int nth) noexcept nogil:
    # c (m,n) = aᵀ · b, a stored (k,m); nth > 1: blocks of columns (of rows when the columns are
    # few) shared by nth threads, one serial-BLAS GEMM each
    cdef int nb = 1, part, lo, hi
    cdef bint cols = n >= 256 * nth
    if nth > 1 and (cols or m >= 16 * nth):
        nb = min(cdiv_up(n, 128), SHARES * nth) if cols else nth
    for part in prange(nb, num_threads=nth, schedule='dynamic', use_threads_if=nb > 1):
        if cols:
            lo = (<long>n * part // nb) & ~15
            hi = n if part == nb - 1 else (<long>n * (part + 1) // nb) & ~15
            gemm(True, False, m, hi - lo, k, a, lda, b + lo, ldb, 0.0, c + lo, ldc)
        else:
            lo = <long>m * part // nb
            hi = <long>m * (part + 1) // nb
            gemm(True, False, hi - lo, n, k, a + lo, lda, b, ldb, 0.0, c + <Py_ssize_t>lo * ldc,
                 ldc)


cdef void scatter_plane(const float* x, int H, int W, const float* w, int R, int S, int sh, int sw,
                        int pt, int pl, int dh, int dw, float* y, int P, int Q) noexcept nogil:
    # y (P,Q) += x (H,W) scattered through the window w (R,S): x[ih, iw] * w[r, s] lands on
    # (ih, iw) * stride - pads + (r, s) * dilation
    cdef int r, s, ih, oh, off, lo, hi
    cdef Py_ssize_t iw
    cdef float wv
    cdef const float* xrow
    cdef float* yrow
    for r in range(R):
        for s in range(S):
            wv, off = w[r * S + s], s * dw - pl
            span(W, sw, off, Q, &lo, &hi)
            for ih in range(H):
                oh = ih * sh - pt + r * dh
                if oh < 0 or oh >= P:
                    continue
                xrow, yrow = x + <Py_ssize_t>ih * W, y + <Py_ssize_t>oh * Q + off
                if sw == 1:
                    for iw in range(lo, hi):
                        yrow[iw] += wv * xrow[iw]
                else:
                    for iw in range(lo, hi):
                        yrow[iw * sw] += wv * xrow[iw]


def conv_transpose2d(const float[:, :, :, ::1] x, const float[:, :, :, ::1] w, const float[::1] b,
                     stride, pads, output_padding, dilation, int groups, act, out=None):
    """x (N,C,H,W) *ᵀ w (C,K/g,R,S) + b (K) -> y (N,K,P,Q): per (image, group) and tile of input
    rows, one GEMM col (K/g*R*S, rows*W) = w_gᵀ · x rows, then col2im adds col's windows into y;
    one input channel per group (depthwise): each output plane scatters its input plane directly."""
    cdef int N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int Kg = w.shape[1], R = w.shape[2], S = w.shape[3], K = Kg * groups, Cg = C // groups
    cdef int sh = stride[0], sw = stride[1], dh = dilation[0], dw = dilation[1]
    cdef int pt = pads[0], pl = pads[1], KRS = Kg * R * S
    cdef int P = sh * (H - 1) + output_padding[0] + (R - 1) * dh + 1 - pads[0] - pads[2]
    cdef int Q = sw * (W - 1) + output_padding[1] + (S - 1) * dw + 1 - pads[1] - pads[3]
    cdef int rows = min(H, max(1, COL_FLOATS // (KRS * W))), n, g, h0, m, k
    cdef Py_ssize_t PQ = <Py_ssize_t>P * Q, HW = <Py_ssize_t>H * W
    if out is None:
        out = np.empty((N, K, P, Q), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    cdef int blas = blas_serial(), nth = kernel_threads(blas)
    cdef bint par
    cdef float* col
    cdef float* yn
    cdef int nk
    cdef float* y0 = &y[0, 0, 0, 0]
    try:
        if Cg == 1:  # one input channel per group: output plane (n, k) scatters input plane k // (K/C)
            with nogil:
                for nk in prange(N * K, schedule='static',
                                 use_threads_if=<Py_ssize_t>N * K * HW * R * S >= PAR_MIN):
                    fill(y0 + nk * PQ, PQ, bp[nk % K] if bp != NULL else 0.0)
                    scatter_plane(&x[nk // K, nk % K // Kg, 0, 0], H, W, &w[nk % K // Kg, nk % Kg, 0, 0],
                                  R, S, sh, sw, pt, pl, dh, dw, y0 + nk * PQ, P, Q)
                    if a.kind != NONE:
                        affine_act(y0 + nk * PQ, y0 + nk * PQ, PQ, 1.0, 0.0, a)
            return out
        col = scratch(<Py_ssize_t>KRS * rows * W)
        with nogil:
            for n in range(N):
                yn = &y[n, 0, 0, 0]
                for k in range(K):
                    fill(yn + k * PQ, PQ, bp[k] if bp != NULL else 0.0)
                for g in range(groups):
                    h0 = 0
                    while h0 < H:
                        m = min(rows, H - h0)
                        gemm_t_parts(KRS, m * W, Cg, &w[g * Cg, 0, 0, 0], KRS, &x[n, g * Cg, h0, 0],
                                     HW, col, m * W, nth)
                        par = nth > 1 and <Py_ssize_t>KRS * m * W >= PAR_MIN
                        for k in prange(Kg, num_threads=nth, schedule='static', use_threads_if=par):
                            col2im_channel(col, <Py_ssize_t>m * W, k, R, S, sh, sw, pt, pl, dh, dw,
                                           h0, m, W, P, Q, yn + (<Py_ssize_t>g * Kg + k) * PQ)
                        h0 += m
                if a.kind != NONE:
                    for k in prange(K, num_threads=nth, schedule='static',
                                    use_threads_if=nth > 1 and K * PQ >= PAR_MIN):
                        affine_act(yn + k * PQ, yn + k * PQ, PQ, 1.0, 0.0, a)
    finally:
        blas_restore(blas)
    return out


cdef ActC IDENT = as_act(IDENTITY)
bind_blas()


def packed_gemm(const float[:, ::1] a, const float[:, ::1] b, const float[::1] bias=None, act=IDENTITY,
                int level=0, int threads=1):
    """act(a (m,k) · b (k,n) + bias (m)) through the packed GEMM kernel the convs use, at `level` (0: this
    CPU's pick for a's shape; 2 AVX-512 with 12-row panels, 3 with 8-row ones; 1 AVX2 with 6-row ones, here for
    any k, 4 AVX2 with 16-row ones in the lanes, here for any n; both also where AVX-512 is), split over `threads`:
    for tests and benchmarks. ValueError when this CPU (or DEEPX_GEMM) has no such kernel."""
    cdef int m = a.shape[0], k = a.shape[1], n = b.shape[1], have = deepx_gemm_isa()
    level = level or deepx_gemm_pick(have, m, k) or deepx_gemm_avx2()
    if not (level in (2, 3) and have or level in (1, 4) and (have or deepx_gemm_avx2())) or k != b.shape[0]:
        raise ValueError(f"no packed GEMM at level {level} here (this CPU: {have}) "
                         f"or shapes {a.shape} {b.shape}")
    packed = np.empty(deepx_packed_floats(level, m, k), np.float32)
    out = np.empty((m, n), np.float32)
    cdef float[::1] ap = packed
    cdef float[:, ::1] c = out
    cdef ActC f = as_act(act)
    with nogil:
        deepx_pack_a(level, m, k, &a[0, 0], k, &ap[0])
        gemm_packed_parts(level, m, n, k, &ap[0], &b[0, 0], n, &c[0, 0], NULL, n,
                          &bias[0] if bias is not None else NULL, f, threads)
    return out
