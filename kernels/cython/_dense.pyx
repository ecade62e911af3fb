"""Fully connected layers, full and low-rank: sgemm (sgemv for one row), then bias + activation."""
import numpy as np

from kernels.cython._common cimport ActC, as_act, gemm, vector_act


cdef void bias_act_rows(float* y, int n, int k, const float* b, ActC act) noexcept nogil:
    # y (n,k) = act(y + b (k))
    cdef int i
    for i in range(n):
        vector_act(y + <Py_ssize_t>i * k, k, b, act)


def dense(const float[:, ::1] x, const float[:, ::1] w, const float[::1] b, act, out=None):
    """x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)."""
    cdef int N = x.shape[0], M = x.shape[1], K = w.shape[0]
    if out is None:
        out = np.empty((N, K), np.float32)
    cdef float[:, ::1] y = out
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef ActC a = as_act(act)
    with nogil:
        gemm(False, True, N, K, M, &x[0, 0], M, &w[0, 0], M, 0.0, &y[0, 0], K)
        bias_act_rows(&y[0, 0], N, K, bp, a)
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
    cdef ActC a = as_act(act)
    with nogil:
        gemm(False, True, N, r, M, &x[0, 0], M, &v[0, 0], M, 0.0, &t[0], r)
        gemm(False, True, N, K, r, &t[0], r, &u[0, 0], r, 0.0, &y[0, 0], K)
        bias_act_rows(&y[0, 0], N, K, bp, a)
    return out
