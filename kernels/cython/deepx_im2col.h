/* One segment of an im2col row with AVX-512: the n outputs of one output row that a weight's tap reads, 16 a vector
   through deepx_tap's masked loads (the padding read as zeros, stride 2's even columns picked by one permute), stored
   at once, in place of a memset, memcpy or scalar loop per image row (7 to 56 floats in most convs). Measured in
   whole models against those (in-process A/B): 0.98-1.01x the time on Inception v2 and ResNet50, 1 and 2 threads.
   deepx_im2col_has says where there is one (elsewhere the caller's loops run). */
#ifndef DEEPX_IM2COL_H
#define DEEPX_IM2COL_H
#include "deepx_dw.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* whether deepx_im2col_seg copies at stride s on this CPU */
static inline int deepx_im2col_has(int s) {
    return deepx_gemm_cpu() == 2 && (s == 1 || s == 2);
}

/* dst (n) = row[c0 + S j] for j < n, 0 where c0 + S j lies outside [0, W) or row is NULL (an input row in the
   padding) */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_im2col_seg_s(float* dst, const float* row, int W, int c0, int n, const int S) {
    __m512 zero = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16, c0 += 16 * S) {
        __m512 v = row ? deepx_tap(row + c0, deepx_lanes(-c0, W - c0), deepx_lanes(-c0 - 16, W - c0 - 16), zero, S)
                       : zero;
        _mm512_mask_storeu_ps(dst + j, deepx_lanes(0, n - j), v);
    }
}

__attribute__((target("avx512f")))
static inline void deepx_im2col_seg(float* dst, const float* row, int W, int c0, int n, int s) {
    if (s == 1)
        deepx_im2col_seg_s(dst, row, W, c0, n, 1);
    else
        deepx_im2col_seg_s(dst, row, W, c0, n, 2);
}
#else
static inline int deepx_im2col_has(int s) { return 0; }

static inline void deepx_im2col_seg(float* dst, const float* row, int W, int c0, int n, int s) {}
#endif
#endif
