/* Max and average pooling of one plane with AVX-512 (or AVX2, 8 a vector) over K x K windows (K 2, 3 or 5, stride 1
   or 2, no dilation): 16 outputs of a row per vector, the padding read through masked loads (-inf for max, 0 for the
   sums), stride 2's even columns picked from two loads by one permute, the average's cell counts per lane. A
   row-by-row loop costs more than the arithmetic on the small planes of inception modules; this does not.
   deepx_pool_has says where there is a kernel (elsewhere the caller's loops run). */
#ifndef DEEPX_POOL_H
#define DEEPX_POOL_H
#include <math.h>
#include "deepx_dw.h"

enum { DEEPX_POOL_MAX = 0, DEEPX_POOL_AVG = 1, DEEPX_POOL_AVG_COUNT_PAD = 2 };

#if defined(__x86_64__) && defined(__GNUC__)
/* the max of a and b, or their sum */
__attribute__((target("avx512f"), always_inline))
static inline __m512 deepx_pool_op(__m512 a, __m512 b, int mode) {
    return mode == DEEPX_POOL_MAX ? _mm512_max_ps(a, b) : _mm512_add_ps(a, b);
}

/* y (P,Q) = the max or mean over the windows of x (H,W), stride S, padding pt, pl before the plane and pb, pr
   after it (the mean counts padding cells with AVG_COUNT_PAD, never those past pb, pr); a max window wholly
   in the padding gives -inf; the next plane's lines (xn, yn: NULL for none) asked for during the first column
   block. Separable: each input row's K taps are combined once (kept in a ring of 8 rows), then each output
   row combines its K rows' results: at stride 1 and K = 3, 3 loads and 5 adds or maxes an output row, not 9 and 9
   in one chain (measured alone, one thread, A/B in one process: 3x3 mean over 576 planes of 14x14 55 -> 44 us,
   192 of 28x28 66 -> 47 us; 3x3 / 2 max over 64 planes of 112x112 149 -> 128 us; Inception v2's 13 pools in the
   model 0.84 -> 0.70 ms at 1 thread, 0.43 -> 0.37 ms at 2) */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_pool_plane_k(const float* x, int H, int W, float* y, int P, int Q, int pt, int pl,
                                      int pb, int pr, int mode, const float* xn, float* yn, const int K, const int S) {
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 fill = _mm512_set1_ps(mode == DEEPX_POOL_MAX ? -INFINITY : 0.0f);
    __mmask16 m0[5], m1[5];
    __m512 ring[8];
    const float inv[6] = {0.0f, 1.0f, 1.0f / 2, 1.0f / 3, 1.0f / 4, 1.0f / 5};  /* 1 / the rows of a window */
    for (int q = 0; q < Q; q += 16) {
        int c0 = q * S - pl;  /* the input column of lane 0, tap 0 */
        deepx_tap_masks(c0, W, K, m0, m1);
        /* cells of each lane's window in a row: its columns w0 .. w0 + K in [0, W), or in [-pl, W + pr) */
        __m512i w0 = _mm512_add_epi32(_mm512_set1_epi32(c0), _mm512_mullo_epi32(lane, _mm512_set1_epi32(S)));
        int pad = mode == DEEPX_POOL_AVG_COUNT_PAD;
        __m512 nw = _mm512_cvtepi32_ps(_mm512_sub_epi32(
            _mm512_min_epi32(_mm512_add_epi32(w0, _mm512_set1_epi32(K)), _mm512_set1_epi32(pad ? W + pr : W)),
            _mm512_max_epi32(w0, _mm512_set1_epi32(pad ? -pl : 0))));
        __m512 rw = _mm512_div_ps(_mm512_set1_ps(1.0f), nw);
        __mmask16 out = deepx_lanes(0, Q - q);
        int next = -pt;  /* the first input row not yet in the ring */
        for (int p = 0; p < P; p++) {
            int h0 = p * S - pt, nh = 0;
            if (q == 0)
                deepx_prefetch_next(xn, H, W, h0 + K - S, S, yn, P, Q, p, 1);
            for (; next < h0 + K; next++) {  /* the rows this window reaches first: their taps combined */
                if (next < 0 || next >= H)
                    continue;
                const float* row = x + (size_t)next * W + c0;
                __m512 u[5], v;
                deepx_taps(row, m0, m1, fill, u, K, S);  /* stride 2: 3x3 / 2 max 8-15% faster than a tap each */
                v = u[0];
                for (int t = 1; t < K; t++)
                    v = deepx_pool_op(v, u[t], mode);
                ring[next & 7] = v;
            }
            __m512 acc = fill;
            for (int r = 0; r < K; r++) {
                if (h0 + r < 0 || h0 + r >= H)
                    continue;
                nh++;
                acc = deepx_pool_op(acc, ring[(h0 + r) & 7], mode);
            }
            if (mode == DEEPX_POOL_AVG_COUNT_PAD)
                nh = (h0 + K < H + pb ? h0 + K : H + pb) - (h0 > -pt ? h0 : -pt);
            if (mode != DEEPX_POOL_MAX)
                acc = _mm512_mul_ps(acc, _mm512_mul_ps(rw, _mm512_set1_ps(inv[nh])));
            _mm512_mask_storeu_ps(y + (size_t)p * Q + q, out, acc);
        }
    }
}

/* the output rows of deepx_pool_plane8_k's column block q (8 outputs from input column c0 on) */
__attribute__((target("avx2"), always_inline))
static inline void deepx_pool_block8(const float* x, int H, int W, float* y, int P, int Q, int pt, int pl, int pb,
                                     int pr, int mode, const float* xn, float* yn, int q, int c0, const __m256i* m0,
                                     const __m256i* m1, const int K, const int S, const int FULL) {
    __m256 fill = _mm256_set1_ps(mode == DEEPX_POOL_MAX ? -INFINITY : 0.0f), ring[8];
    const float inv[6] = {0.0f, 1.0f, 1.0f / 2, 1.0f / 3, 1.0f / 4, 1.0f / 5};
    __m256i w0 = _mm256_add_epi32(_mm256_set1_epi32(c0), _mm256_setr_epi32(0, S, 2 * S, 3 * S, 4 * S, 5 * S, 6 * S,
                                                                              7 * S));
    int pad = mode == DEEPX_POOL_AVG_COUNT_PAD;
    __m256 nw = _mm256_cvtepi32_ps(_mm256_sub_epi32(
        _mm256_min_epi32(_mm256_add_epi32(w0, _mm256_set1_epi32(K)), _mm256_set1_epi32(pad ? W + pr : W)),
        _mm256_max_epi32(w0, _mm256_set1_epi32(pad ? -pl : 0))));
    __m256 rw = _mm256_div_ps(_mm256_set1_ps(1.0f), nw);
    __m256i out = deepx_lanes8(0, Q - q);
    int next = -pt;
    for (int p = 0; p < P; p++) {
        int h0 = p * S - pt, nh = 0;
        if (q == 0)
            deepx_prefetch_next(xn, H, W, h0 + K - S, S, yn, P, Q, p, 1);
        for (; next < h0 + K; next++) {
            if (next < 0 || next >= H)
                continue;
            __m256 u[5], v;
            deepx_taps8(x + (size_t)next * W + c0, m0, m1, fill, u, K, S, FULL);
            v = u[0];
            for (int t = 1; t < K; t++)
                v = mode == DEEPX_POOL_MAX ? _mm256_max_ps(v, u[t]) : _mm256_add_ps(v, u[t]);
            ring[next & 7] = v;
        }
        __m256 acc = fill;
        for (int r = 0; r < K; r++) {
            if (h0 + r < 0 || h0 + r >= H)
                continue;
            nh++;
            __m256 u = ring[(h0 + r) & 7];
            acc = mode == DEEPX_POOL_MAX ? _mm256_max_ps(acc, u) : _mm256_add_ps(acc, u);
        }
        if (mode == DEEPX_POOL_AVG_COUNT_PAD)
            nh = (h0 + K < H + pb ? h0 + K : H + pb) - (h0 > -pt ? h0 : -pt);
        acc = deepx_order8(acc, S);
        if (mode != DEEPX_POOL_MAX)
            acc = _mm256_mul_ps(acc, _mm256_mul_ps(rw, _mm256_set1_ps(inv[nh])));
        if (q + 8 <= Q)
            _mm256_storeu_ps(y + (size_t)p * Q + q, acc);
        else
            _mm256_maskstore_ps(y + (size_t)p * Q + q, out, acc);
    }
}

/* deepx_pool_plane_k with AVX2: 8 outputs of a row per vector, the inner column blocks' loads unmasked (measured
   alone on an AVX2 EPYC against the row loops, A/B in one process, 1 / 2 threads: 3x3 / 2 max over 64 planes of
   112x112 321 / 287 us against 515 / 402, SqueezeNet's 96 x 109x109 466 / 397 against 751 / 590; 3x3 mean over 576
   planes of 14x14 188 / 166 against 489 / 382) */
__attribute__((target("avx2"), always_inline))
static inline void deepx_pool_plane8_k(const float* x, int H, int W, float* y, int P, int Q, int pt, int pl, int pb,
                                       int pr, int mode, const float* xn, float* yn, const int K, const int S) {
    __m256i m0[5], m1[5];
    for (int q = 0; q < Q; q += 8) {
        int c0 = q * S - pl;
        if (deepx_tap_masks8(c0, W, K, S, m0, m1))
            deepx_pool_block8(x, H, W, y, P, Q, pt, pl, pb, pr, mode, xn, yn, q, c0, m0, m1, K, S, 1);
        else
            deepx_pool_block8(x, H, W, y, P, Q, pt, pl, pb, pr, mode, xn, yn, q, c0, m0, m1, K, S, 0);
    }
}

/* whether deepx_pool_plane has a kernel for a K x K window at stride s on this CPU (AVX-512, else AVX2) */
static inline int deepx_pool_has(int K, int s) {
    return deepx_vec_lanes() && (K == 2 || K == 3 || K == 5) && (s == 1 || s == 2);
}

#define DX_POOL(f, k)                                                   \
    if (K == k && s == 1)                                               \
        f(x, H, W, y, P, Q, pt, pl, pb, pr, mode, xn, yn, k, 1);        \
    else if (K == k)                                                    \
        f(x, H, W, y, P, Q, pt, pl, pb, pr, mode, xn, yn, k, 2);

__attribute__((target("avx512f")))
static void deepx_pool_plane16(const float* x, int H, int W, float* y, int P, int Q, int K, int s, int pt, int pl,
                               int pb, int pr, int mode, const float* xn, float* yn) {
    DX_POOL(deepx_pool_plane_k, 2)
    DX_POOL(deepx_pool_plane_k, 3)
    DX_POOL(deepx_pool_plane_k, 5)
}

__attribute__((target("avx2")))
static void deepx_pool_plane8(const float* x, int H, int W, float* y, int P, int Q, int K, int s, int pt, int pl,
                              int pb, int pr, int mode, const float* xn, float* yn) {
    DX_POOL(deepx_pool_plane8_k, 2)
    DX_POOL(deepx_pool_plane8_k, 3)
    DX_POOL(deepx_pool_plane8_k, 5)
}
#undef DX_POOL

static inline void deepx_pool_plane(const float* x, int H, int W, float* y, int P, int Q, int K, int s, int pt,
                                    int pl, int pb, int pr, int mode, const float* xn, float* yn) {
    if (deepx_vec_lanes() == 16)
        deepx_pool_plane16(x, H, W, y, P, Q, K, s, pt, pl, pb, pr, mode, xn, yn);
    else
        deepx_pool_plane8(x, H, W, y, P, Q, K, s, pt, pl, pb, pr, mode, xn, yn);
}
#else
static inline int deepx_pool_has(int K, int s) { return 0; }

static inline void deepx_pool_plane(const float* x, int H, int W, float* y, int P, int Q, int K, int s, int pt,
                                    int pl, int pb, int pr, int mode, const float* xn, float* yn) {}
#endif
#endif
