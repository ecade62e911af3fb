"""Fully connected layers, full and low-rank: blocks of output features shared by the threads,
one serial-BLAS sgemm (sgemv for one row) per block, bias + activation fused after it."""
from cython.parallel cimport prange

import numpy as np

from deepx.kernels.common import IDENTITY

from kernels.cython._common cimport (SHARES, ActC, as_act, bind_blas, blas_restore, blas_serial,
                                     cdiv_up, deepx_gemm_fn, gemm, kernel_threads, vector_act)


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


def dense(const float[:, ::1] x, const float[:, ::1] w, const float[::1] b, act, out=None):
    """x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)."""
    cdef int N = x.shape[0], M = x.shape[1], K = w.shape[0]
    if out is None:
        out = np.empty((N, K), np.float32)
    cdef float[:, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    cdef int blas = blas_serial(), nth = kernel_threads(blas)
    with nogil:
        dense_parts(&x[0, 0], &w[0, 0], bp, &y[0, 0], N, M, K, a, nth)
        blas_restore(blas)
    return out


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
