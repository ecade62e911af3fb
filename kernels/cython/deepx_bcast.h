/* A conv with its output channels in the vector lanes (AVX-512): 16 channels a vector, each input value broadcast
   to them, so a stride costs nothing (no im2col matrix, no grid of phases): tiles of 4 vectors (64 channels) by 6
   output pixels, the pixels counted over the whole output plane (a tile may span two output rows), summed over every
   tap (c, r, s) in registers, then turned back to rows of pixels per channel by 16 x 16 transposes, with the bias,
   a residual and a clamp added on the way out. The input is read in place or through a zero-padded copy (the
   caller's). */
#ifndef DEEPX_BCAST_H
#define DEEPX_BCAST_H
#include "deepx_gemm.h"

/* channels a block, pixels a tile, pixels an item (the caller's unit), taps' worth of an item (more pixels for fewer
   taps: the caller's bcast_pix), taps a pass over an item's tiles (their weights, 16 KB, stay in L1 from tile to tile).
   Measured on the AVX-512 Xeon against passes of 1024 taps (256 KB, read from L2 by every tile): ResNet50's 512 -> 512
   3x3 on 7x7 alone 1.53-1.61 ms against 1.79-1.84, in the model 2.04 against 2.28; whole models, both settings
   alternating in one process, 0.3-2.5% faster at 1 and 2 threads (ResNet50, Inception v2, DenseNet121, SqueezeNet);
   32, 128 or 256 taps no better than 64 */
enum { DEEPX_BC_K = 64, DEEPX_BC_J = 6, DEEPX_BC_PIX = 96, DEEPX_BC_T = 1024, DEEPX_BC_PASS = 64 };

/* floats of the packed weights: blocks of 64 channels (the last zero-padded), each (taps, 64) */
static inline size_t deepx_bc_floats(int K, int T) {
    return (size_t)((K + DEEPX_BC_K - 1) / DEEPX_BC_K) * T * DEEPX_BC_K;
}

/* w (K, T) (T = C*R*S taps) -> wp (deepx_bc_floats) */
static inline void deepx_bc_pack(int K, int T, const float* w, float* wp) {
    for (int k0 = 0; k0 < K; k0 += DEEPX_BC_K)
        for (int t = 0; t < T; t++)
            for (int l = 0; l < DEEPX_BC_K; l++)
                *wp++ = k0 + l < K ? w[(size_t)(k0 + l) * T + t] : 0.0f;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* buf + j * 64 (j < J, 16 lanes a vector, KV vectors) (+)= Σ_t wp[t] · x[toff[t] + po[j]] (=: first, else +=): J
   pixels (their offsets po in the padded input) of KV vectors of channels; KV and J constants where inlined (no code
   for what they lack); npf lines from pf asked for into L2 on the way */
__attribute__((target("avx512f,fma"), always_inline))
static inline void deepx_bc_tile(int T, const float* wp, const float* x, const int* toff, const int* po, float* buf,
                                 int first, const float* pf, int npf, const int KV, const int J) {
#define DX_BC_ROW(j)                                                                \
    __m512 a##j##0 = _mm512_setzero_ps(), a##j##1 = a##j##0, a##j##2 = a##j##0, a##j##3 = a##j##0; \
    if (j < J && !first) {                                                          \
        a##j##0 = _mm512_loadu_ps(buf + j * DEEPX_BC_K);                            \
        if (KV > 1) a##j##1 = _mm512_loadu_ps(buf + j * DEEPX_BC_K + 16);           \
        if (KV > 2) a##j##2 = _mm512_loadu_ps(buf + j * DEEPX_BC_K + 32);           \
        if (KV > 3) a##j##3 = _mm512_loadu_ps(buf + j * DEEPX_BC_K + 48);           \
    }
    DX_BC_ROW(0) DX_BC_ROW(1) DX_BC_ROW(2) DX_BC_ROW(3) DX_BC_ROW(4) DX_BC_ROW(5)
    /* pixel j's offset, and tap t's input at xt: one load a broadcast, no address arithmetic between them */
    const ptrdiff_t p0 = po[0], p1 = po[J > 1], p2 = po[J > 2 ? 2 : 0], p3 = po[J > 3 ? 3 : 0];
    const ptrdiff_t p4 = po[J > 4 ? 4 : 0], p5 = po[J > 5 ? 5 : 0];
    for (int t = 0; t < T; t++, wp += DEEPX_BC_K) {
        const float* xt = x + toff[t];
        if (t < npf)  /* a line of what the next pass reads, into L2 */
            _mm_prefetch((const char*)(pf + 16 * t), _MM_HINT_T1);
        __m512 w0 = _mm512_loadu_ps(wp), w1 = w0, w2 = w0, w3 = w0;
        if (KV > 1) w1 = _mm512_loadu_ps(wp + 16);
        if (KV > 2) w2 = _mm512_loadu_ps(wp + 32);
        if (KV > 3) w3 = _mm512_loadu_ps(wp + 48);
#define DX_BC_FMA(j)                                                                \
        if (j < J) {                                                                \
            __m512 v = _mm512_set1_ps(xt[p##j]);                                    \
            a##j##0 = _mm512_fmadd_ps(w0, v, a##j##0);                              \
            if (KV > 1) a##j##1 = _mm512_fmadd_ps(w1, v, a##j##1);                  \
            if (KV > 2) a##j##2 = _mm512_fmadd_ps(w2, v, a##j##2);                  \
            if (KV > 3) a##j##3 = _mm512_fmadd_ps(w3, v, a##j##3);                  \
        }
        DX_BC_FMA(0) DX_BC_FMA(1) DX_BC_FMA(2) DX_BC_FMA(3) DX_BC_FMA(4) DX_BC_FMA(5)
    }
    for (int l = T; l < npf; l++)  /* more lines than taps (an item of few tiles) */
        _mm_prefetch((const char*)(pf + 16 * l), _MM_HINT_T1);
#define DX_BC_STORE(j)                                                              \
    if (j < J) {                                                                    \
        _mm512_storeu_ps(buf + j * DEEPX_BC_K, a##j##0);                            \
        if (KV > 1) _mm512_storeu_ps(buf + j * DEEPX_BC_K + 16, a##j##1);           \
        if (KV > 2) _mm512_storeu_ps(buf + j * DEEPX_BC_K + 32, a##j##2);           \
        if (KV > 3) _mm512_storeu_ps(buf + j * DEEPX_BC_K + 48, a##j##3);           \
    }
    DX_BC_STORE(0) DX_BC_STORE(1) DX_BC_STORE(2) DX_BC_STORE(3) DX_BC_STORE(4) DX_BC_STORE(5)
#undef DX_BC_ROW
#undef DX_BC_FMA
#undef DX_BC_STORE
}

/* the tile for any KV (1-4) and J (1-6), each pair compiled on its own; not inlined, so that its 29 vectors get
   registers of their own (inlined into deepx_bc_item, gcc 12 kept two weights on the stack: 1.5 ms for ResNet50's
   128 -> 128 3x3/2 instead of 1.1) */
__attribute__((target("avx512f,fma"), noinline))
static void deepx_bc_any(int T, const float* wp, const float* x, const int* toff, const int* po, float* buf, int first,
                         const float* pf, int npf, int KV, int J) {
#define DX_BC_J(kv)                                                                     \
    switch (J) {                                                                        \
    case 6: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 6); return;      \
    case 5: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 5); return;      \
    case 4: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 4); return;      \
    case 3: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 3); return;      \
    case 2: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 2); return;      \
    default: deepx_bc_tile(T, wp, x, toff, po, buf, first, pf, npf, kv, 1); return;     \
    }
    switch (KV) {
    case 4: DX_BC_J(4)
    case 3: DX_BC_J(3)
    case 2: DX_BC_J(2)
    default: DX_BC_J(1)
    }
#undef DX_BC_J
}
#endif

/* pixels j0 .. j0 + n of the output plane (P*Q of them, pixel j's inputs at x + po[j] + toff[t]) and
   channels k0 .. k0 + 64 (< K): y[k, j] = clamp(Σ + bias[k] + res[k, j]) (bias, res NULL: none; clip: clamp to
   [lo, hi]); buf: n x 64 floats of the caller's */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,fma")))
#endif
static void deepx_bc_item(int K, int T, const float* wp, const float* x, const int* toff, const int* po, int j0, int n,
                          int k0, float* y, const float* res, size_t PQ, const float* bias, int clip, float lo,
                          float hi, float* buf) {
#if defined(__x86_64__) && defined(__GNUC__)
    int kv = (K - k0 + 15) / 16 < 4 ? (K - k0 + 15) / 16 : 4;
    int passes = (T + DEEPX_BC_PASS - 1) / DEEPX_BC_PASS, ts = (T + passes - 1) / passes;  /* as even as can be */
    const float* end = wp + deepx_bc_floats(K, T);
    int tiles = (n + DEEPX_BC_J - 1) / DEEPX_BC_J;
    wp += (size_t)k0 * T;
    for (int t0 = 0; t0 < T; t0 += ts) {
        /* the next pass's weights (past the last pass, the next block's: the next item's, mostly), a share of its
           lines a tile: from memory while this pass computes, not all in the first tile of the next (measured on the
           AVX-512 Xeon with cold weights: ResNet50's 512 -> 512 3x3 on 7x7 alone 2.33 -> 1.61 ms; whole models, both
           alternating: ResNet50 3-4% faster, Inception v2 4-6%, the other light models 0-4%) */
        const float* next = wp + (size_t)(t0 + ts) * DEEPX_BC_K;
        ptrdiff_t lines = (ptrdiff_t)ts * DEEPX_BC_K / 16, left = next < end ? (end - next) / 16 : 0;
        lines = lines < left ? lines : left;
        int share = (int)((lines + tiles - 1) / tiles);
        for (int j = 0, i = 0; j < n; j += DEEPX_BC_J, i++) {
            ptrdiff_t l0 = (ptrdiff_t)i * share, npf = lines - l0 < share ? lines - l0 : share;
            deepx_bc_any(T - t0 < ts ? T - t0 : ts, wp + (size_t)t0 * DEEPX_BC_K, x, toff + t0, po + j0 + j,
                         buf + (size_t)j * DEEPX_BC_K, t0 == 0, next + 16 * l0, npf > 0 ? (int)npf : 0, kv,
                         n - j < DEEPX_BC_J ? n - j : DEEPX_BC_J);
        }
    }
    __m512 vl = _mm512_set1_ps(lo), vh = _mm512_set1_ps(hi);
    for (int v = 0; v < kv; v++)
        for (int j = 0; j < n; j += 16) {
            __m512 r[16];
            __mmask16 m = deepx_lanes(0, n - j);
            for (int i = 0; i < 16; i++)  /* rows past n: whatever buf holds, in lanes not stored */
                r[i] = _mm512_loadu_ps(buf + (size_t)(j + i) * DEEPX_BC_K + v * 16);
            deepx_transpose16(r);
            for (int l = 0; l < 16 && k0 + v * 16 + l < K; l++) {
                size_t k = (size_t)k0 + v * 16 + l;
                __m512 o = r[l];
                if (bias)
                    o = _mm512_add_ps(o, _mm512_set1_ps(bias[k]));
                if (res)
                    o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, res + k * PQ + j0 + j));
                if (clip)
                    o = _mm512_min_ps(vh, _mm512_max_ps(vl, o));
                _mm512_mask_storeu_ps(y + k * PQ + j0 + j, m, o);
            }
        }
#endif
}
#endif
