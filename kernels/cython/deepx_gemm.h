/* c (m,n) = a (m,k) · b (k,n) + bias (m), optionally clamped to [lo, hi], with a (a layer's weights)
   packed once into panels of MR rows, k-major (deepx_pack_a), and b, c row-major, read and written in
   place (no copy of the activations). Register tiles of MR x NR floats, AVX-512: 12 x 32 (level 2) or 8 x 48
   (level 3, for row counts that 8 divides better: 24 accumulators either way); level 0 (no AVX-512, not
   x86-64, or DEEPX_GEMM=blas): BLAS, but with AVX2 and FMA an AVX2 6 x 16 tile (level 1) for few k, the convs of up
   to DEEPX_K1 taps (MobileNetV2's expanding 1x1 convs, the 3x3 stems), where OpenBLAS's
   separate pass for the bias and activation over a large output costs what its faster kernel saves; with more k
   OpenBLAS's Haswell kernels win (a whole AVX2 GEMM was measured slower, and this tile for k up to 64 a wash);
   and a 16 x 6 tile with a's rows in the lanes (level 4) for few columns, the convs on small planes (7x7, 14x14),
   where OpenBLAS packs all of a, the larger operand, on every call.
   Bias, a residual (res: a tensor laid out as c) and clamp are applied in registers,
   so a conv's output is written once; b's rows may also be read through a table of offsets (deepx_gemm_implicit: a
   conv's padded input in place). */
#ifndef DEEPX_GEMM_H
#define DEEPX_GEMM_H
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { DEEPX_KC = 256, DEEPX_BBLOCK = 384 << 10 };  /* k blocks of <= KC; b's column blocks <= 384 KB */
/* level 1: k up to DEEPX_K1; b in blocks of DEEPX_NC1 columns (measured on the AVX2 EPYC, two executors
   alternating, against BLAS, 1 / 2 threads: MobileNetV2 +0.6% / -4.2% and -2.5% / -6.0% time, SqueezeNet -0.2% /
   -2.0%, ShuffleNet -0.8% / -0.5% (with k up to 64: DenseNet121 and Inception v2 up to 2% slower, MobileNetV2 -2.7% at
   2 threads);
   alone, 1 / 2 threads: MobileNetV2's 16 -> 96 on 112x112 1.04-1.26x / 0.97-1.5x, SqueezeNet's 16 -> 64 on 55x55
   1.12-1.19x / 1.17-1.23x, the 3 -> 32 3x3 / 2 stem 1.01x / 1.09x) */
enum { DEEPX_K1 = 32, DEEPX_NC1 = 384 };

static int deepx_gemm_level = -1;

/* bytes of a core's L2 cache, as the C library reports it (512 KB where it cannot: the AVX2 EPYC's) */
static long deepx_l2 = 0;

static inline long deepx_l2_bytes(void) {
    if (!deepx_l2) {
        long v = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
        v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        deepx_l2 = v > 0 ? v : 512 << 10;
    }
    return deepx_l2;
}

/* res + o, or NULL without a residual */
#define DX_AT(res, o) ((res) ? (res) + (o) : NULL)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

static inline int deepx_gemm_cpu(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 2 : 0;
}

/* lanes j with lo <= j < hi, both clamped to [0, 16] */
static inline __mmask16 deepx_lanes(int lo, int hi) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1u) << lo);
}

/* the float lanes of the vector kernels of deepx_dw.h, deepx_pool.h, deepx_im2col.h and deepx_wino.h on this CPU: 16
   (AVX-512), 8 (AVX2 and FMA), 0 (none: the callers' loops); found once (callers ask per row) */
static int deepx_vec_cpu = -1;

static inline int deepx_vec_lanes(void) {
    if (deepx_vec_cpu < 0) {
        __builtin_cpu_init();
        deepx_vec_cpu = __builtin_cpu_supports("avx512f") ? 16
                        : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 0;
    }
    return deepx_vec_cpu;
}

/* whether this CPU gains from the kernels' software prefetches of what they read next (the GEMM's next column tiles,
   the depthwise kernel's next plane): AMD's, where they were measured (the EPYCs); not Intel's (measured on the
   AVX-512 Xeon, each setting alternating in one process, whole runs: without the GEMM's, MobileNetV2 1.9-3.4% faster
   at 1 thread, ShuffleNet 2%, Inception v2 1%, at 2 threads within 1%; without the depthwise kernel's, MobileNetV2
   2-3% faster at 1 thread and 10-13% at 2) */
static int deepx_fetch_cpu = -1;

static inline int deepx_fetch_ahead(void) {
    if (deepx_fetch_cpu < 0) {
        __builtin_cpu_init();
        deepx_fetch_cpu = !__builtin_cpu_is("intel");
    }
    return deepx_fetch_cpu;
}

/* of 8 lanes, those j with lo <= j < hi, as a mask vector (AVX2) */
__attribute__((target("avx2"), always_inline))
static inline __m256i deepx_lanes8(int lo, int hi) {
    __m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(j, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), j));
}

/* r[i] (16 pixels' 16 channels) -> r[l] (channel l's 16 pixels) */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_transpose16(__m512* r) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* row k of b: ldb apart, or at b + off[k] (a conv's padded input read in place: off has 4 entries past the end, for
   the prefetches) */
#define DX_ROW(k) (off ? b + off[k] : b + (size_t)(k) * ldb)
#define DX_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DX_ROWS12(X) DX_ROWS6(X) X(6) X(7) X(8) X(9) X(10) X(11)

/* one MR x NR tile: c = [c or bias] + a (MR,kc) · b (kc,NR) over kc [+ rp, a residual laid out as c from cp on:
   deepx_tile gives it on the last k block]; rows >= mr, columns >= nr untouched;
   P: rows of a's panels (12, or 8 where 12 would leave many rows of the last panel empty: then up to 48
   columns, three vectors); T: columns past the vectors' 16, 32 or 48 (0-2, a plane's last few: deepx_cols), each
   with the panel's rows in the lanes of one accumulator, gathered and scattered */
__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_tile_avx512_p(int kc, const float* a, const float* b, size_t ldb, const int* off,
                                       float* cp, const float* rp, size_t ldc, int mr, int nr, const float* bias,
                                       int first, int clip, float lo, float hi, const int P, const int T) {
    const int nv = nr - T;  /* columns in the vectors */
    __mmask16 m0 = deepx_lanes(0, nv), m1 = deepx_lanes(0, nv - 16), m2 = deepx_lanes(0, nv - 32);
    __mmask16 rows = deepx_lanes(0, mr), lanes = deepx_lanes(0, P);
    __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_epi32((int)ldc));
#define DX_TAILS(X) X(0) X(1)
#define DX_EINIT(j)                                                                \
    __m512 e##j = _mm512_setzero_ps();                                             \
    if (j < T && !first)                                                           \
        e##j = _mm512_mask_i32gather_ps(e##j, rows, at, cp + nv + j, 4);           \
    else if (j < T && bias)                                                        \
        e##j = _mm512_maskz_loadu_ps(rows, bias);
    DX_TAILS(DX_EINIT)
#define DX_EFMA(j) if (j < T) e##j = _mm512_fmadd_ps(ac, _mm512_set1_ps(bk[nv + j]), e##j);
#define DX_TAIL(bk)                                                                \
        if (T) {                                                                   \
            __m512 ac = _mm512_maskz_loadu_ps(lanes, a);                           \
            DX_TAILS(DX_EFMA)                                                      \
        }
#define DX_DECL(i) __m512 c##i##0, c##i##1, c##i##2;
    DX_ROWS12(DX_DECL)
#define DX_INIT(i)                                                                 \
    if (!first && i < mr) {                                                        \
        c##i##0 = _mm512_maskz_loadu_ps(m0, cp + i * ldc);                         \
        c##i##1 = _mm512_maskz_loadu_ps(m1, cp + i * ldc + 16);                    \
        if (P == 8) c##i##2 = _mm512_maskz_loadu_ps(m2, cp + i * ldc + 32);          \
    } else {                                                                       \
        c##i##0 = c##i##1 = c##i##2 = _mm512_set1_ps(first && bias && i < mr ? bias[i] : 0.0f); \
    }
    DX_ROWS12(DX_INIT)
#define DX_FMA(i)                                                                  \
        if (i < P) {                                                               \
            __m512 av = _mm512_set1_ps(a[i]);                                      \
            c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);                            \
            c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);                            \
        }
#define DX_FMA1(i) if (i < P) c##i##0 = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), b0, c##i##0);
#define DX_FMA3(i)                                                                  \
        if (i < P) {                                                               \
            __m512 av = _mm512_set1_ps(a[i]);                                      \
            c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);                            \
            c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);                            \
            c##i##2 = _mm512_fmadd_ps(av, b2, c##i##2);                            \
        }
    if (P == 8 && nv > 32) {
        for (int k = 0; k < kc; k++, a += P) {
            const float* bk = DX_ROW(k);
            __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16), b2 = _mm512_maskz_loadu_ps(m2, bk + 32);
            _mm_prefetch((const char*)(a + P * 48), _MM_HINT_T0);
            _mm_prefetch((const char*)(DX_ROW(k + 4)), _MM_HINT_T0);
            _mm_prefetch((const char*)(DX_ROW(k + 4) + 16), _MM_HINT_T0);
            _mm_prefetch((const char*)(DX_ROW(k + 4) + 32), _MM_HINT_T0);
            if (T) _mm_prefetch((const char*)(DX_ROW(k + 4) + nv), _MM_HINT_T0);
            DX_ROWS12(DX_FMA3)
            DX_TAIL(bk)
        }
    } else if (nv > 16) {
        for (int k = 0; k < kc; k++, a += P) {
            const float* bk = DX_ROW(k);
            __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
            _mm_prefetch((const char*)(a + P * 48), _MM_HINT_T0);  /* a streams from memory, */
            _mm_prefetch((const char*)(DX_ROW(k + 4)), _MM_HINT_T0);  /* b's rows are far apart */
            _mm_prefetch((const char*)(DX_ROW(k + 4) + 16), _MM_HINT_T0);
            if (T) _mm_prefetch((const char*)(DX_ROW(k + 4) + nv), _MM_HINT_T0);
            DX_ROWS12(DX_FMA)
            DX_TAIL(bk)
        }
    } else {  /* one vector of columns: half the work */
        for (int k = 0; k < kc; k++, a += P) {
            const float* bk = DX_ROW(k);
            __m512 b0 = _mm512_maskz_loadu_ps(m0, bk);
            DX_ROWS12(DX_FMA1)
            DX_TAIL(bk)
        }
    }
#define DX_RES(i)                                                                  \
    if (i < mr) {                                                                  \
        c##i##0 = _mm512_add_ps(c##i##0, _mm512_maskz_loadu_ps(m0, rp + i * ldc)); \
        c##i##1 = _mm512_add_ps(c##i##1, _mm512_maskz_loadu_ps(m1, rp + i * ldc + 16)); \
        if (P == 8) c##i##2 = _mm512_add_ps(c##i##2, _mm512_maskz_loadu_ps(m2, rp + i * ldc + 32)); \
    }
    if (rp) {
        DX_ROWS12(DX_RES)
#define DX_ERES(j)                                                                 \
        if (j < T) e##j = _mm512_add_ps(e##j, _mm512_mask_i32gather_ps(e##j, rows, at, rp + nv + j, 4));
        DX_TAILS(DX_ERES)
    }
    if (clip) {
        __m512 vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
#define DX_CLIP(i)                                                                 \
        c##i##0 = _mm512_min_ps(vh, _mm512_max_ps(vl, c##i##0));                  \
        c##i##1 = _mm512_min_ps(vh, _mm512_max_ps(vl, c##i##1));                  \
        if (P == 8) c##i##2 = _mm512_min_ps(vh, _mm512_max_ps(vl, c##i##2));
        DX_ROWS12(DX_CLIP)
#define DX_ECLIP(j) if (j < T) e##j = _mm512_min_ps(vh, _mm512_max_ps(vl, e##j));
        DX_TAILS(DX_ECLIP)
    }
#define DX_STORE(i)                                                                \
    if (i < mr) {                                                                  \
        _mm512_mask_storeu_ps(cp + i * ldc, m0, c##i##0);                          \
        _mm512_mask_storeu_ps(cp + i * ldc + 16, m1, c##i##1);                     \
        if (P == 8) _mm512_mask_storeu_ps(cp + i * ldc + 32, m2, c##i##2);            \
    }
    DX_ROWS12(DX_STORE)
#define DX_ESTORE(j) if (j < T) _mm512_mask_i32scatter_ps(cp + nv + j, rows, at, e##j, 4);
    DX_TAILS(DX_ESTORE)
#undef DX_TAILS
#undef DX_EINIT
#undef DX_EFMA
#undef DX_ERES
#undef DX_ECLIP
#undef DX_ESTORE
#undef DX_TAIL
#undef DX_DECL
#undef DX_INIT
#undef DX_FMA
#undef DX_FMA1
#undef DX_FMA3
#undef DX_CLIP
#undef DX_RES
#undef DX_STORE
}

/* the two panel heights, each compiled on its own (P and T constants: no code for the rows and tail it lacks) */
__attribute__((target("avx512f,fma")))
static inline void deepx_tile_avx512_12(int kc, const float* a, const float* b, size_t ldb, const int* off, float* cp,
                                        const float* rp, size_t ldc, int mr, int nr, const float* bias, int first,
                                        int clip, float lo, float hi) {
    switch (nr > 16 ? nr % 16 : 0) {
    case 0: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 12, 0); break;
    case 1: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 12, 1); break;
    default: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 12, 2);
    }
}

__attribute__((target("avx512f,fma")))
static inline void deepx_tile_avx512_8(int kc, const float* a, const float* b, size_t ldb, const int* off, float* cp,
                                       const float* rp, size_t ldc, int mr, int nr, const float* bias, int first,
                                       int clip, float lo, float hi) {
    switch (nr > 16 ? nr % 16 : 0) {
    case 0: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 8, 0); break;
    case 1: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 8, 1); break;
    default: deepx_tile_avx512_p(kc, a, b, ldb, off, cp, rp, ldc, mr, nr, bias, first, clip, lo, hi, 8, 2);
    }
}

/* a tile of under 8 columns (a row of pixels' last few): rows in the lanes of one vector (P of 16),
   one accumulator per column, c gathered and scattered; the wide kernels would waste most of their lanes */
__attribute__((target("avx512f,fma")))
static inline void deepx_tile_avx512_t(int kc, const float* a, const float* b, size_t ldb, const int* off, float* cp,
                                       const float* rp, size_t ldc, int mr, int nr, const float* bias, int first,
                                       int clip, float lo, float hi, int P) {
    __mmask16 rows = deepx_lanes(0, mr);
    __m512i at = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_epi32((int)ldc));
#define DX_COLS7(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)
#define DX_INIT(j)                                                                 \
    __m512 t##j = !first && j < nr ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, at, cp + j, 4) \
                  : first && bias ? _mm512_maskz_loadu_ps(rows, bias) : _mm512_setzero_ps();
    DX_COLS7(DX_INIT)
    int k = 0;
    if (nr <= 2) {
        /* one or two columns (a 7x7 image's 49th): 4 chains of FMAs each, else every FMA waits on the one before */
        __m512 u[2][3];
        for (int j = 0; j < 2; j++)
            u[j][0] = u[j][1] = u[j][2] = _mm512_setzero_ps();
        for (; k + 4 <= kc; k += 4, a += 4 * P) {
            __mmask16 lanes = deepx_lanes(0, P);
            __m512 a0 = _mm512_maskz_loadu_ps(lanes, a), a1 = _mm512_maskz_loadu_ps(lanes, a + P);
            __m512 a2 = _mm512_maskz_loadu_ps(lanes, a + 2 * P), a3 = _mm512_maskz_loadu_ps(lanes, a + 3 * P);
            const float *b0 = DX_ROW(k), *b1 = DX_ROW(k + 1), *b2 = DX_ROW(k + 2), *b3 = DX_ROW(k + 3);
            t0 = _mm512_fmadd_ps(a0, _mm512_set1_ps(b0[0]), t0);
            u[0][0] = _mm512_fmadd_ps(a1, _mm512_set1_ps(b1[0]), u[0][0]);
            u[0][1] = _mm512_fmadd_ps(a2, _mm512_set1_ps(b2[0]), u[0][1]);
            u[0][2] = _mm512_fmadd_ps(a3, _mm512_set1_ps(b3[0]), u[0][2]);
            if (nr == 2) {
                t1 = _mm512_fmadd_ps(a0, _mm512_set1_ps(b0[1]), t1);
                u[1][0] = _mm512_fmadd_ps(a1, _mm512_set1_ps(b1[1]), u[1][0]);
                u[1][1] = _mm512_fmadd_ps(a2, _mm512_set1_ps(b2[1]), u[1][1]);
                u[1][2] = _mm512_fmadd_ps(a3, _mm512_set1_ps(b3[1]), u[1][2]);
            }
        }
        t0 = _mm512_add_ps(t0, _mm512_add_ps(u[0][0], _mm512_add_ps(u[0][1], u[0][2])));
        t1 = _mm512_add_ps(t1, _mm512_add_ps(u[1][0], _mm512_add_ps(u[1][1], u[1][2])));
    }
    for (; k < kc; k++, a += P) {
        __m512 av = _mm512_maskz_loadu_ps(deepx_lanes(0, P), a);
        const float* bk = DX_ROW(k);
#define DX_FMA(j) if (j < nr) t##j = _mm512_fmadd_ps(av, _mm512_set1_ps(bk[j]), t##j);
        DX_COLS7(DX_FMA)
    }
#define DX_STORE(j)                                                                \
    if (j < nr) {                                                                  \
        if (rp)                                                                    \
            t##j = _mm512_add_ps(t##j, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, at, rp + j, 4)); \
        if (clip)                                                                  \
            t##j = _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), t##j)); \
        _mm512_mask_i32scatter_ps(cp + j, rows, at, t##j, 4);                      \
    }
    DX_COLS7(DX_STORE)
#undef DX_INIT
#undef DX_FMA
#undef DX_STORE
}

/* level 1 (AVX2 and FMA, for few k): a 6 x 16 tile, b read in place as at level 2; c's columns past nr (and rows
   past mr) untouched */
__attribute__((target("avx2,fma")))
static inline void deepx_tile_avx2(int kc, const float* a, const float* b, size_t ldb, const int* off, float* cp,
                                   const float* rp, size_t ldc, int mr, int nr, const float* bias, int first, int clip,
                                   float lo, float hi) {
    __m256i m0 = deepx_lanes8(0, nr), m1 = deepx_lanes8(0, nr - 8);
#define DX_DECL(i) __m256 c##i##0, c##i##1;
    DX_ROWS6(DX_DECL)
#define DX_INIT(i)                                                                 \
    if (!first && i < mr) {                                                        \
        c##i##0 = _mm256_maskload_ps(cp + i * ldc, m0);                            \
        c##i##1 = _mm256_maskload_ps(cp + i * ldc + 8, m1);                        \
    } else {                                                                       \
        c##i##0 = c##i##1 = _mm256_set1_ps(first && bias && i < mr ? bias[i] : 0.0f); \
    }
    DX_ROWS6(DX_INIT)
#define DX_FMA(i)                                                                  \
    {                                                                              \
        __m256 av = _mm256_broadcast_ss(a + i);                                    \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                \
    }
    if (nr == 16) {
        #pragma GCC unroll 4
        for (int k = 0; k < kc; k++, a += 6) {
            const float* bk = DX_ROW(k);
            __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
            DX_ROWS6(DX_FMA)
        }
    } else {
        for (int k = 0; k < kc; k++, a += 6) {
            const float* bk = DX_ROW(k);
            __m256 b0 = _mm256_maskload_ps(bk, m0), b1 = _mm256_maskload_ps(bk + 8, m1);
            DX_ROWS6(DX_FMA)
        }
    }
#define DX_STORE(i)                                                                \
    if (i < mr) {                                                                  \
        if (rp) {                                                                  \
            c##i##0 = _mm256_add_ps(c##i##0, _mm256_maskload_ps(rp + i * ldc, m0)); \
            c##i##1 = _mm256_add_ps(c##i##1, _mm256_maskload_ps(rp + i * ldc + 8, m1)); \
        }                                                                          \
        if (clip) {                                                                \
            c##i##0 = _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), c##i##0)); \
            c##i##1 = _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), c##i##1)); \
        }                                                                          \
        if (nr == 16) {                                                            \
            _mm256_storeu_ps(cp + i * ldc, c##i##0);                               \
            _mm256_storeu_ps(cp + i * ldc + 8, c##i##1);                           \
        } else {                                                                   \
            _mm256_maskstore_ps(cp + i * ldc, m0, c##i##0);                        \
            _mm256_maskstore_ps(cp + i * ldc + 8, m1, c##i##1);                    \
        }                                                                          \
    }
    DX_ROWS6(DX_STORE)
#undef DX_DECL
#undef DX_INIT
#undef DX_FMA
#undef DX_STORE
}

/* r[0..8) as the columns of an 8 x 8 matrix -> its rows */
__attribute__((target("avx2"), always_inline))
static inline void deepx_transpose8(__m256* r) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* the first n (< 8, a constant where inlined) lanes of v to p: plain 4-, 2- and 1-float stores, where AMD's masked
   stores are slow */
__attribute__((target("avx2"), always_inline))
static inline void deepx_store_n(float* p, __m256 v, const int n) {
    __m128 x = _mm256_castps256_ps128(v);
    int m = n;
    if (m >= 4) {
        _mm_storeu_ps(p, x);
        x = _mm256_extractf128_ps(v, 1), p += 4, m -= 4;
    }
    if (m >= 2) {
        _mm_storel_pi((__m64*)p, x);
        x = _mm_movehl_ps(x, x), p += 2, m -= 2;
    }
    if (m)
        _mm_store_ss(p, x);
}

/* columns v0 .. v(nc-1) of 8 rows of a tile -> rows of c (the first `rows`), plus the residual r, clamped */
__attribute__((target("avx2"), always_inline))
static inline void deepx_cl_rows(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5, const int nc,
                                 int rows, float* c, const float* r, size_t ldc, int clip, float lo, float hi) {
    __m256i m = deepx_lanes8(0, nc);
    __m256 z = _mm256_setzero_ps(), v[8] = {v0, nc > 1 ? v1 : z, nc > 2 ? v2 : z, nc > 3 ? v3 : z,
                                            nc > 4 ? v4 : z, nc > 5 ? v5 : z, z, z};
    deepx_transpose8(v);
    #pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < rows) {
            if (r)
                v[i] = _mm256_add_ps(v[i], _mm256_maskload_ps(r + (size_t)i * ldc, m));
            if (clip)
                v[i] = _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), v[i]));
            deepx_store_n(c + (size_t)i * ldc, v[i], nc);
        }
}

/* level 4 (AVX2 and FMA, few columns: a conv's output of a small plane): a 16 x NC tile (NC <= 6) with the output
   channels in the lanes, a's 16-row panel two vectors a k step (one: `two` 0, a last panel of <= 8 rows) and b's NC
   columns broadcast. Partial sums between k blocks in t (NC x 16); after the last, transposed in registers to rows
   of c, the residual and clamp added there */
__attribute__((target("avx2,fma"), always_inline))
static inline void deepx_tile_cl(int kc, const float* a, const float* b, size_t ldb, float* c, const float* r,
                                 size_t ldc, int mr, const int nc, const float* bias, int clip, float lo, float hi,
                                 float* t, int first, int last, const int two) {
    __m256 acc[6][2], t0 = _mm256_setzero_ps(), t1 = t0;
    if (first && bias) {
        t0 = _mm256_maskload_ps(bias, deepx_lanes8(0, mr));
        t1 = _mm256_maskload_ps(bias + 8, deepx_lanes8(0, mr - 8));
    }
    #pragma GCC unroll 6
    for (int j = 0; j < nc; j++) {
        acc[j][0] = first ? t0 : _mm256_loadu_ps(t + 16 * j);
        acc[j][1] = first || !two ? t1 : _mm256_loadu_ps(t + 16 * j + 8);
    }
    #pragma GCC unroll 4
    for (int kk = 0; kk < kc; kk++, a += 16) {
        const float* bk = b + (size_t)kk * ldb;
        __m256 w0 = _mm256_loadu_ps(a), w1 = two ? _mm256_loadu_ps(a + 8) : w0;
        #pragma GCC unroll 6
        for (int j = 0; j < nc; j++) {
            __m256 x = _mm256_broadcast_ss(bk + j);
            acc[j][0] = _mm256_fmadd_ps(w0, x, acc[j][0]);
            if (two)
                acc[j][1] = _mm256_fmadd_ps(w1, x, acc[j][1]);
        }
    }
    if (!last) {
        #pragma GCC unroll 6
        for (int j = 0; j < nc; j++) {
            _mm256_storeu_ps(t + 16 * j, acc[j][0]);
            if (two)
                _mm256_storeu_ps(t + 16 * j + 8, acc[j][1]);
        }
        return;
    }
    deepx_cl_rows(acc[0][0], acc[1][0], acc[2][0], acc[3][0], acc[4][0], acc[5][0], nc, mr, c, r, ldc, clip, lo, hi);
    if (two)
        deepx_cl_rows(acc[0][1], acc[1][1], acc[2][1], acc[3][1], acc[4][1], acc[5][1], nc, mr - 8, c + 8 * ldc,
                      DX_AT(r, 8 * ldc), ldc, clip, lo, hi);
}

enum { DEEPX_KC4 = 128, DEEPX_NC4 = 96 };

/* c (m,n) = clamp(ap · b + bias [+ res]) at level 4: panel after panel, over blocks of DEEPX_NC4 columns, k in
   blocks of DEEPX_KC4 (the panel's block stays in L1 over the columns) */
__attribute__((target("avx2,fma")))
static inline void deepx_gemm_cl(int m, int n, int k, const float* ap, const float* b, size_t ldb, float* c,
                                 const float* res, size_t ldc, const float* bias, int clip, float lo, float hi) {
    float t[16 * DEEPX_NC4];
    for (int i = 0; i < m; i += 16)
        for (int jc = 0; jc < n; jc += DEEPX_NC4) {
            int rows = m - i < 16 ? m - i : 16, je = jc + DEEPX_NC4 < n ? jc + DEEPX_NC4 : n;
            for (int k0 = 0; k0 < k; k0 += DEEPX_KC4) {
                int kc = k - k0 < DEEPX_KC4 ? k - k0 : DEEPX_KC4, first = k0 == 0, last = k0 + kc >= k;
                const float* a = ap + (size_t)i * k + (size_t)k0 * 16;
                for (int j = jc; j < je; j += 6) {
                    float* cc = c + (size_t)i * ldc + j;
                    const float* rc = DX_AT(res, (size_t)i * ldc + j);
                    const float* bb = b + (size_t)k0 * ldb + j;
                    const float* bi = bias ? bias + i : NULL;
                    float* tj = t + 16 * (j - jc);
                    switch (je - j < 6 ? je - j : 6) {
#define DX_CL(w)                                                                                          \
    case w:                                                                                               \
        if (rows > 8)                                                                                     \
            deepx_tile_cl(kc, a, bb, ldb, cc, rc, ldc, rows, w, bi, clip, lo, hi, tj, first, last, 1);    \
        else                                                                                              \
            deepx_tile_cl(kc, a, bb, ldb, cc, rc, ldc, rows, w, bi, clip, lo, hi, tj, first, last, 0);    \
        break;
                        DX_CL(6) DX_CL(5) DX_CL(4) DX_CL(3) DX_CL(2) DX_CL(1)
#undef DX_CL
                    }
                }
            }
        }
}

#else
static inline int deepx_gemm_cpu(void) { return 0; }

static inline int deepx_vec_lanes(void) { return 0; }

static inline int deepx_fetch_ahead(void) { return 1; }
#endif

/* DEEPX_GEMM=blas: every GEMM on BLAS, none of this file's kernels (read once) */
static int deepx_gemm_env = -1;

static inline int deepx_gemm_blas(void) {
    if (deepx_gemm_env < 0) {
        const char* env = getenv("DEEPX_GEMM");
        deepx_gemm_env = env && !strcmp(env, "blas");
    }
    return deepx_gemm_env;
}

/* the AVX-512 kernel level this CPU runs (DEEPX_GEMM=blas: 0) */
static inline int deepx_gemm_isa(void) {
    if (deepx_gemm_level < 0)
        deepx_gemm_level = deepx_gemm_blas() ? 0 : deepx_gemm_cpu();
    return deepx_gemm_level;
}

/* whether GEMMs of few k (<= DEEPX_K1) take level 1 here: a CPU with AVX2 and FMA and no AVX-512 (whose levels
   take every GEMM), DEEPX_GEMM not blas */
static inline int deepx_gemm_avx2(void) {
    return !deepx_gemm_blas() && deepx_gemm_cpu() == 0 && deepx_vec_lanes() == 8;
}

static inline int deepx_gemm_mr(int level) { return level == 4 ? 16 : level == 3 ? 8 : level == 1 ? 6 : 12; }

/* the level to pack an (m, k) matrix for on a CPU of level `isa`: AVX-512's 8-row panels (level 3) where the
   12-row ones would compute over 5% more rows than m, and for a narrowing product (m < k; k 0: a conv's k x k
   window, where this was not measured): its 8 x 48 tiles read 11 values a k step for 24 FMAs, the 12 x 32 ones 14.
   Measured on the AVX-512 Xeon, alone (both levels alternating in one process, 1x1 convs' shapes): 0.91-0.99x the
   time (128 x 512 x 784 0.93, 256 x 512 x 784 0.91, 160 x 960 x 49 0.92, 24 x 144 x 3136 0.94); widening ones
   0.95-1.04x, kept; whole models, executors planned each way alternating: ResNet50 1.2-2.0% faster at 1 thread,
   Inception v2 2.3% / 1.9% at 1 / 2, MobileNetV2 1.1% / 1.9%, DenseNet121 1.1% / 1.7% (medians) */
static inline int deepx_gemm_pick(int isa, int m, int k) {
    if (isa == 2 && m < k)
        return 3;
    return isa == 2 && ((m + 11) / 12 * 12 - m) * 20 > m && ((m + 7) / 8 * 8 - m) * 20 <= m ? 3 : isa;
}

/* floats of a (m,k) packed for `level`: m rounded up to whole panels */
static inline size_t deepx_packed_floats(int level, int m, int k) {
    int mr = deepx_gemm_mr(level);
    return (size_t)((m + mr - 1) / mr) * mr * k;
}

/* a (m,k), row stride lda -> ap: panel after panel of MR rows (the last zero-padded), k-major */
static inline void deepx_pack_a(int level, int m, int k, const float* a, size_t lda, float* ap) {
    int mr = deepx_gemm_mr(level);
    for (int p = 0; p < m; p += mr)
        for (int kk = 0; kk < k; kk++)
            for (int i = 0; i < mr; i++)
                *ap++ = p + i < m ? a[(size_t)(p + i) * lda + kk] : 0.0f;
}

/* the width of the next tile of columns when rem are left: three vectors (8-row panels), two, then one, then
   the transposed kernel for the last few; level 1: 16, then the last few (masked). One or two left past a tile of
   vectors ride on it (49 columns: 48 + 1 at level 3, 32 + 17 at level 2) instead of a tile of their own */
static inline int deepx_cols(int level, int rem) {
    if (level == 1)
        return rem >= 16 ? 16 : rem;
    int w = rem >= 48 && level == 3 ? 48 : rem >= 32 ? 32 : rem >= 16 ? 16 : rem;
    return w >= 16 && rem - w <= 2 ? rem : w;
}

/* the tile of rows i.., k-block k0 of deepx_gemm_packed: bb, ldb its kc x cols part of b, cc its part of c, rc of the
   residual (or NULL), added on the last k block, after the FMAs (its loads then wait on nothing) */
static inline void deepx_tile(int level, int m, int k, const float* ap, const float* bb, size_t ldb, const int* off,
                              float* cc, const float* rc, size_t ldc, const float* bias, int clip, float lo, float hi,
                              int i, int k0, int kc, int cols) {
#if defined(__x86_64__) && defined(__GNUC__)
    int mr = deepx_gemm_mr(level);
    const float* a = ap + (size_t)i * k + (size_t)k0 * mr;
    int rows = m - i < mr ? m - i : mr, first = k0 == 0, last = k0 + kc >= k, cl = clip && last;
    const float* bi = bias ? bias + i : NULL;
    rc = last ? rc : NULL;
    if (level == 1)
        deepx_tile_avx2(kc, a, bb, ldb, off, cc, rc, ldc, rows, cols, bi, first, cl, lo, hi);
    else if (cols < 8)
        deepx_tile_avx512_t(kc, a, bb, ldb, off, cc, rc, ldc, rows, cols, bi, first, cl, lo, hi, mr);
    else if (level == 2)
        deepx_tile_avx512_12(kc, a, bb, ldb, off, cc, rc, ldc, rows, cols, bi, first, cl, lo, hi);
    else
        deepx_tile_avx512_8(kc, a, bb, ldb, off, cc, rc, ldc, rows, cols, bi, first, cl, lo, hi);
#endif
}

/* ask for the cache lines of n floats at p, for reading or (write) for a store: what a loop will touch soon, when it
   comes from memory in short runs that the hardware's prefetchers catch too late */
static inline void deepx_prefetch_span(const float* p, ptrdiff_t n, int write) {
    for (ptrdiff_t i = 0; i < n; i += 16) {
        if (write)
            __builtin_prefetch(p + i, 1, 3);
        else
            __builtin_prefetch(p + i, 0, 3);
    }
}

/* a kc x 48 block of b (rows ldb apart; kc <= DEEPX_AHEAD_K) and an m x 48 block of c (rows ldc apart; and of the
   residual r, if any: on the last k block), DEEPX_AHEAD columns on, asked for while the tile here computes (rem:
   columns left from here): a tile of few k steps is over before its own prefetches, 4 rows ahead, come back from
   memory, and a conv's output is usually cold (measured on the AVX-512 EPYC: MobileNetV3's 16 -> 16 1x1 conv on
   112x112 0.19 ms in the model without these, 0.10 with); not on Intel CPUs (deepx_fetch_ahead) */
enum { DEEPX_AHEAD = 4 * 48, DEEPX_AHEAD_K = 64 };

static inline void deepx_prefetch_ahead(const float* b, size_t ldb, int kc, float* c, const float* r, size_t ldc,
                                        int m, int rem) {
    if (rem < DEEPX_AHEAD + 48 || !deepx_fetch_ahead())
        return;
    for (int kk = 0; kk < (kc <= DEEPX_AHEAD_K ? kc : 0); kk++)
        deepx_prefetch_span(b + (size_t)kk * ldb + DEEPX_AHEAD, 48, 0);
    for (int i = 0; i < m; i++) {
        deepx_prefetch_span(c + (size_t)i * ldc + DEEPX_AHEAD, 48, 1);
        if (r)
            deepx_prefetch_span(r + (size_t)i * ldc + DEEPX_AHEAD, 48, 0);
    }
}

/* c (m,n) = clamp(ap · b + bias [+ res]), b's row kk at b + kk * ldb or (off) b + off[kk]: b's columns in blocks of
   nc (whole tiles of 32 or 48) whose k rows stay in L2 (DEEPX_BBLOCK), read in place; over each block, a's panels in
   order (a streams from memory, its panel stays in L1). Measured against the whole width at once (and copying blocks
   of b to a buffer, no faster): ResNet50's 1x1 convs on 56x56 (n 3136, k 64 or 256) 168-179 -> 198-220 GFLOP/s,
   its 512 -> 128 on 28x28 168 -> 204, the rest within 3%; SqueezeNet's direct 3x3 convs within noise. Level 1: blocks
   of DEEPX_NC1 columns (each panel's 6 rows of c written in runs of 384 floats), the prefetches once per 48 columns */
static inline void deepx_gemm_blocks(int level, int m, int n, int k, const float* ap, const float* b, size_t ldb,
                                     const int* off, float* c, const float* res, size_t ldc, const float* bias,
                                     int clip, float lo, float hi) {
    int mr = deepx_gemm_mr(level), w, kb = (k + DEEPX_KC - 1) / DEEPX_KC;
    int ks = (k + kb - 1) / kb;  /* k in kb blocks of ks (<= KC) as even as can be: no short last block */
    int nc = DEEPX_BBLOCK / (int)sizeof(float) / k / 96 * 96;
    nc = level == 1 ? DEEPX_NC1 : nc < 96 ? 96 : nc;
    for (int jc = 0; jc < n; jc += nc) {
        int je = jc + nc < n ? jc + nc : n;
        for (int i = 0; i < m; i += mr)
            for (int k0 = 0; k0 < k; k0 += ks)
                for (int j = jc; j < je; j += w) {
                    int kc = k - k0 < ks ? k - k0 : ks, rows = m - i < mr ? m - i : mr;
                    const float* bb = off ? b + j : b + (size_t)k0 * ldb + j;
                    w = deepx_cols(level, je - j);
                    if (!off && (level != 1 || (j - jc) % 48 == 0))  /* level 1: 48 columns at a time */
                        deepx_prefetch_ahead(bb, ldb, kc, c + (size_t)i * ldc + j,
                                             k0 + kc < k ? NULL : DX_AT(res, (size_t)i * ldc + j), ldc, rows,
                                             je - j);
                    deepx_tile(level, m, k, ap, bb, ldb, off ? off + k0 : NULL, c + (size_t)i * ldc + j,
                               DX_AT(res, (size_t)i * ldc + j), ldc, bias, clip, lo, hi, i, k0, kc, w);
                }
    }
}

/* c (m,n) = clamp(ap · b (k,n) + bias + res); ap from deepx_pack_a at this level (a row range of it must start
   at a panel: ap + i * k for row i, i a multiple of MR); bias and res (laid out as c) may be NULL */
static inline void deepx_gemm_packed(int level, int m, int n, int k, const float* ap, const float* b, size_t ldb,
                                     float* c, const float* res, size_t ldc, const float* bias, int clip, float lo,
                                     float hi) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (level == 4) {
        deepx_gemm_cl(m, n, k, ap, b, ldb, c, res, ldc, bias, clip, lo, hi);
        return;
    }
#endif
    int mr = deepx_gemm_mr(level), w, kb = (k + DEEPX_KC - 1) / DEEPX_KC;
    int ks = (k + kb - 1) / kb;  /* k in kb blocks of ks (<= KC) as even as can be: no short last block */
    if (m < 32 && level != 1) {
        /* a few rows (all of a in L1): each kc x cols tile of b once, over every panel */
        for (int k0 = 0; k0 < k; k0 += ks)
            for (int j = 0; j < n; j += w) {
                w = deepx_cols(level, n - j);
                int kc = k - k0 < ks ? k - k0 : ks;
                deepx_prefetch_ahead(b + (size_t)k0 * ldb + j, ldb, kc, c + j, k0 + kc < k ? NULL : DX_AT(res, j),
                                     ldc, m, n - j);
                for (int i = 0; i < m; i += mr)
                    deepx_tile(level, m, k, ap, b + (size_t)k0 * ldb + j, ldb, NULL, c + (size_t)i * ldc + j,
                               DX_AT(res, (size_t)i * ldc + j), ldc, bias, clip, lo, hi, i, k0, kc, w);
            }
        return;
    }
    deepx_gemm_blocks(level, m, n, k, ap, b, ldb, NULL, c, res, ldc, bias, clip, lo, hi);
}

/* a conv as an implicit GEMM: c (m,n) = clamp(ap · B + bias), where row kk of B (never formed) is xp + off[kk], xp
   the input's grid read in place and off[kk] the offset of weight kk's tap (channel, row, column): n consecutive
   outputs on the grid. off holds k + 4 entries (the last 4 for the prefetches) */
static inline void deepx_gemm_implicit(int level, int m, int n, int k, const float* ap, const float* xp, const int* off,
                                       float* c, size_t ldc, const float* bias, int clip, float lo, float hi) {
    deepx_gemm_blocks(level, m, n, k, ap, xp, 0, off, c, NULL, ldc, bias, clip, lo, hi);
}
#endif
