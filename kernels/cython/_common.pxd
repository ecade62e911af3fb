# Inline helpers shared by the Cython kernels: fused activation, row-major sgemm, scratch sizes.
# Over 400 lines: the activation kinds' vectorizable C (exp, erf, mish) and the BLAS binding every family uses.
from cython.parallel cimport prange
from libc.math cimport ceilf, erff, expf, expm1f, fabsf, floorf, log1pf, logf, sqrtf, tanhf
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport sgemm, sgemv

# activation kinds, as in kernels/common.py
cdef enum:
    NONE = 0
    CLIP = 1
    SIGMOID = 2
    TANH = 3
    HARDSIGMOID = 4
    HARDSWISH = 5
    LEAKYRELU = 6
    ELU = 7
    SELU = 8
    CELU = 9
    THRESHOLDEDRELU = 10
    SOFTPLUS = 11
    SOFTSIGN = 12
    GELU = 13
    GELU_TANH = 14
    MISH = 15
    SILU = 16
    EXP = 17
    LOG = 18
    NEG = 19
    ABS = 20
    SQRT = 21
    RECIPROCAL = 22
    ERF = 23
    FLOOR = 24
    CEIL = 25
    NOT = 26

# below this many elements of work a loop runs on one thread (an OpenMP fork costs a few µs)
cdef enum:
    PAR_MIN = 32768

cdef struct ActC:
    int kind
    float lo, hi


cdef inline int cdiv_up(int a, int b) noexcept nogil:
    # ceil(a / b) for b > 0 and any sign of a
    return (a + b - 1) // b if a > 0 else -((-a) // b)


cdef inline ActC as_act(object act):
    """kernels.common.Act -> ActC."""
    cdef ActC a
    a.kind, a.lo, a.hi = act.kind, act.lo, act.hi
    return a


cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    /* Branch-free float32 e^x, erf, mish, so that loops over them vectorize (libm's are a call
       per element; a float compare-and-select does not vectorize under GCC's default
       -ftrapping-math, so x is clamped on its bits). e^x: x clamped to [-87.3, 88.3],
       = 2^n e^r with |r| <= ln2/2, Cephes' polynomial for e^r: within 2 ulp. */
    static inline float deepx_exp(float x) {
        int32_t ix, sign, mag, lim, bits;
        float t, n, r, p, scale;
        memcpy(&ix, &x, 4);
        sign = ix & (int32_t)0x80000000;
        mag = ix & 0x7fffffff;
        lim = sign ? 0x42AE999A : 0x42B0999A;
        ix = (mag < lim ? mag : lim) | sign;
        memcpy(&x, &ix, 4);
        t = x * 1.44269504f + 12582912.0f;  /* 1.5 * 2^23: t's low bits hold round(x / ln2) */
        n = t - 12582912.0f;
        memcpy(&bits, &t, 4);
        r = x - n * 0.693359375f - n * -2.12194440e-4f;
        p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        bits = (bits - 0x4B400000 + 127) << 23;
        memcpy(&scale, &bits, 4);
        return p * scale;
    }
    /* erf within 2e-7 (Abramowitz & Stegun 7.1.26) */
    static inline float deepx_erf(float x) {
        float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
        float y = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f
                  + t * 1.061405429f))));
        return copysignf(1.0f - y * deepx_exp(-a * a), x);
    }
    /* max(0, min(1, u)) and v < 0 ? a v : v on the bits (integer selects vectorize) */
    static inline float deepx_clamp01(float u) {
        int32_t i;
        memcpy(&i, &u, 4);
        i &= ~(i >> 31);
        i = i < 0x3F800000 ? i : 0x3F800000;
        memcpy(&u, &i, 4);
        return u;
    }
    static inline float deepx_leaky(float v, float a) {
        int32_t i, ia, f;
        float s;
        memcpy(&i, &v, 4);
        memcpy(&ia, &a, 4);
        i >>= 31;
        f = (0x3F800000 & ~i) | (ia & i);
        memcpy(&s, &f, 4);
        return v * s;
    }
    /* v tanh(log(1 + e^v)) = v (1 - 2 / (n + 2)), n = e^v (e^v + 2) */
    static inline float deepx_mish(float v) {
        float e = deepx_exp(v), n = e * (e + 2.0f);
        return v - 2.0f * v / (n + 2.0f);
    }
    /* The transcendental activations' loops in 16-lane vectors: the same scalar code, which GCC vectorizes at
       512 bits in a function built for AVX-512 (SiLU 0.47 -> 0.25 ms per million floats against the x86-64-v3
       build's 8 lanes); deepx_act512 returns 0 on a CPU without AVX-512 (the caller's loop runs). */
    #include "deepx_gemm.h"  /* deepx_gemm_cpu: the CPU check */
    enum { DEEPX_ACT512_SIGMOID = 1, DEEPX_ACT512_SILU, DEEPX_ACT512_GELU, DEEPX_ACT512_MISH };
    #if defined(__x86_64__) && defined(__GNUC__)
    __attribute__((target("avx512f,prefer-vector-width=512")))
    static void deepx_act512_loop(int which, const float* x, float* y, Py_ssize_t n, float scale, float shift) {
        Py_ssize_t j;
        float v;
        if (which == DEEPX_ACT512_SIGMOID)
            for (j = 0; j < n; j++)
                y[j] = 1.0f / (1.0f + deepx_exp(-(x[j] * scale + shift)));
        else if (which == DEEPX_ACT512_SILU)
            for (j = 0; j < n; j++) {
                v = x[j] * scale + shift;
                y[j] = v * (1.0f / (1.0f + deepx_exp(-v)));
            }
        else if (which == DEEPX_ACT512_GELU)
            for (j = 0; j < n; j++) {
                v = x[j] * scale + shift;
                y[j] = 0.5f * v * (1.0f + deepx_erf(v * 0.7071067811865476f));
            }
        else
            for (j = 0; j < n; j++)
                y[j] = deepx_mish(x[j] * scale + shift);
    }
    static int deepx_act512(int which, const float* x, float* y, Py_ssize_t n, float scale, float shift) {
        static int avx512 = -1;
        if (avx512 < 0)
            avx512 = deepx_gemm_cpu() == 2;
        if (avx512)
            deepx_act512_loop(which, x, y, n, scale, shift);
        return avx512;
    }
    #else
    static int deepx_act512(int which, const float* x, float* y, Py_ssize_t n, float scale, float shift) {
        return 0;
    }
    #endif
    """
    float exp_fast "deepx_exp"(float x) noexcept nogil
    float erf_fast "deepx_erf"(float x) noexcept nogil
    float mish_fast "deepx_mish"(float v) noexcept nogil
    float clamp01 "deepx_clamp01"(float u) noexcept nogil
    float leaky "deepx_leaky"(float v, float a) noexcept nogil
    enum:
        ACT512_SIGMOID "DEEPX_ACT512_SIGMOID"
        ACT512_SILU "DEEPX_ACT512_SILU"
        ACT512_GELU "DEEPX_ACT512_GELU"
        ACT512_MISH "DEEPX_ACT512_MISH"
    bint act512 "deepx_act512"(int which, const float* x, float* y, Py_ssize_t n, float scale,
                               float shift) noexcept nogil


cdef inline float sigmoid_fast(float v) noexcept nogil:
    return <float>1 / (<float>1 + exp_fast(-v))  # float constants: a double division would not vectorize


cdef inline float gelu_fast(float v) noexcept nogil:
    return <float>0.5 * v * (<float>1 + erf_fast(v * <float>0.7071067811865476))


cdef inline float softplus(float v) noexcept nogil:
    return (v if v > 0 else 0.0) + log1pf(expf(-fabsf(v)))


cdef inline float act_one(float v, ActC act) noexcept nogil:
    # the kinds that affine_act has no loop of its own for
    if act.kind == HARDSIGMOID:
        return clamp01(v * act.lo + act.hi)
    if act.kind == ELU:
        return v if v >= 0 else act.lo * expm1f(v)
    if act.kind == SELU:
        return act.hi * (v if v > 0 else act.lo * expm1f(v))
    if act.kind == CELU:
        return (v if v > 0 else 0.0) + min(0.0, act.lo * expm1f(v / act.lo))
    if act.kind == THRESHOLDEDRELU:
        return v if v > act.lo else 0.0
    if act.kind == SOFTPLUS:
        return softplus(v)
    if act.kind == SOFTSIGN:
        return v / (1.0 + fabsf(v))
    if act.kind == GELU:
        return gelu_fast(v)
    if act.kind == GELU_TANH:
        return 0.5 * v * (1.0 + tanhf(<float>0.7978845608028654
                                      * (v + <float>0.044715 * v * v * v)))
    if act.kind == MISH:
        return mish_fast(v)
    if act.kind == EXP:
        return expf(v)
    if act.kind == LOG:
        return logf(v)
    if act.kind == NEG:
        return -v
    if act.kind == ABS:
        return fabsf(v)
    if act.kind == SQRT:
        return sqrtf(v)
    if act.kind == RECIPROCAL:
        return 1.0 / v
    if act.kind == ERF:
        return erff(v)
    if act.kind == FLOOR:
        return floorf(v)
    if act.kind == CEIL:
        return ceilf(v)
    if act.kind == NOT:
        return 1.0 if v == 0 else 0.0
    return v


cdef inline void affine_act(const float* x, float* y, Py_ssize_t n, float scale, float shift,
                            ActC act) noexcept nogil:
    # x (n) -> y (n) = act(x * scale + shift); x may be y
    cdef Py_ssize_t j
    cdef float v
    cdef int wide = (ACT512_SIGMOID if act.kind == SIGMOID else ACT512_SILU if act.kind == SILU
                     else ACT512_GELU if act.kind == GELU else ACT512_MISH if act.kind == MISH else 0)
    if wide and n >= 16 and act512(wide, x, y, n, scale, shift):
        return
    if act.kind == CLIP:
        for j in range(n):
            v = x[j] * scale + shift
            v = v if v > act.lo else act.lo
            y[j] = v if v < act.hi else act.hi
    elif act.kind == SIGMOID:
        for j in range(n):
            y[j] = sigmoid_fast(x[j] * scale + shift)
    elif act.kind == TANH:
        for j in range(n):
            y[j] = tanhf(x[j] * scale + shift)
    elif act.kind == SILU:
        for j in range(n):
            v = x[j] * scale + shift
            y[j] = v * sigmoid_fast(v)
    elif act.kind == GELU:
        for j in range(n):
            y[j] = gelu_fast(x[j] * scale + shift)
    elif act.kind == MISH:
        for j in range(n):
            y[j] = mish_fast(x[j] * scale + shift)
    elif act.kind == HARDSWISH:
        for j in range(n):
            v = x[j] * scale + shift
            y[j] = v * clamp01(v * act.lo + act.hi)
    elif act.kind == HARDSIGMOID:
        for j in range(n):
            y[j] = clamp01((x[j] * scale + shift) * act.lo + act.hi)
    elif act.kind == LEAKYRELU:
        for j in range(n):
            y[j] = leaky(x[j] * scale + shift, act.lo)
    elif act.kind == NONE:
        for j in range(n):
            y[j] = x[j] * scale + shift
    else:
        for j in range(n):
            y[j] = act_one(x[j] * scale + shift, act)


cdef enum:
    LANE_PLAIN = 0  # lane_sum's terms: d, d² or |d| of d = x - shift
    LANE_SQUARE = 1
    LANE_ABS = 2
    SUM_LANES = 8  # float partial sums of a row, so that the compiler may vectorize
    SUM_BLOCK = 4096  # elements the lanes take before they are added into the double total


cdef inline double lane_sum(const float* x, Py_ssize_t n, float shift, int terms) noexcept nogil:
    # sum over x (n) of d, d² (LANE_SQUARE) or |d| (LANE_ABS), d = x - shift, in float lanes added into a double
    cdef float s[SUM_LANES]
    cdef float d
    cdef double total = 0.0
    cdef Py_ssize_t i, b, end, n8 = n - n % SUM_LANES
    cdef int j
    for b in range((n8 + SUM_BLOCK - 1) // SUM_BLOCK):
        end = min((b + 1) * SUM_BLOCK, n8)
        for j in range(SUM_LANES):
            s[j] = 0.0
        for i in range(b * SUM_BLOCK // SUM_LANES, end // SUM_LANES):
            for j in range(SUM_LANES):
                d = x[i * SUM_LANES + j] - shift
                s[j] += d * d if terms == LANE_SQUARE else (fabsf(d) if terms == LANE_ABS else d)
        for j in range(SUM_LANES):
            total += s[j]
    for i in range(n8, n):
        d = x[i] - shift
        total += d * d if terms == LANE_SQUARE else (fabsf(d) if terms == LANE_ABS else d)
    return total


cdef inline void vector_act(float* y, Py_ssize_t n, const float* b, ActC act) noexcept nogil:
    # y (n) = act(y + b), b (n) or NULL
    cdef Py_ssize_t j
    if b != NULL:
        for j in range(n):
            y[j] += b[j]
    if act.kind != NONE:
        affine_act(y, y, n, 1.0, 0.0, act)


cdef inline void gemm(bint ta, bint tb, int m, int n, int k, const float* a, int lda,
                      const float* b, int ldb, float beta, float* c, int ldc) noexcept nogil:
    # row-major c (m,n) = op(a) (m,k) · op(b) (k,n) + beta·c,
    # computed as column-major cᵀ = op(b)ᵀ · op(a)ᵀ
    cdef float one = 1.0
    cdef char ca = c'T' if ta else c'N'
    cdef char cb = c'T' if tb else c'N'
    cdef char cv = c'T' if tb else c'N'
    cdef int inc = lda if ta else 1
    cdef int uno = 1
    if m == 1:  # c (n) = op(b)ᵀ · a
        if deepx_sgemv(cv, k if tb else n, n if tb else k, b, ldb, a, inc, beta, c):
            return
        if tb:
            sgemv(&cv, &k, &n, &one, <float*>b, &ldb, <float*>a, &inc, &beta, c, &uno)
        else:
            sgemv(&cv, &n, &k, &one, <float*>b, &ldb, <float*>a, &inc, &beta, c, &uno)
        return
    if not deepx_sgemm(cb, ca, n, m, k, b, ldb, a, lda, beta, c, ldc):
        sgemm(&cb, &ca, &n, &m, &k, &one, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)


# strided loops over up to MAXD axes (merged by deepx.kernels.common.merge_axes), row by row over
# the last
cdef enum:
    MAXD = 6


cdef inline Py_ssize_t row_offset(Py_ssize_t row, const Py_ssize_t* shape,
                                  const Py_ssize_t* strides) noexcept nogil:
    # element offset of row `row` (an index over axes 0 .. MAXD-2) in an operand with `strides`
    cdef Py_ssize_t off = 0
    cdef int d
    for d in range(MAXD - 2, -1, -1):
        off += row % shape[d] * strides[d]
        row //= shape[d]
    return off


cdef extern from *:
    """
    #include <dlfcn.h>
    #include <stdint.h>
    #include <stdio.h>
    /* The BLAS that numpy links (its own OpenBLAS in numpy's wheels, often newer and faster on small
       GEMMs than the one scipy bundles), found through numpy's extension module: sgemm / sgemv with
       32- or 64-bit integers, and OpenBLAS's thread-count setters. */
    typedef void (*deepx_sgemm32_t)(const char*, const char*, const int32_t*, const int32_t*,
        const int32_t*, const float*, const float*, const int32_t*, const float*, const int32_t*,
        const float*, float*, const int32_t*);
    typedef void (*deepx_sgemm64_t)(const char*, const char*, const int64_t*, const int64_t*,
        const int64_t*, const float*, const float*, const int64_t*, const float*, const int64_t*,
        const float*, float*, const int64_t*);
    typedef void (*deepx_sgemv32_t)(const char*, const int32_t*, const int32_t*, const float*,
        const float*, const int32_t*, const float*, const int32_t*, const float*, float*,
        const int32_t*);
    typedef void (*deepx_sgemv64_t)(const char*, const int64_t*, const int64_t*, const float*,
        const float*, const int64_t*, const float*, const int64_t*, const float*, float*,
        const int64_t*);
    static void* deepx_gemm_fn = 0;
    static void* deepx_gemv_fn = 0;
    static int deepx_ilp64 = 0;
    static int (*deepx_blas_get)(void) = 0;
    static void (*deepx_blas_set)(int) = 0;
    static const char* deepx_blas_pre[] = {"scipy_", ""};
    static const char* deepx_blas_suf[] = {"64_", "_64", ""};

    static void deepx_bind_threads(void* h) {
        char get[64], set[64];
        for (int i = 0; i < 2 && !deepx_blas_get; i++)
            for (int j = 0; j < 3 && !deepx_blas_get; j++) {
                snprintf(get, sizeof get, "%sopenblas_get_num_threads%s", deepx_blas_pre[i], deepx_blas_suf[j]);
                snprintf(set, sizeof set, "%sopenblas_set_num_threads%s", deepx_blas_pre[i], deepx_blas_suf[j]);
                if (dlsym(h, get) && dlsym(h, set)) {
                    deepx_blas_get = (int (*)(void))dlsym(h, get);
                    deepx_blas_set = (void (*)(int))dlsym(h, set);
                }
            }
    }

    /* GEMMs from the BLAS under numpy_module (else the caller keeps scipy's cython_blas), thread
       setters from that same BLAS (else from the library scipy_module links) */
    static void deepx_blas_bind(const char* numpy_module, const char* scipy_module) {
        static const char* gemm[][2] = {{"scipy_sgemm_64_", "scipy_sgemv_64_"},
                                        {"sgemm_64_", "sgemv_64_"}, {"sgemm_", "sgemv_"}};
        void* h = dlopen(numpy_module, RTLD_NOW | RTLD_NOLOAD);
        for (int i = 0; h && i < 3 && !deepx_gemm_fn; i++)
            if (dlsym(h, gemm[i][0]) && dlsym(h, gemm[i][1])) {
                deepx_gemm_fn = dlsym(h, gemm[i][0]);
                deepx_gemv_fn = dlsym(h, gemm[i][1]);
                deepx_ilp64 = i < 2;
            }
        if (deepx_gemm_fn) deepx_bind_threads(h);
        else if ((h = dlopen(scipy_module, RTLD_NOW | RTLD_NOLOAD))) deepx_bind_threads(h);
    }

    /* column-major c = op(a) op(b) + beta c through the bound BLAS; 0 when none is bound */
    static inline int deepx_sgemm(char ta, char tb, int m, int n, int k, const float* a, int lda,
                                  const float* b, int ldb, float beta, float* c, int ldc) {
        const float one = 1.0f;
        if (!deepx_gemm_fn) return 0;
        if (deepx_ilp64) {
            int64_t M = m, N = n, K = k, LA = lda, LB = ldb, LC = ldc;
            ((deepx_sgemm64_t)deepx_gemm_fn)(&ta, &tb, &M, &N, &K, &one, a, &LA, b, &LB, &beta, c, &LC);
        } else {
            int32_t M = m, N = n, K = k, LA = lda, LB = ldb, LC = ldc;
            ((deepx_sgemm32_t)deepx_gemm_fn)(&ta, &tb, &M, &N, &K, &one, a, &LA, b, &LB, &beta, c, &LC);
        }
        return 1;
    }

    /* column-major y = op(a) x + beta y (unit stride y) through the bound BLAS; 0 when none */
    static inline int deepx_sgemv(char t, int m, int n, const float* a, int lda, const float* x,
                                  int incx, float beta, float* y) {
        const float one = 1.0f;
        if (!deepx_gemv_fn) return 0;
        if (deepx_ilp64) {
            int64_t M = m, N = n, LA = lda, IX = incx, IY = 1;
            ((deepx_sgemv64_t)deepx_gemv_fn)(&t, &M, &N, &one, a, &LA, x, &IX, &beta, y, &IY);
        } else {
            int32_t M = m, N = n, LA = lda, IX = incx, IY = 1;
            ((deepx_sgemv32_t)deepx_gemv_fn)(&t, &M, &N, &one, a, &LA, x, &IX, &beta, y, &IY);
        }
        return 1;
    }
    """
    void* deepx_gemm_fn
    int (*deepx_blas_get)() noexcept nogil
    void (*deepx_blas_set)(int) noexcept nogil
    void deepx_blas_bind(const char* numpy_module, const char* scipy_module)
    bint deepx_sgemm(char ta, char tb, int m, int n, int k, const float* a, int lda,
                     const float* b, int ldb, float beta, float* c, int ldc) noexcept nogil
    bint deepx_sgemv(char t, int m, int n, const float* a, int lda, const float* x, int incx,
                     float beta, float* y) noexcept nogil

cdef extern from "deepx_gemm.h":
    int deepx_gemm_cpu() noexcept nogil
    long deepx_l2_bytes() noexcept nogil
    int deepx_gemm_isa() noexcept nogil
    int deepx_gemm_mr(int level) noexcept nogil
    int deepx_gemm_pick(int isa, int m, int k) noexcept nogil
    size_t deepx_packed_floats(int level, int m, int k) noexcept nogil
    void deepx_pack_a(int level, int m, int k, const float* a, size_t lda, float* ap) noexcept nogil
    void deepx_gemm_implicit(int level, int m, int n, int k, const float* ap, const float* xp, const int* off,
                             float* c, size_t ldc, const float* bias, int clip, float lo, float hi) noexcept nogil
    void deepx_gemm_packed(int level, int m, int n, int k, const float* ap, const float* b, size_t ldb,
                           float* c, const float* res, size_t ldc, const float* bias, int clip, float lo,
                           float hi) noexcept nogil

cdef extern from "<omp.h>":
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil

cdef extern from *:
    """
    static inline void deepx_omp_barrier(void) {  /* every thread of the team waits here for the others */
        _Pragma("omp barrier")
    }
    """
    void omp_barrier "deepx_omp_barrier"() noexcept nogil


cdef inline void bind_blas():
    """Bind the BLAS (once per module, at import): numpy's when its symbols are found, else
    scipy's cython_blas (cimported above, so already in sys.modules; reading it from there does
    not import all of scipy.linalg)."""
    import sys
    import numpy
    deepx_blas_bind(numpy._core._multiarray_umath.__file__.encode(),
                    sys.modules["scipy.linalg.cython_blas"].__file__.encode())


cdef inline int blas_serial() noexcept nogil:
    # make BLAS single-threaded; returns its thread count before (0: not OpenBLAS, left alone)
    cdef int n
    if deepx_blas_get == NULL:
        return 0
    n = deepx_blas_get()
    if n > 1:
        deepx_blas_set(1)
    return n


cdef inline void blas_restore(int n) noexcept nogil:
    if n > 1:
        deepx_blas_set(n)


cdef inline int kernel_threads(int blas_before) noexcept nogil:
    # threads our loops split GEMMs over: OpenMP's count when BLAS was made serial, else 1
    # (then BLAS threads each GEMM itself)
    return omp_get_max_threads() if blas_before else 1


cdef inline void bias_act_rows(float* y, int rows, int cols, Py_ssize_t ld, const float* b,
                               ActC act) noexcept nogil:
    # y (rows, cols), row stride ld: y = act(y + b (rows)), b may be NULL
    cdef int k
    if b == NULL and act.kind == NONE:
        return
    for k in range(rows):
        affine_act(y + k * ld, y + k * ld, cols, 1.0, b[k] if b != NULL else 0.0, act)


cdef enum:
    SHARES = 2  # blocks per thread in a split loop (dynamic schedule: a busy core takes fewer)


cdef inline void copy_rows(float* c, const float* res, int rows, int cols, Py_ssize_t ld) noexcept nogil:
    # c (rows, cols), row stride ld = res (laid out as c)
    cdef int k
    for k in range(rows):
        memcpy(c + k * ld, res + k * ld, cols * sizeof(float))


cdef inline void gemm_parts(int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                            float* c, const float* res, int ldc, const float* bias, ActC act,
                            int nth) noexcept nogil:
    # c (m,n) = act(a (m,k) · b (k,n) + bias (m) [+ res (laid out as c)]); nth > 1: blocks of columns (of rows
    # when the columns are few) shared by nth threads, one serial-BLAS GEMM each (onto res, copied to c first)
    cdef int nb = 1, part, lo, hi
    cdef bint cols = n >= 256 * nth
    if nth > 1 and cols:
        nb = min(cdiv_up(n, 128), SHARES * nth)
    elif nth > 1 and m >= 16 * nth:  # each block packs all of b: one block per thread
        nb = nth
    for part in prange(nb, num_threads=nth, schedule='dynamic', use_threads_if=nb > 1):
        if cols:
            lo = (<long>n * part // nb) & ~15
            hi = n if part == nb - 1 else (<long>n * (part + 1) // nb) & ~15
            if res != NULL:
                copy_rows(c + lo, res + lo, m, hi - lo, ldc)
            gemm(False, False, m, hi - lo, k, a, lda, b + lo, ldb, res != NULL, c + lo, ldc)
            bias_act_rows(c + lo, m, hi - lo, ldc, bias, act)
        else:
            lo = <long>m * part // nb
            hi = <long>m * (part + 1) // nb
            if res != NULL:
                copy_rows(c + <Py_ssize_t>lo * ldc, res + <Py_ssize_t>lo * ldc, hi - lo, n, ldc)
            gemm(False, False, hi - lo, n, k, a + <Py_ssize_t>lo * lda, lda, b, ldb, res != NULL,
                 c + <Py_ssize_t>lo * ldc, ldc)
            bias_act_rows(c + <Py_ssize_t>lo * ldc, hi - lo, n, ldc,
                          bias + lo if bias != NULL else NULL, act)


cdef inline void gemm_packed_act(int level, int m, int n, int k, const float* ap, const float* b, Py_ssize_t ldb,
                                 float* c, const float* res, Py_ssize_t ldc, const float* bias,
                                 ActC act) noexcept nogil:
    # c (m,n) = act(ap · b + bias [+ res]) on one thread: a clip in deepx_gemm_packed's registers, any other
    # activation over c after it
    deepx_gemm_packed(level, m, n, k, ap, b, ldb, c, res, ldc, bias, act.kind == CLIP, act.lo, act.hi)
    if act.kind != CLIP:
        bias_act_rows(c, m, n, ldc, NULL, act)


cdef inline void packed_part(int level, int m, int n, int k, const float* ap, const float* b, int ldb, float* c,
                             const float* res, int ldc, const float* bias, ActC act, bint cols, int part,
                             int nb) noexcept nogil:
    # part `part` of nb of gemm_packed_parts: a block of columns (cols) or of whole row panels
    cdef int lo, hi, mr = deepx_gemm_mr(level), panels = cdiv_up(m, mr)
    if cols:
        lo = (<long>n * part // nb) & ~31
        hi = n if part == nb - 1 else (<long>n * (part + 1) // nb) & ~31
        gemm_packed_act(level, m, hi - lo, k, ap, b + lo, ldb, c + lo, res + lo if res != NULL else NULL, ldc, bias,
                        act)
    else:
        lo = min(m, panels * part // nb * mr)
        hi = min(m, panels * (part + 1) // nb * mr)
        gemm_packed_act(level, hi - lo, n, k, ap + <Py_ssize_t>lo * k, b, ldb, c + <Py_ssize_t>lo * ldc,
                        res + <Py_ssize_t>lo * ldc if res != NULL else NULL, ldc, bias + lo if bias != NULL else NULL,
                        act)


cdef inline void gemm_packed_parts(int level, int m, int n, int k, const float* ap, const float* b,
                                   int ldb, float* c, const float* res, int ldc, const float* bias, ActC act,
                                   int nth) noexcept nogil:
    # gemm_parts with a (m,k) packed by deepx_pack_a for `level`: blocks of columns (of whole row panels when the
    # columns are few) shared by nth threads; res and a clip are applied in the kernel's registers. Columns also
    # when b is too large to stay in L2 beside a's stream (over half of L2, and 512 KB) and each thread gets 64 or
    # more: each reads its part of b, not all of it (measured on the AVX2 EPYC, 512 KB of L2: ResNet50's 1024 -> 256
    # 1x1 convs on 14x14 at 2 threads 0.35 -> 0.29 ms each in the model; on the AVX-512 Xeon, 2 MB, the same convs'
    # 800 KB of b stay on whole row panels: 0.49 -> 0.44 ms each, its 1024 -> 512 0.94 -> 0.84). A GEMM that widens
    # its input (m >= 2k: an expanding 1x1 conv) gives thread t the t-th run of row panels, so that what runs per
    # channel after it (a depthwise conv splits its channels so, statically) finds its channels in its own core's
    # cache, not half of them in the other's (measured on MobileNetV2 at 2 threads on the AVX-512 Xeon, both splits
    # alternating in one process: 2-3% off the whole model; its depthwise convs on 56x56 to 14x14 9-29% faster,
    # those on 112x112, past L2, 6% slower)
    cdef int nb = 1, part, panels = cdiv_up(m, deepx_gemm_mr(level))
    cdef size_t big = max(1 << 19, deepx_l2_bytes() // 2)
    cdef bint cols = n >= 256 * nth or n >= 64 * nth and <size_t>k * n * sizeof(float) > big
    if nth > 1 and panels >= nth and m >= 2 * k:
        for part in prange(nth, num_threads=nth, schedule='static'):
            packed_part(level, m, n, k, ap, b, ldb, c, res, ldc, bias, act, False, part, nth)
        return
    if nth > 1 and cols:
        nb = max(nth, min(cdiv_up(n, 128), SHARES * nth))
    elif nth > 1 and panels >= nth:
        nb = min(panels, SHARES * nth)
    for part in prange(nb, num_threads=nth, schedule='dynamic', use_threads_if=nb > 1):
        packed_part(level, m, n, k, ap, b, ldb, c, res, ldc, bias, act, cols, part, nb)
