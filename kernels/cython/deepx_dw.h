/* Depthwise K x K conv of one channel plane with AVX-512 (K 3, 5 or 7, stride 1 or 2, no dilation): 16 outputs
   of a row per vector, the zero padding read through masked loads (no padded copy of the plane), stride 2's
   even columns picked from two loads by one permute; bias and a clamp applied in registers, the output written
   once; the next plane's input and output lines (xn, yn: NULL for none) asked for meanwhile where that pays.
   deepx_dw_has says where there is one (AVX-512, else AVX2: deepx_dw_plane8_k, 8 outputs a vector; elsewhere, or
   for other geometry, the caller's loops run).
   Small planes (7 x 7 outputs: a row is under half a vector) go through deepx_dw_lanes instead, 16 channels in the
   lanes (measured alone against the rows, 1 / 2 threads: MobileNetV2's 960 x 7 x 7 3x3 54-58 / 40-43 us against
   73-78 / 47-54, its 576 x 14 x 14 3x3 / 2 64 / 43 against 77 / 50-57, EfficientNet-B0's 1152 x 7 x 7 5x5 106-114 /
   66-68 against 139-140 / 79-83), with AVX2 8 (deepx_dw_lanes8). */
#ifndef DEEPX_DW_H
#define DEEPX_DW_H
#include "deepx_gemm.h"

/* during a plane's first column block, at output rows p .. p + rows whose windows step over input rows h0 ..
   h0 + step: those rows of the next plane and its output rows (xn, yn; xn NULL: none), asked for in the background.
   A plane read a column block at a time waits on every row when it comes from memory (measured: a 3x3 / 2 max pool
   of 64 x 111 x 111 1.2 ms from memory, 0.24 ms from cache) */
static inline void deepx_prefetch_next(const float* xn, int H, int W, int h0, int step, float* yn, int P, int Q, int p,
                                       int rows) {
    if (!xn)
        return;
    for (int h = h0 < 0 ? 0 : h0; h < h0 + step && h < H; h++)
        deepx_prefetch_span(xn + (size_t)h * W, W, 0);
    for (int j = p; j < p + rows && j < P; j++)
        deepx_prefetch_span(yn + (size_t)j * Q, Q, 1);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* the masks of a column block's K taps, c0 the input column of lane 0 at tap 0: the lanes whose columns lie in
   [0, W), of one vector (m0), and of the second one that stride 2 reads (m1) */
static inline void deepx_tap_masks(int c0, int W, int K, __mmask16* m0, __mmask16* m1) {
    for (int t = 0; t < K; t++) {
        m0[t] = deepx_lanes(-(c0 + t), W - (c0 + t));
        m1[t] = deepx_lanes(-(c0 + t) - 16, W - (c0 + t) - 16);
    }
}

/* 16 inputs of a row for a tap: row[0], row[S], ..., row[15 S], `fill` in the masked lanes (at stride 2 the even
   lanes of two loads, picked by one permute) */
__attribute__((target("avx512f"), always_inline))
static inline __m512 deepx_tap(const float* row, __mmask16 m0, __mmask16 m1, __m512 fill, const int S) {
    __m512 v = _mm512_mask_loadu_ps(fill, m0, row);
    if (S == 2)
        v = _mm512_permutex2var_ps(v, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                                   _mm512_mask_loadu_ps(fill, m1, row + 16));
    return v;
}

/* the K taps of a row (v[t] = deepx_tap(row + t, m0[t], m1[t], fill, S)); at stride 2 taps t and t + 1 are the even
   and odd lanes of the same two loads (lane j of those holds column c0 + t + j, valid as m0[t], m1[t] say): half
   the loads (measured with 4 output rows a step at stride 2 too, not 2: MobileNetV2's four stride-2 depthwise convs
   0.40 -> 0.34 ms in the model at 1 thread, 0.21 -> 0.18 ms at 2, A/B in one process) */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_taps(const float* row, const __mmask16* m0, const __mmask16* m1, __m512 fill, __m512* v,
                              const int K, const int S) {
    if (S == 1) {
        for (int t = 0; t < K; t++)
            v[t] = _mm512_mask_loadu_ps(fill, m0[t], row + t);
        return;
    }
    __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int t = 0; t < K; t += 2) {
        __m512 a = _mm512_mask_loadu_ps(fill, m0[t], row + t), b = _mm512_mask_loadu_ps(fill, m1[t], row + t + 16);
        v[t] = _mm512_permutex2var_ps(a, even, b);
        if (t + 1 < K)
            v[t + 1] = _mm512_permutex2var_ps(a, odd, b);
    }
}

/* ROWS (4) output rows p .. p + 3 of the column block whose tap 0 reads input column c0 (masks m0, m1 from
   deepx_tap_masks) -> acc: each input row they share is loaded once, and their sums are ROWS independent chains of
   FMAs; the weights broadcast from w, or (WR) the K*K vectors wv */
enum { DEEPX_DW_ROWS = 4 };

__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_dw_step(const float* x, int H, int W, const float* w, const __m512* wv, float bias, int h0,
                                 int c0, const __mmask16* m0, const __mmask16* m1, __m512* acc, const int K,
                                 const int S, const int WR) {
    const int span = (DEEPX_DW_ROWS - 1) * S + K;  /* input rows a step of ROWS output rows */
    __m512 v[7];
    #pragma GCC unroll 16
    for (int j = 0; j < DEEPX_DW_ROWS; j++)
        acc[j] = _mm512_set1_ps(bias);
    #pragma GCC unroll 16
    for (int i = 0; i < span; i++) {
        if (h0 + i < 0 || h0 + i >= H)
            continue;
        deepx_taps(x + (size_t)(h0 + i) * W + c0, m0, m1, _mm512_setzero_ps(), v, K, S);
        #pragma GCC unroll 16
        for (int j = 0; j < DEEPX_DW_ROWS; j++) {  /* output row p + j reads this row as its tap row i - j S */
            int r = i - j * S;
            if (r >= 0 && r < K)
                #pragma GCC unroll 16
                for (int t = 0; t < K; t++)
                    acc[j] = _mm512_fmadd_ps(v[t], WR ? wv[r * K + t] : _mm512_set1_ps(w[r * K + t]), acc[j]);
        }
    }
}

/* the output rows p .. p + ROWS - 1 (those < P) of column block q, clamped */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_dw_store(float* y, int P, int Q, int p, int q, const __m512* acc, float lo, float hi) {
    __mmask16 out = deepx_lanes(0, Q - q);
    #pragma GCC unroll 16
    for (int j = 0; j < DEEPX_DW_ROWS; j++)
        if (p + j < P)
            _mm512_mask_storeu_ps(y + (size_t)(p + j) * Q + q, out,
                                  _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), acc[j])));
}

/* y (P,Q) = clamp(x (H,W) * w (K,K) + bias, lo, hi), stride S, pt rows and pl columns of zero padding before
   the plane (any after it), in steps of deepx_dw_step. Planes of up to DEEPX_DW_BLOCKS column blocks: a column
   block at a time (its loads' masks made once for all its rows); wider ones a step of rows at a time over every
   column block (the plane read in order, as it was written), the weights held in registers (measured in
   MobileNetV2 on the AVX-512 Xeon, per block, 1 / 2 threads: its 96 x 112x112 3x3 / 2 0.34 -> 0.30 / 0.196 ->
   0.186 ms, 144 x 56x56 3x3 0.26 -> 0.20 / 0.114 -> 0.107; whole runs alternating, 100 rounds: 1-2% faster at 1
   thread, within 1% at 2; on planes of 28 or 14 columns the column blocks' order was 4-10% faster). The next plane
   (xn, yn) asked for during the first column block or, in the row order, a step of rows at a time, on CPUs where that
   pays (deepx_fetch_ahead: not Intel's, where MobileNetV2's depthwise convs were each 5-23% slower with it at 1
   thread, 12-50% at 2, their inputs in cache, written just before) */
enum { DEEPX_DW_BLOCKS = 2, DEEPX_DW_WIDE = 16 };  /* the row order from 3 to 16 column blocks (Q <= 256) */

__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_dw_plane_k(const float* x, int H, int W, const float* w, float bias, float* y, int P,
                                    int Q, int pt, int pl, float lo, float hi, const float* xn, float* yn, const int K,
                                    const int S) {
    __m512 acc[DEEPX_DW_ROWS], wv[49];
    __mmask16 m0[DEEPX_DW_WIDE][7], m1[DEEPX_DW_WIDE][7];
    int blocks = (Q + 15) / 16;
    if (blocks <= DEEPX_DW_BLOCKS || blocks > DEEPX_DW_WIDE) {
        for (int q = 0; q < Q; q += 16) {
            deepx_tap_masks(q * S - pl, W, K, m0[0], m1[0]);
            for (int p = 0; p < P; p += DEEPX_DW_ROWS) {
                if (q == 0)
                    deepx_prefetch_next(xn, H, W, p * S - pt, DEEPX_DW_ROWS * S, yn, P, Q, p, DEEPX_DW_ROWS);
                deepx_dw_step(x, H, W, w, wv, bias, p * S - pt, q * S - pl, m0[0], m1[0], acc, K, S, 0);
                deepx_dw_store(y, P, Q, p, q, acc, lo, hi);
            }
        }
        return;
    }
    for (int b = 0; b < blocks; b++)
        deepx_tap_masks(b * 16 * S - pl, W, K, m0[b], m1[b]);
    #pragma GCC unroll 49
    for (int t = 0; t < K * K; t++)
        wv[t] = _mm512_set1_ps(w[t]);
    for (int p = 0; p < P; p += DEEPX_DW_ROWS) {
        deepx_prefetch_next(xn, H, W, p * S - pt, DEEPX_DW_ROWS * S, yn, P, Q, p, DEEPX_DW_ROWS);
        for (int b = 0; b < blocks; b++) {
            deepx_dw_step(x, H, W, w, wv, bias, p * S - pt, b * 16 * S - pl, m0[b], m1[b], acc, K, S, 1);
            deepx_dw_store(y, P, Q, p, b * 16, acc, lo, hi);
        }
    }
}

/* AVX2 (8 lanes): the masks of a column block's K taps as deepx_tap_masks gives them; whether all of them are
   full (an inner column block: its loads need no masks) */
__attribute__((target("avx2"), always_inline))
static inline int deepx_tap_masks8(int c0, int W, int K, int S, __m256i* m0, __m256i* m1) {
    for (int t = 0; t < K; t++) {
        m0[t] = deepx_lanes8(-(c0 + t), W - (c0 + t));
        m1[t] = deepx_lanes8(-(c0 + t) - 8, W - (c0 + t) - 8);
    }
    return c0 >= 0 && c0 + K + 8 * S - 2 < W;
}

/* 8 floats at p, `fill` in the lanes m masks off (FULL: none, a plain load) */
__attribute__((target("avx2"), always_inline))
static inline __m256 deepx_load8(const float* p, __m256i m, __m256 fill, const int FULL) {
    return FULL ? _mm256_loadu_ps(p) : _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

/* deepx_taps with 8 lanes: at stride 2 a tap's even (odd) lanes of two loads picked by one shuffle, which leaves
   them in the order 0 1 4 5 2 3 6 7 (the same for every tap: lane-wise sums and maxima are put in order once, by
   deepx_order8, not each tap; measured alone, 1 thread, slow spell: MobileNetV2's 96 x 112x112 3x3 / 2 759 -> 704
   us, 144 x 56x56 3x3 / 2 388 -> 342 us) */
__attribute__((target("avx2"), always_inline))
static inline void deepx_taps8(const float* row, const __m256i* m0, const __m256i* m1, __m256 fill, __m256* v,
                               const int K, const int S, const int FULL) {
    for (int t = 0; t < K; t += S) {
        __m256 a = deepx_load8(row + t, m0[t], fill, FULL);
        if (S == 1) {
            v[t] = a;
            continue;
        }
        __m256 b = deepx_load8(row + t + 8, m1[t], fill, FULL);
        v[t] = _mm256_shuffle_ps(a, b, 0x88);
        if (t + 1 < K)
            v[t + 1] = _mm256_shuffle_ps(a, b, 0xdd);
    }
}

/* lanes from deepx_taps8's order back to 0 .. 7 (stride 1: already) */
__attribute__((target("avx2"), always_inline))
static inline __m256 deepx_order8(__m256 v, const int S) {
    return S == 1 ? v : _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xd8));
}

/* the output rows of deepx_dw_plane8_k's column block q (8 outputs from input column c0 on) */
__attribute__((target("avx2,fma"), always_inline))
static inline void deepx_dw_block8(const float* x, int H, int W, const float* w, float bias, float* y, int P, int Q,
                                   int pt, int q, int c0, const __m256i* m0, const __m256i* m1, float lo, float hi,
                                   const float* xn, float* yn, const int K, const int S, const int FULL) {
    enum { ROWS = 4 };
    const int span = (ROWS - 1) * S + K;
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), zero = _mm256_setzero_ps(), acc[ROWS], v[7];
    __m256i out = deepx_lanes8(0, Q - q);
    for (int p = 0; p < P; p += ROWS) {
        int h0 = p * S - pt;
        if (q == 0)
            deepx_prefetch_next(xn, H, W, h0, ROWS * S, yn, P, Q, p, ROWS);
        #pragma GCC unroll 16
        for (int j = 0; j < ROWS; j++)
            acc[j] = _mm256_set1_ps(bias);
        #pragma GCC unroll 16
        for (int i = 0; i < span; i++) {
            if (h0 + i < 0 || h0 + i >= H)
                continue;
            deepx_taps8(x + (size_t)(h0 + i) * W + c0, m0, m1, zero, v, K, S, FULL);
            #pragma GCC unroll 16
            for (int j = 0; j < ROWS; j++) {
                int r = i - j * S;
                if (r >= 0 && r < K)
                    #pragma GCC unroll 16
                    for (int t = 0; t < K; t++)
                        acc[j] = _mm256_fmadd_ps(v[t], _mm256_set1_ps(w[r * K + t]), acc[j]);
            }
        }
        #pragma GCC unroll 16
        for (int j = 0; j < ROWS; j++) {
            if (p + j >= P)
                break;
            __m256 o = deepx_order8(_mm256_min_ps(vhi, _mm256_max_ps(vlo, acc[j])), S);
            if (q + 8 <= Q)
                _mm256_storeu_ps(y + (size_t)(p + j) * Q + q, o);
            else
                _mm256_maskstore_ps(y + (size_t)(p + j) * Q + q, out, o);
        }
    }
}

/* deepx_dw_plane_k with AVX2: 8 outputs of a row per vector, the inner column blocks' loads unmasked (measured
   alone on an AVX2 EPYC against the loops, A/B in one process, 1 / 2 threads: MobileNetV2's 96 x 112x112 3x3 / 2
   460 / 350 us against 786 / 612, its 144 x 56x56 3x3 363 / 311 against 544 / 428, its 960 x 7x7 128 / 118 against
   135 / 132; with the AVX2 pools and im2col, the whole MobileNetV2 -7.6% / -7.5% time, Inception v2 -6.6% / -7.5%,
   SqueezeNet -4.0% / -4.1%) */
__attribute__((target("avx2,fma"), always_inline))
static inline void deepx_dw_plane8_k(const float* x, int H, int W, const float* w, float bias, float* y, int P,
                                     int Q, int pt, int pl, float lo, float hi, const float* xn, float* yn,
                                     const int K, const int S) {
    __m256i m0[7], m1[7];
    for (int q = 0; q < Q; q += 8) {
        int c0 = q * S - pl;
        if (deepx_tap_masks8(c0, W, K, S, m0, m1))
            deepx_dw_block8(x, H, W, w, bias, y, P, Q, pt, q, c0, m0, m1, lo, hi, xn, yn, K, S, 1);
        else
            deepx_dw_block8(x, H, W, w, bias, y, P, Q, pt, q, c0, m0, m1, lo, hi, xn, yn, K, S, 0);
    }
}

/* whether deepx_dw_plane has a kernel for a K x K window at stride s on this CPU (AVX-512, else AVX2) */
static inline int deepx_dw_has(int K, int s) {
    return deepx_vec_lanes() && (K == 3 || K == 5 || K == 7) && (s == 1 || s == 2);
}

/* f(args..., K, S) for a window K of 3, 5 or 7 and a stride S of 1 or 2, each pair compiled on its own (constants
   where inlined); nothing for others */
#define DX_KS(K, S, f, ...)                                                 \
    if ((K) == 3 || (K) == 5 || (K) == 7) {                                 \
        if ((K) == 3 && (S) == 1) f(__VA_ARGS__, 3, 1);                     \
        else if ((K) == 3) f(__VA_ARGS__, 3, 2);                            \
        else if ((K) == 5 && (S) == 1) f(__VA_ARGS__, 5, 1);                \
        else if ((K) == 5) f(__VA_ARGS__, 5, 2);                            \
        else if ((S) == 1) f(__VA_ARGS__, 7, 1);                            \
        else f(__VA_ARGS__, 7, 2);                                          \
    }

__attribute__((target("avx512f,fma")))
static void deepx_dw_plane16(const float* x, int H, int W, const float* w, int K, float bias, float* y, int P, int Q,
                             int s, int pt, int pl, float lo, float hi, const float* xn, float* yn) {
    DX_KS(K, s, deepx_dw_plane_k, x, H, W, w, bias, y, P, Q, pt, pl, lo, hi, xn, yn)
}

__attribute__((target("avx2,fma")))
static void deepx_dw_plane8(const float* x, int H, int W, const float* w, int K, float bias, float* y, int P, int Q,
                            int s, int pt, int pl, float lo, float hi, const float* xn, float* yn) {
    DX_KS(K, s, deepx_dw_plane8_k, x, H, W, w, bias, y, P, Q, pt, pl, lo, hi, xn, yn)
}

static inline void deepx_dw_plane(const float* x, int H, int W, const float* w, int K, float bias, float* y, int P,
                                  int Q, int s, int pt, int pl, float lo, float hi, const float* xn, float* yn) {
    if (deepx_vec_lanes() == 16)
        deepx_dw_plane16(x, H, W, w, K, bias, y, P, Q, s, pt, pl, lo, hi, deepx_fetch_ahead() ? xn : NULL, yn);
    else
        deepx_dw_plane8(x, H, W, w, K, bias, y, P, Q, s, pt, pl, lo, hi, xn, yn);
}

/* the small planes of deepx_dw_lanes: outputs and padded inputs up to these many pixels, AVX-512 (16 lanes) and
   AVX2 (8 lanes: half the tile a pixel; rows of 14 outputs fill the rows' two vectors badly, 81 instructions a
   vector of outputs against the lanes' 56, callgrind; a 29 x 29 tile, 28x28 / 2 -> 14x14, past L1 beside the
   outputs: 0.91x / 0.95x in MobileNetV2 at 1 / 2 threads, for 101 instructions against 125) */
enum { DEEPX_DWL_PQ = 64, DEEPX_DWL_IN = 324, DEEPX_DWL8_PQ = 196, DEEPX_DWL8_IN = 400 };

/* whether deepx_dw_lanes takes a K x K window at stride s with outputs (P,Q) read from a padded input (Hp,Wp) */
static inline int deepx_dw_lanes_has(int K, int s, int P, int Q, int Hp, int Wp) {
    if (!deepx_dw_has(K, s))
        return 0;
    if (deepx_vec_lanes() == 16)
        return P * Q <= DEEPX_DWL_PQ && Hp * Wp <= DEEPX_DWL_IN;
    return P * Q <= DEEPX_DWL8_PQ && Hp * Wp <= DEEPX_DWL8_IN;
}

/* the weights (nc,K*K) and bias of nc channels -> wt (K*K,L) and bt (L), lanes nc.. zero */
static inline void deepx_dw_lanes_weights(const float* w, const float* bias, int KK, int nc, int L, float* wt,
                                          float* bt) {
    memset(wt, 0, (size_t)KK * L * sizeof(float));
    memset(bt, 0, (size_t)L * sizeof(float));
    for (int t = 0; t < KK; t++)
        for (int l = 0; l < nc; l++)
            wt[t * L + l] = w[l * KK + t];
    for (int l = 0; l < nc && bias; l++)
        bt[l] = bias[l];
}

/* nc <= 16 channels of a depthwise K x K conv on small planes, the channels in the lanes: x (nc,H,W) -> y (nc,P,Q)
   = clamp(x * w (nc,K,K) + bias, lo, hi), stride S, pt / pl rows / columns of zero padding before the plane. The
   planes go through 16 x 16 transposes into a zero-padded (Hp,Wp,16) tile on the stack, each output pixel is K*K
   FMAs of whole vectors (no masked lanes, no stride-2 permutes), and a row of outputs shares each tap's weights;
   transposes back on the way out. K and S constants where inlined (deepx_dw_lanes16: the tap loops unroll; measured
   as a bound conv alone, MobileNetV2's 960 x 7 x 7 3x3 37 -> 34 us, its 576 x 14 x 14 3x3 / 2 35 -> 28-33 us) */
__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_dw_lanes16_k(const float* x, int H, int W, const float* w, const float* bias, float* y,
                                      int P, int Q, int pt, int pl, float lo, float hi, int nc, const int K,
                                      const int S) {
    enum { QB = 8 };
    int Hp = (P - 1) * S + K, Wp = (Q - 1) * S + K, HW = H * W, PQ = P * Q, KK = K * K;
    float xt[DEEPX_DWL_IN * 16] __attribute__((aligned(64)));
    float yt[(DEEPX_DWL_PQ + 16) * 16] __attribute__((aligned(64)));
    float wt[49 * 16] __attribute__((aligned(64)));
    float bt[16] __attribute__((aligned(64)));
    __m512 zero = _mm512_setzero_ps(), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    deepx_dw_lanes_weights(w, bias, KK, nc, 16, wt, bt);
    for (int i = 0; i < Hp * Wp; i++)
        _mm512_store_ps(xt + i * 16, zero);
    for (int j = 0, h = pt, c = pl; j < HW; j += 16) {  /* 16 pixels of nc planes -> 16 pixel vectors at (h, c) */
        __m512 r[16];
        __mmask16 m = deepx_lanes(0, HW - j);
        for (int l = 0; l < 16; l++)
            r[l] = l < nc ? _mm512_maskz_loadu_ps(m, x + (size_t)l * HW + j) : zero;
        deepx_transpose16(r);
        for (int i = 0; i < 16 && j + i < HW; i++) {
            if (h < Hp && c < Wp)  /* inputs past the last window are not read */
                _mm512_store_ps(xt + (h * Wp + c) * 16, r[i]);
            if (++c == W + pl) {
                c = pl;
                h++;
            }
        }
    }
    __m512 vb = _mm512_load_ps(bt);
    for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q += QB) {
            __m512 acc[QB];
            int n = Q - q < QB ? Q - q : QB;
            #pragma GCC unroll 8
            for (int i = 0; i < QB; i++)
                acc[i] = vb;
            for (int r = 0; r < K; r++)
                for (int s = 0; s < K; s++) {
                    __m512 wv = _mm512_load_ps(wt + (r * K + s) * 16);
                    const float* in = xt + ((p * S + r) * Wp + q * S + s) * 16;
                    #pragma GCC unroll 8
                    for (int i = 0; i < QB; i++)
                        if (i < n)
                            acc[i] = _mm512_fmadd_ps(_mm512_load_ps(in + i * S * 16), wv, acc[i]);
                }
            #pragma GCC unroll 8
            for (int i = 0; i < QB; i++)
                if (i < n)
                    _mm512_store_ps(yt + (p * Q + q + i) * 16, _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[i])));
        }
    for (int j = 0; j < PQ; j += 16) {  /* 16 output pixels -> nc planes' rows (pixels past PQ: not stored) */
        __m512 r[16];
        __mmask16 m = deepx_lanes(0, PQ - j);
        for (int i = 0; i < 16; i++)
            r[i] = _mm512_load_ps(yt + (j + i) * 16);
        deepx_transpose16(r);
        for (int l = 0; l < nc; l++)
            _mm512_mask_storeu_ps(y + (size_t)l * PQ + j, m, r[l]);
    }
}

__attribute__((target("avx512f,fma")))
static void deepx_dw_lanes16(const float* x, int H, int W, const float* w, const float* bias, float* y, int P, int Q,
                             int K, int S, int pt, int pl, float lo, float hi, int nc) {
    DX_KS(K, S, deepx_dw_lanes16_k, x, H, W, w, bias, y, P, Q, pt, pl, lo, hi, nc)
}

/* deepx_dw_lanes16 with AVX2: nc <= 8 channels in the lanes, 8 x 8 transposes in (a row's 8 columns) and out (8
   output pixels), all 8 sums of a row's block made (past the row's end from the tile's next pixels: no branch in the
   taps' loop, which had kept the sums in memory), zeros written only around the inputs, the last pixels' partial
   stores plain (AMD's masked stores are slow). Measured in MobileNetV2 on the AVX2 EPYC, per conv against the rows,
   two executors alternating, 1 / 2 threads: 960 x 7x7 3x3 1.44x / 1.28-1.31x, 576 x 14x14 3x3 / 2 1.23x / 0.98x,
   384 and 576 x 14x14 3x3 1.09-1.15x / 1.06-1.12x (with the whole tile zeroed: 1.05-1.07x / 0.97-0.98x; the next
   block's inputs fetched meanwhile: 576 x 14x14 alone at 1 thread 1.11x, 0.98-1.00x without) */
__attribute__((target("avx2,fma"), always_inline))
static inline void deepx_dw_lanes8_k(const float* x, int H, int W, const float* w, const float* bias, float* y,
                                     int P, int Q, int pt, int pl, float lo, float hi, int nc, const float* xn,
                                     int nn, const int K, const int S) {
    enum { QB = 8 };
    int Hp = (P - 1) * S + K, Wp = (Q - 1) * S + K, HW = H * W, PQ = P * Q, KK = K * K;
    float xt[(DEEPX_DWL8_IN + 2 * QB) * 8] __attribute__((aligned(32)));  /* + the last sums' reads past it */
    float yt[(DEEPX_DWL8_PQ + 8) * 8] __attribute__((aligned(32)));
    float wt[49 * 8] __attribute__((aligned(32)));
    float bt[8] __attribute__((aligned(32)));
    __m256 zero = _mm256_setzero_ps(), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    deepx_dw_lanes_weights(w, bias, KK, nc, 8, wt, bt);
    int rows = H < Hp - pt ? H : Hp - pt, cols = W < Wp - pl ? W : Wp - pl;  /* inputs past the last window: unread */
    memset(xt, 0, (size_t)pt * Wp * 32);  /* zeros around the inputs: rows above, beside, below and after the tile */
    for (int h = pt; h < pt + rows; h++) {
        for (int c = 0; c < pl; c++)
            _mm256_store_ps(xt + (h * Wp + c) * 8, zero);
        for (int c = pl + cols; c < Wp; c++)
            _mm256_store_ps(xt + (h * Wp + c) * 8, zero);
    }
    memset(xt + (size_t)(pt + rows) * Wp * 8, 0, ((size_t)(Hp - pt - rows) * Wp + 2 * QB) * 32);
    for (int h = 0; h < rows; h++)  /* a row's 8 columns of nc planes -> 8 pixel vectors */
        for (int c = 0; c < cols; c += 8) {
            __m256 r[8];
            int n = cols - c < 8 ? cols - c : 8;
            __m256i m = deepx_lanes8(0, n);
            for (int l = 0; l < 8; l++)
                r[l] = l < nc ? _mm256_maskload_ps(x + (size_t)l * HW + h * W + c, m) : zero;
            deepx_transpose8(r);
            float* d = xt + ((h + pt) * Wp + pl + c) * 8;
            #pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                if (i < n)
                    _mm256_store_ps(d + i * 8, r[i]);
        }
    __m256 vb = _mm256_load_ps(bt);
    for (int p = 0; p < P; p++) {
        size_t a = (size_t)nn * HW * p / P, e = (size_t)nn * HW * (p + 1) / P;
        deepx_prefetch_span(xn + (a & ~(size_t)15), e - (a & ~(size_t)15), 0);  /* the next block's inputs */
        for (int q = 0; q < Q; q += QB) {
            __m256 acc[QB];
            int n = Q - q < QB ? Q - q : QB;  /* all QB sums made (past the row: from the tile's next pixels) */
            #pragma GCC unroll 8
            for (int i = 0; i < QB; i++)
                acc[i] = vb;
            #pragma GCC unroll 7
            for (int r = 0; r < K; r++)
                #pragma GCC unroll 7
                for (int s = 0; s < K; s++) {
                    __m256 wv = _mm256_load_ps(wt + (r * K + s) * 8);
                    const float* in = xt + ((p * S + r) * Wp + q * S + s) * 8;
                    #pragma GCC unroll 8
                    for (int i = 0; i < QB; i++)
                        acc[i] = _mm256_fmadd_ps(_mm256_load_ps(in + i * S * 8), wv, acc[i]);
                }
            #pragma GCC unroll 8
            for (int i = 0; i < QB; i++)
                if (i < n)
                    _mm256_store_ps(yt + (p * Q + q + i) * 8, _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc[i])));
        }
    }
    for (int j = 0; j < PQ; j += 8) {  /* 8 output pixels -> nc planes' rows (pixels past PQ: not stored) */
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_load_ps(yt + (j + i) * 8);
        deepx_transpose8(r);
        for (int l = 0; l < nc; l++)
            if (j + 8 <= PQ)
                _mm256_storeu_ps(y + (size_t)l * PQ + j, r[l]);
            else
                deepx_store_n(y + (size_t)l * PQ + j, r[l], PQ - j);
    }
}

__attribute__((target("avx2,fma")))
static void deepx_dw_lanes8(const float* x, int H, int W, const float* w, const float* bias, float* y, int P, int Q,
                            int K, int S, int pt, int pl, float lo, float hi, int nc, const float* xn, int nn) {
    DX_KS(K, S, deepx_dw_lanes8_k, x, H, W, w, bias, y, P, Q, pt, pl, lo, hi, nc, xn, nn)
}
#undef DX_KS

/* nc channels (<= deepx_vec_lanes()) of a depthwise conv on a small plane, the channels in the lanes; xn: the next
   block's nn planes, fetched meanwhile with AVX2 (nn 0: none) */
static inline void deepx_dw_lanes(const float* x, int H, int W, const float* w, const float* bias, float* y, int P,
                                  int Q, int K, int S, int pt, int pl, float lo, float hi, int nc, const float* xn,
                                  int nn) {
    if (deepx_vec_lanes() == 16)
        deepx_dw_lanes16(x, H, W, w, bias, y, P, Q, K, S, pt, pl, lo, hi, nc);
    else
        deepx_dw_lanes8(x, H, W, w, bias, y, P, Q, K, S, pt, pl, lo, hi, nc, xn, nn);
}
#else
static inline int deepx_dw_has(int K, int s) { return 0; }

static inline void deepx_dw_plane(const float* x, int H, int W, const float* w, int K, float bias, float* y, int P,
                                  int Q, int s, int pt, int pl, float lo, float hi, const float* xn, float* yn) {}

static inline int deepx_dw_lanes_has(int K, int s, int P, int Q, int Hp, int Wp) { return 0; }

static inline void deepx_dw_lanes(const float* x, int H, int W, const float* w, const float* bias, float* y, int P,
                                  int Q, int K, int S, int pt, int pl, float lo, float hi, int nc, const float* xn,
                                  int nn) {}
#endif
#endif
