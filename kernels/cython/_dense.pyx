"""Fully connected layers, full and low-rank: blocks of output features shared by the threads,
one serial-BLAS sgemm (sgemv for one row) per block, bias + activation fused after it; batched matrix
products."""
from cython.parallel cimport prange

import numpy as np

from deepx.kernels.common import IDENTITY
from deepx.kernels.ref.dense import batched, matmul_shape

from kernels.cython._common cimport (SHARES, ActC, as_act, bind_blas, blas_restore, blas_serial,
                                     cdiv_up, deepx_gemm_fn, gemm, gemm_parts, kernel_threads,
                                     vector_act)


cdef void dense_parts(const float* x, const float* w, const float* b, float* y, int N, int M,
                      int K, ActC act, int nth) noexcept nogil:
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K), act; nth threads share blocks of >= 64 features
    cdef int nb = min(SHARES * nth, cdiv_up(K, 64)) if nth > 1 else 1
    cdef int part, lo, hi, i
    for part in prange(nb, num_threads=nth, schedule='dynamic', use_threads_if=nb > 1):
        lo = <long>K * part // nb
        hi = <long>K * (part + 1) // nb
        gemm(False, True, N, hi - lo, M, x, M, w + <Py_ssize_t>lo * M, M, 0.0, y + lo, K)
        for i in range(N):
            vector_act(y + <Py_ssize_t>i * K + lo, hi - lo, b + lo if b != NULL else NULL, act)


cdef class Dense:
    """dense of arrays read once (pointers, sizes), run when called with no arguments (the executor binds its
    steps: kernels.bind)."""
    cdef tuple keep  # the arrays, alive while bound
    cdef const float* x
    cdef const float* w
    cdef const float* b
    cdef float* y
    cdef int N, M, K
    cdef ActC act

    def __call__(self):
        cdef int blas = blas_serial()
        with nogil:
            dense_parts(self.x, self.w, self.b, self.y, self.N, self.M, self.K, self.act, kernel_threads(blas))
            blas_restore(blas)


def bind_dense(const float[:, ::1] x, const float[:, ::1] w, const float[::1] b, act, out):
    """dense of these arrays into out (None: a new array), called with no arguments; they must stay put while it is
    used."""
    if out is None:
        out = np.empty((x.shape[0], w.shape[0]), np.float32)
    cdef float[:, ::1] y = out
    cdef Dense k = Dense.__new__(Dense)
    k.keep, k.N, k.M, k.K, k.act = (x.base, w.base, b, out), x.shape[0], x.shape[1], w.shape[0], as_act(act)
    k.x, k.w, k.b, k.y = &x[0, 0], &w[0, 0], &b[0] if b is not None else NULL, &y[0, 0]
    return k


def dense(x, w, b, act, out=None):
    """x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)."""
    cdef Dense k = bind_dense(x, w, b, act, out)
    k()
    return k.keep[3]


def dense_lowrank(const float[:, ::1] x, const float[:, ::1] v, const float[:, ::1] u,
                  const float[::1] b, act, out=None):
    """x (N,M) · v (r,M)ᵀ -> t (N,r);  t · u (K,r)ᵀ + b (K) -> y (N,K)."""
    cdef int N = x.shape[0], M = x.shape[1], r = v.shape[0], K = u.shape[0]
    if out is None:
        out = np.empty((N, K), np.float32)
    cdef float[:, ::1] y = out
    cdef float[::1] t = np.empty(N * r, np.float32)
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act), ident = as_act(IDENTITY)
    cdef int blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        dense_parts(&x[0, 0], &v[0, 0], NULL, &t[0], N, M, r, ident, nth)
        dense_parts(&t[0], &u[0, 0], bp, &y[0, 0], N, r, K, a, nth)
        blas_restore(blas)
    return out


def blas_source():
    """The BLAS the Cython kernels' GEMMs call: "numpy" (the library numpy links) or "scipy"
    (scipy.linalg.cython_blas, when numpy's BLAS symbols were not found)."""
    return "numpy" if deepx_gemm_fn != NULL else "scipy"


bind_blas()


def matmul(a, b, out=None):
    """a (..., M, K) · b (..., K, N) -> y (..., M, N), batch axes broadcast, 1-D operands as numpy's matmul:
    one serial sgemm per batch matrix, the batches shared by the threads (each GEMM split over them when the
    batches are fewer than the threads)."""
    a3, b3, a_of, b_of = batched(a, b)
    if out is None:
        out = np.empty(matmul_shape("matmul", (a, b), a, b), np.float32)
    cdef const float[:, :, ::1] av = a3
    cdef const float[:, :, ::1] bv = b3
    cdef const long[::1] ai = a_of.astype(np.int_)
    cdef const long[::1] bi = b_of.astype(np.int_)
    cdef int B = len(a_of), M = av.shape[1], K = av.shape[2], N = bv.shape[2], i
    cdef float[:, :, ::1] yv = out.reshape(B, M, N)
    cdef ActC ident = as_act(IDENTITY)
    if B == 0 or M == 0 or N == 0 or K == 0:  # nothing to multiply (BLAS refuses a leading dimension of 0)
        out[...] = 0.0
        return out
    cdef int blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        if B >= nth:
            for i in prange(B, num_threads=nth, schedule='dynamic', use_threads_if=nth > 1):
                gemm(False, False, M, N, K, &av[ai[i], 0, 0], K, &bv[bi[i], 0, 0], N, 0.0, &yv[i, 0, 0], N)
        else:
            for i in range(B):
                gemm_parts(M, N, K, &av[ai[i], 0, 0], K, &bv[bi[i], 0, 0], N, &yv[i, 0, 0], NULL, N, NULL, ident,
                           nth)
        blas_restore(blas)
    return out
