# Inline helpers shared by the Cython kernels: fused activation, row-major sgemm, scratch sizes.
from cython.parallel cimport prange
from libc.math cimport expf, tanhf
from scipy.linalg.cython_blas cimport sgemm, sgemv

# activation kinds, as in kernels/common.py
cdef enum:
    NONE = 0
    CLIP = 1
    SIGMOID = 2
    TANH = 3

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


cdef inline void affine_act(const float* x, float* y, Py_ssize_t n, float scale, float shift,
                            ActC act) noexcept nogil:
    # x (n) -> y (n) = act(x * scale + shift); x may be y
    cdef Py_ssize_t j
    cdef float v
    if act.kind == CLIP:
        for j in range(n):
            v = x[j] * scale + shift
            v = v if v > act.lo else act.lo
            y[j] = v if v < act.hi else act.hi
    elif act.kind == SIGMOID:
        for j in range(n):
            y[j] = 1.0 / (1.0 + expf(-(x[j] * scale + shift)))
    elif act.kind == TANH:
        for j in range(n):
            y[j] = tanhf(x[j] * scale + shift)
    else:
        for j in range(n):
            y[j] = x[j] * scale + shift


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
        if tb:
            sgemv(&cv, &k, &n, &one, <float*>b, &ldb, <float*>a, &inc, &beta, c, &uno)
        else:
            sgemv(&cv, &n, &k, &one, <float*>b, &ldb, <float*>a, &inc, &beta, c, &uno)
        return
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
    #include <stdio.h>
    /* OpenBLAS's thread-count setters, found through the library that scipy's BLAS links */
    static int (*deepx_blas_get)(void) = 0;
    static void (*deepx_blas_set)(int) = 0;
    static void deepx_blas_bind(const char* module_path) {
        static const char* pre[] = {"scipy_", ""};
        static const char* suf[] = {"", "64_", "_64"};
        char get[64], set[64];
        void* h = dlopen(module_path, RTLD_NOW | RTLD_NOLOAD);
        if (!h) return;
        for (int i = 0; i < 2 && !deepx_blas_get; i++)
            for (int j = 0; j < 3 && !deepx_blas_get; j++) {
                snprintf(get, sizeof get, "%sopenblas_get_num_threads%s", pre[i], suf[j]);
                snprintf(set, sizeof set, "%sopenblas_set_num_threads%s", pre[i], suf[j]);
                if (dlsym(h, get) && dlsym(h, set)) {
                    deepx_blas_get = (int (*)(void))dlsym(h, get);
                    deepx_blas_set = (void (*)(int))dlsym(h, set);
                }
            }
    }
    """
    int (*deepx_blas_get)() noexcept nogil
    void (*deepx_blas_set)(int) noexcept nogil
    void deepx_blas_bind(const char* module_path)

cdef extern from "<omp.h>":
    int omp_get_max_threads() noexcept nogil


cdef inline void bind_blas():
    """Find OpenBLAS's thread setters (once per module, at import). The cimport of sgemm imported
    cython_blas already; it is read from sys.modules, which does not import all of scipy.linalg."""
    import sys
    deepx_blas_bind(sys.modules["scipy.linalg.cython_blas"].__file__.encode())


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


cdef inline void gemm_parts(int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                            float* c, int ldc, const float* bias, ActC act,
                            int nth) noexcept nogil:
    # c (m,n) = act(a (m,k) · b (k,n) + bias (m)); nth > 1: blocks of columns (of rows when the
    # columns are few) shared by nth threads, one serial-BLAS GEMM each
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
            gemm(False, False, m, hi - lo, k, a, lda, b + lo, ldb, 0.0, c + lo, ldc)
            bias_act_rows(c + lo, m, hi - lo, ldc, bias, act)
        else:
            lo = <long>m * part // nb
            hi = <long>m * (part + 1) // nb
            gemm(False, False, hi - lo, n, k, a + <Py_ssize_t>lo * lda, lda, b, ldb, 0.0,
                 c + <Py_ssize_t>lo * ldc, ldc)
            bias_act_rows(c + <Py_ssize_t>lo * ldc, hi - lo, n, ldc,
                          bias + lo if bias != NULL else NULL, act)
