/* Segments of an im2col row with AVX-512 (or AVX2, 8 a vector): the n outputs of an output row that a weight's tap
   reads, 16 a vector through deepx_tap's masked loads (the padding read as zeros, stride 2's even columns picked by
   one permute), stored at once, in place of a memset, memcpy or scalar loop per image row (7 to 56 floats in most
   convs). Measured in whole models against those (in-process A/B): 0.98-1.01x the time on Inception v2 and ResNet50,
   1 and 2 threads. A run of whole output rows is one call, each column block's masks made once for all its rows:
   ResNet50's strided convs 4-11% faster in the model than a call per row, the whole run 41.0 -> 40.3 ms at 1 thread,
   24.0 -> 23.5 ms at 2 (in-process A/B). deepx_im2col_has says where there is one (elsewhere the caller's loops
   run). */
#ifndef DEEPX_IM2COL_H
#define DEEPX_IM2COL_H
#include "deepx_dw.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* whether deepx_im2col_rows copies at stride s on this CPU (AVX-512, else AVX2) */
static inline int deepx_im2col_has(int s) {
    return deepx_vec_lanes() && (s == 1 || s == 2);
}

/* dst (rows, n) = segments of output rows: row i from the plane's input row ih = ih0 + i * sh, its column j
   plane[ih, c0 + S j] (0 where ih lies outside [0, H) or c0 + S j outside [0, W)); each block of 16 columns' masks
   made once for all rows */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_im2col_rows_s(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                       int rows, const int S) {
    __m512 zero = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16, c0 += 16 * S) {
        __mmask16 m0 = deepx_lanes(-c0, W - c0), m1 = deepx_lanes(-c0 - 16, W - c0 - 16), out = deepx_lanes(0, n - j);
        for (int i = 0, ih = ih0; i < rows; i++, ih += sh) {
            __m512 v = ih >= 0 && ih < H ? deepx_tap(plane + (size_t)ih * W + c0, m0, m1, zero, S) : zero;
            _mm512_mask_storeu_ps(dst + (size_t)i * n + j, out, v);
        }
    }
}

/* a block of 8 columns (j) of deepx_im2col_rows8_s: its loads unmasked where FULL, its stores where j + 8 <= n */
__attribute__((target("avx2"), always_inline))
static inline void deepx_im2col_block8(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                       int rows, int j, const __m256i* m0, const __m256i* m1, const int S,
                                       const int FULL) {
    __m256 zero = _mm256_setzero_ps(), v;
    __m256i out = deepx_lanes8(0, n - j);
    for (int i = 0, ih = ih0; i < rows; i++, ih += sh) {
        v = zero;
        if (ih >= 0 && ih < H) {
            deepx_taps8(plane + (size_t)ih * W + c0, m0, m1, zero, &v, 1, S, FULL);
            v = deepx_order8(v, S);
        }
        if (j + 8 <= n)
            _mm256_storeu_ps(dst + (size_t)i * n + j, v);
        else
            _mm256_maskstore_ps(dst + (size_t)i * n + j, out, v);
    }
}

/* deepx_im2col_rows_s with AVX2: 8 columns a vector (measured on an AVX2 EPYC, A/B in one process, 1 / 2 threads:
   MobileNetV2's 3x3 / 2 stem 3 -> 32 on 224x224 550 / 390 us against 641 / 452 with the scalar rows) */
__attribute__((target("avx2"), always_inline))
static inline void deepx_im2col_rows8_s(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                        int rows, const int S) {
    __m256i m0, m1;
    for (int j = 0; j < n; j += 8, c0 += 8 * S) {
        if (deepx_tap_masks8(c0, W, 1, S, &m0, &m1))
            deepx_im2col_block8(dst, plane, H, W, ih0, sh, c0, n, rows, j, &m0, &m1, S, 1);
        else
            deepx_im2col_block8(dst, plane, H, W, ih0, sh, c0, n, rows, j, &m0, &m1, S, 0);
    }
}

__attribute__((target("avx512f")))
static void deepx_im2col_rows16(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                int rows, int s) {
    if (s == 1)
        deepx_im2col_rows_s(dst, plane, H, W, ih0, sh, c0, n, rows, 1);
    else
        deepx_im2col_rows_s(dst, plane, H, W, ih0, sh, c0, n, rows, 2);
}

__attribute__((target("avx2")))
static void deepx_im2col_rows8(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                               int rows, int s) {
    if (s == 1)
        deepx_im2col_rows8_s(dst, plane, H, W, ih0, sh, c0, n, rows, 1);
    else
        deepx_im2col_rows8_s(dst, plane, H, W, ih0, sh, c0, n, rows, 2);
}

static inline void deepx_im2col_rows(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                     int rows, int s) {
    if (deepx_vec_lanes() == 16)
        deepx_im2col_rows16(dst, plane, H, W, ih0, sh, c0, n, rows, s);
    else
        deepx_im2col_rows8(dst, plane, H, W, ih0, sh, c0, n, rows, s);
}
#else
static inline int deepx_im2col_has(int s) { return 0; }

static inline void deepx_im2col_rows(float* dst, const float* plane, int H, int W, int ih0, int sh, int c0, int n,
                                     int rows, int s) {}
#endif
#endif
