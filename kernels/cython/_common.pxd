# Inline helpers shared by the Cython kernels: fused activation, row-major sgemm, scratch sizes.
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
    # row-major c (m,n) = op(a) (m,k) · op(b) (k,n) + beta·c, as column-major cᵀ = op(b)ᵀ · op(a)ᵀ
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


cdef inline int cdiv_up(int a, int b) noexcept nogil:
    # ceil(a / b) for b > 0 and any sign of a
    return (a + b - 1) // b if a > 0 else -((-a) // b)


# strided loops over up to MAXD axes (merged by _elementwise.merge_axes), row by row over the last
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
