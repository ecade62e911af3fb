/* Winograd F(4x4,3x3)'s and F(2x2,3x3)'s transforms along a row of tiles with AVX-512, 16 tiles a step: tile tx of a
   row covers columns 4 tx .. 4 tx + 5 of its input rows and 4 tx .. 4 tx + 3 of its output rows (F(2x2): 2 tx ..
   2 tx + 3 and 2 tx .. 2 tx + 1), so a tile's columns lie 4 (2) floats apart and are taken out (and put back) by
   permutes. The caller (_conv.pyx) does the input's transform down the columns, which reads and writes whole rows. */
#ifndef DEEPX_WINO_H
#define DEEPX_WINO_H
#include "deepx_gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* of the 64 floats at p (lanes past n: 0), those 4 apart from phase j: c[j] = p[j], p[j + 4], ..., p[j + 60] (j < np
   <= 4) */
__attribute__((target("avx512f"), always_inline))
static inline void deepx_phases4(const float* p, int n, __m512* c, const int np) {
    __m512 a0 = _mm512_maskz_loadu_ps(deepx_lanes(0, n), p), a1 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 16), p + 16);
    __m512 a2 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 32), p + 32);
    __m512 a3 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 48), p + 48);
    __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    for (int j = 0; j < np; j++) {
        __m512i q = _mm512_setr_epi32(j, j + 4, j + 8, j + 12, j + 16, j + 20, j + 24, j + 28, j, j + 4, j + 8, j + 12,
                                      j + 16, j + 20, j + 24, j + 28);
        c[j] = _mm512_permutex2var_ps(_mm512_permutex2var_ps(a0, q, a1), lo, _mm512_permutex2var_ps(a2, q, a3));
    }
}

/* Bᵀ d down the columns: d[i] (i < 6) n floats of the tile row's input rows -> r + i Wt (i < 6) */
__attribute__((target("avx512f,fma")))
static void deepx_wino4_cols(const float* const* d, int n, float* r, int Wt) {
    __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = deepx_lanes(0, n - j);
        __m512 d0 = _mm512_maskz_loadu_ps(m, d[0] + j), d1 = _mm512_maskz_loadu_ps(m, d[1] + j);
        __m512 d2 = _mm512_maskz_loadu_ps(m, d[2] + j), d3 = _mm512_maskz_loadu_ps(m, d[3] + j);
        __m512 d4 = _mm512_maskz_loadu_ps(m, d[4] + j), d5 = _mm512_maskz_loadu_ps(m, d[5] + j);
        __m512 d42 = _mm512_sub_ps(d4, d2), d31 = _mm512_sub_ps(d3, d1);
        _mm512_mask_storeu_ps(r + j, m, _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4)));
        _mm512_mask_storeu_ps(r + Wt + j, m, _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4)));
        _mm512_mask_storeu_ps(r + 2 * Wt + j, m, _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3)));
        _mm512_mask_storeu_ps(r + 3 * Wt + j, m, _mm512_fmadd_ps(two, d31, d42));
        _mm512_mask_storeu_ps(r + 4 * Wt + j, m, _mm512_fnmadd_ps(two, d31, d42));
        _mm512_mask_storeu_ps(r + 5 * Wt + j, m, _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5)));
    }
}

/* r: the 6 rows (Wt = 4 TX + 2 floats apart) of Bᵀ d for a row of TX tiles -> v[(6 i + e) es + tx] =
   (Bᵀ d B)[i][e],
   Bᵀ = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]] */
__attribute__((target("avx512f,fma")))
static void deepx_wino4_in(const float* r, int Wt, int TX, float* v, size_t es) {
    __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    for (int i = 0; i < 6; i++, r += Wt, v += 6 * es)
        for (int t = 0; t < TX; t += 16) {
            __m512 c[6];
            __mmask16 m = deepx_lanes(0, TX - t);
            deepx_phases4(r + 4 * t, Wt - 4 * t, c, 4);  /* columns 4 tx + 0..3 */
            deepx_phases4(r + 4 * t + 4, Wt - 4 * t - 4, c + 4, 2);  /* 4 tx + 4, 4 tx + 5 */
            __m512 d24 = _mm512_sub_ps(c[4], c[2]), d31 = _mm512_sub_ps(c[3], c[1]);
            _mm512_mask_storeu_ps(v + t, m, _mm512_fmadd_ps(four, c[0], _mm512_fnmadd_ps(five, c[2], c[4])));
            _mm512_mask_storeu_ps(v + es + t, m,
                                  _mm512_fnmadd_ps(four, _mm512_add_ps(c[1], c[2]), _mm512_add_ps(c[3], c[4])));
            _mm512_mask_storeu_ps(v + 2 * es + t, m,
                                  _mm512_fmadd_ps(four, _mm512_sub_ps(c[1], c[2]), _mm512_sub_ps(c[4], c[3])));
            _mm512_mask_storeu_ps(v + 3 * es + t, m, _mm512_fmadd_ps(two, d31, d24));
            _mm512_mask_storeu_ps(v + 4 * es + t, m, _mm512_fnmadd_ps(two, d31, d24));
            _mm512_mask_storeu_ps(v + 5 * es + t, m, _mm512_fmadd_ps(four, c[1], _mm512_fnmadd_ps(five, c[3], c[5])));
        }
}

/* a0 + a1 + a2 + a3 + a4 (k 0), a1 - a2 + 2 (a3 - a4) (1), a1 + a2 + 4 (a3 + a4) (2), a1 - a2 + 8 (a3 - a4) + a5 (3):
   row k of Aᵀ = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]] times a */
__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_wino4_at(const __m512* a, __m512* o) {
    __m512 p12 = _mm512_add_ps(a[1], a[2]), m12 = _mm512_sub_ps(a[1], a[2]);
    __m512 p34 = _mm512_add_ps(a[3], a[4]), m34 = _mm512_sub_ps(a[3], a[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(a[0], p12), p34);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), m34, m12);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), p34, p12);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), m34, m12), a[5]);
}

/* m[e es + tx] (e < 36) for a row of TX tiles -> y (nr <= 4 rows of Q floats, ldy apart) = clamp(Aᵀ m A + bias, lo,
   hi), each tile's 4 x 4 outputs at columns 4 tx .. 4 tx + 3 (those past Q not stored) */
__attribute__((target("avx512f,fma")))
static void deepx_wino4_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                            float lo, float hi) {
    const __m512i i01 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i i23 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    __m512 vb = _mm512_set1_ps(bias), vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
    for (int t = 0; t < TX; t += 16) {
        __mmask16 mk = deepx_lanes(0, TX - t);
        __m512 s[4][6];  /* s[k][c] = (Aᵀ m)[k][c] */
        for (int c = 0; c < 6; c++) {
            __m512 a[6], o[4];
            for (int r = 0; r < 6; r++)
                a[r] = _mm512_maskz_loadu_ps(mk, m + (6 * r + c) * es + t);
            deepx_wino4_at(a, o);
            for (int k = 0; k < 4; k++)
                s[k][c] = o[k];
        }
        int n = Q - 4 * t;  /* outputs of a row from this step's first column */
        for (int k = 0; k < nr; k++) {
            __m512 o[4];
            deepx_wino4_at(s[k], o);  /* o[j][tx]: column 4 tx + j */
            for (int j = 0; j < 4; j++)
                o[j] = _mm512_min_ps(vh, _mm512_max_ps(vl, _mm512_add_ps(o[j], vb)));
            /* interleave: [o0[0] o1[0] o2[0] o3[0] o0[1] ...] */
            __m512 a01 = _mm512_permutex2var_ps(o[0], i01, o[1]), b01 = _mm512_permutex2var_ps(o[0], i23, o[1]);
            __m512 a23 = _mm512_permutex2var_ps(o[2], i01, o[3]), b23 = _mm512_permutex2var_ps(o[2], i23, o[3]);
            float* row = y + (size_t)k * ldy + 4 * t;
            _mm512_mask_storeu_ps(row, deepx_lanes(0, n), _mm512_permutex2var_ps(a01, lo2, a23));
            _mm512_mask_storeu_ps(row + 16, deepx_lanes(0, n - 16), _mm512_permutex2var_ps(a01, hi2, a23));
            _mm512_mask_storeu_ps(row + 32, deepx_lanes(0, n - 32), _mm512_permutex2var_ps(b01, lo2, b23));
            _mm512_mask_storeu_ps(row + 48, deepx_lanes(0, n - 48), _mm512_permutex2var_ps(b01, hi2, b23));
        }
    }
}

/* F(2x2,3x3), r: the 4 rows (Wt = 2 TX + 2 floats apart) of Bᵀ d for a row of TX tiles -> v[(4 i + e) es + tx] =
   (Bᵀ d B)[i][e], Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]] */
__attribute__((target("avx512f")))
static void deepx_wino2_in(const float* r, int Wt, int TX, float* v, size_t es) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int i = 0; i < 4; i++, r += Wt, v += 4 * es)
        for (int t = 0; t < TX; t += 16) {
            const float* p = r + 2 * t;
            int n = Wt - 2 * t;  /* floats of the row from p */
            __mmask16 m = deepx_lanes(0, TX - t);
            __m512 a0 = _mm512_maskz_loadu_ps(deepx_lanes(0, n), p);
            __m512 a1 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 16), p + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 2), p + 2);
            __m512 b1 = _mm512_maskz_loadu_ps(deepx_lanes(0, n - 18), p + 18);
            __m512 c0 = _mm512_permutex2var_ps(a0, ev, a1), c1 = _mm512_permutex2var_ps(a0, od, a1);  /* 2 tx, +1 */
            __m512 c2 = _mm512_permutex2var_ps(b0, ev, b1), c3 = _mm512_permutex2var_ps(b0, od, b1);  /* +2, +3 */
            _mm512_mask_storeu_ps(v + t, m, _mm512_sub_ps(c0, c2));
            _mm512_mask_storeu_ps(v + es + t, m, _mm512_add_ps(c1, c2));
            _mm512_mask_storeu_ps(v + 2 * es + t, m, _mm512_sub_ps(c2, c1));
            _mm512_mask_storeu_ps(v + 3 * es + t, m, _mm512_sub_ps(c1, c3));
        }
}

/* F(2x2,3x3), m[e es + tx] (e < 16) for a row of TX tiles -> y (nr <= 2 rows of Q floats, ldy apart) =
   clamp(Aᵀ m A + bias, lo, hi), Aᵀ = [[1,1,1,0],[0,1,-1,-1]], each tile's 2 x 2 outputs at columns 2 tx, 2 tx + 1
   (those past Q not stored) */
__attribute__((target("avx512f")))
static void deepx_wino2_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                            float lo, float hi) {
    const __m512i i01 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i i23 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 vb = _mm512_set1_ps(bias), vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
    for (int t = 0; t < TX; t += 16) {
        __mmask16 mk = deepx_lanes(0, TX - t);
        __m512 s[2][4];  /* s[k][c] = (Aᵀ m)[k][c] */
        for (int c = 0; c < 4; c++) {
            __m512 a0 = _mm512_maskz_loadu_ps(mk, m + c * es + t), a1 = _mm512_maskz_loadu_ps(mk, m + (4 + c) * es + t);
            __m512 a2 = _mm512_maskz_loadu_ps(mk, m + (8 + c) * es + t);
            __m512 a3 = _mm512_maskz_loadu_ps(mk, m + (12 + c) * es + t);
            s[0][c] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
            s[1][c] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
        }
        int n = Q - 2 * t;  /* outputs of a row from this step's first column */
        for (int k = 0; k < nr; k++) {
            __m512 o0 = _mm512_add_ps(_mm512_add_ps(s[k][0], s[k][1]), s[k][2]);
            __m512 o1 = _mm512_sub_ps(_mm512_sub_ps(s[k][1], s[k][2]), s[k][3]);
            o0 = _mm512_min_ps(vh, _mm512_max_ps(vl, _mm512_add_ps(o0, vb)));
            o1 = _mm512_min_ps(vh, _mm512_max_ps(vl, _mm512_add_ps(o1, vb)));
            float* row = y + (size_t)k * ldy + 2 * t;
            _mm512_mask_storeu_ps(row, deepx_lanes(0, n), _mm512_permutex2var_ps(o0, i01, o1));
            _mm512_mask_storeu_ps(row + 16, deepx_lanes(0, n - 16), _mm512_permutex2var_ps(o0, i23, o1));
        }
    }
}

/* AVX2 (8 lanes): deepx_wino2_in's and deepx_wino2_out's work, 8 tiles a step */
__attribute__((target("avx2"), always_inline))
static inline __m256 deepx_maskload8(const float* p, int n) {  /* the first n (<= 8, none past) of p, then zeros */
    return n >= 8 ? _mm256_loadu_ps(p) : n <= 0 ? _mm256_setzero_ps() : _mm256_maskload_ps(p, deepx_lanes8(0, n));
}

__attribute__((target("avx2"), always_inline))
static inline void deepx_maskstore8(float* p, int n, __m256 v) {  /* the first n lanes: no masked store (slow on AMD) */
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else if (n > 0)
        deepx_store_n(p, v, n);
}

/* the even and the odd floats of the 16 at p (n of them there, zeros past) */
__attribute__((target("avx2"), always_inline))
static inline void deepx_deinterleave8(const float* p, int n, __m256* ev, __m256* od) {
    __m256 a = deepx_maskload8(p, n), b = deepx_maskload8(p + 8, n - 8);
    *ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
    *od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

__attribute__((target("avx2")))
static void deepx_wino2_in8(const float* r, int Wt, int TX, float* v, size_t es) {
    for (int i = 0; i < 4; i++, r += Wt, v += 4 * es)
        for (int t = 0; t < TX; t += 8) {
            int n = Wt - 2 * t, m = TX - t;
            __m256 c0, c1, c2, c3;
            deepx_deinterleave8(r + 2 * t, n, &c0, &c1);  /* columns 2 tx, 2 tx + 1 */
            deepx_deinterleave8(r + 2 * t + 2, n - 2, &c2, &c3);  /* 2 tx + 2, 2 tx + 3 */
            deepx_maskstore8(v + t, m, _mm256_sub_ps(c0, c2));
            deepx_maskstore8(v + es + t, m, _mm256_add_ps(c1, c2));
            deepx_maskstore8(v + 2 * es + t, m, _mm256_sub_ps(c2, c1));
            deepx_maskstore8(v + 3 * es + t, m, _mm256_sub_ps(c1, c3));
        }
}

__attribute__((target("avx2")))
static void deepx_wino2_out8(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                             float lo, float hi) {
    __m256 vb = _mm256_set1_ps(bias), vl = _mm256_set1_ps(lo), vh = _mm256_set1_ps(hi);
    for (int t = 0; t < TX; t += 8) {
        int mk = TX - t;
        __m256 s[2][4];  /* s[k][c] = (Aᵀ m)[k][c] */
        for (int c = 0; c < 4; c++) {
            __m256 a0 = deepx_maskload8(m + c * es + t, mk), a1 = deepx_maskload8(m + (4 + c) * es + t, mk);
            __m256 a2 = deepx_maskload8(m + (8 + c) * es + t, mk), a3 = deepx_maskload8(m + (12 + c) * es + t, mk);
            s[0][c] = _mm256_add_ps(_mm256_add_ps(a0, a1), a2);
            s[1][c] = _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3);
        }
        int n = Q - 2 * t;  /* outputs of a row from this step's first column */
        for (int k = 0; k < nr; k++) {
            __m256 o0 = _mm256_add_ps(_mm256_add_ps(s[k][0], s[k][1]), s[k][2]);
            __m256 o1 = _mm256_sub_ps(_mm256_sub_ps(s[k][1], s[k][2]), s[k][3]);
            o0 = _mm256_min_ps(vh, _mm256_max_ps(vl, _mm256_add_ps(o0, vb)));
            o1 = _mm256_min_ps(vh, _mm256_max_ps(vl, _mm256_add_ps(o1, vb)));
            __m256 l = _mm256_unpacklo_ps(o0, o1), h = _mm256_unpackhi_ps(o0, o1);  /* o0[j], o1[j] by 128-bit halves */
            float* row = y + (size_t)k * ldy + 2 * t;
            deepx_maskstore8(row, n, _mm256_permute2f128_ps(l, h, 0x20));
            deepx_maskstore8(row + 8, n - 8, _mm256_permute2f128_ps(l, h, 0x31));
        }
    }
}
#else
static inline void deepx_wino4_cols(const float* const* d, int n, float* r, int Wt) {}

static inline void deepx_wino4_in(const float* r, int Wt, int TX, float* v, size_t es) {}

static inline void deepx_wino4_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                                   float lo, float hi) {}

static inline void deepx_wino2_in(const float* r, int Wt, int TX, float* v, size_t es) {}

static inline void deepx_wino2_out(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                                   float lo, float hi) {}

static inline void deepx_wino2_in8(const float* r, int Wt, int TX, float* v, size_t es) {}

static inline void deepx_wino2_out8(const float* m, size_t es, int TX, float* y, size_t ldy, int nr, int Q, float bias,
                                    float lo, float hi) {}
#endif
#endif
