"""Fully connected layers, full and low-rank: one sgemm per factor, bias + activation fused after; batched
matrix products, one sgemm per batch matrix."""
import numba
import numpy as np

from ..ref.dense import batched, matmul_shape
from .common import act1, act_args, bias_arg, jit, out_array


@jit()
def _gemm_t(x, w, y):
    # x (N,M) · w (K,M)ᵀ -> y (N,K); N == 1 is a matrix-vector product
    if x.shape[0] == 1:
        np.dot(w, x[0], y[0])
    else:
        np.dot(x, w.T, y)


@jit()
def _finish(y, b, kind, lo, hi):
    # y (N,K) + b (K) -> act, in place
    has_bias = b.shape[0] > 0
    for n in range(y.shape[0]):
        for k in range(y.shape[1]):
            y[n, k] = act1(y[n, k] + (b[k] if has_bias else np.float32(0.0)), kind, lo, hi)


@jit()
def _dense(x, w, b, kind, lo, hi, y):
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)
    _gemm_t(x, w, y)
    _finish(y, b, kind, lo, hi)


@jit()
def _dense_lowrank(x, v, u, b, kind, lo, hi, y):
    # x (N,M) · v (r,M)ᵀ -> t (N,r);  t · u (K,r)ᵀ + b -> y (N,K)
    t = np.empty((x.shape[0], v.shape[0]), np.float32)
    _gemm_t(x, v, t)
    _gemm_t(t, u, y)
    _finish(y, b, kind, lo, hi)


def dense(x, w, b, act, out=None):
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)
    y = out_array(out, (x.shape[0], w.shape[0]))
    _dense(x, w, bias_arg(b), *act_args(act), y)
    return y


def dense_lowrank(x, v, u, b, act, out=None):
    # x (N,M) · v (r,M)ᵀ · u (K,r)ᵀ + b (K) -> y (N,K)
    y = out_array(out, (x.shape[0], u.shape[0]))
    _dense_lowrank(x, v, u, bias_arg(b), *act_args(act), y)
    return y


@jit(parallel=True)
def _matmul(a, b, a_of, b_of, y):
    # a (Ba,M,K), b (Bb,K,N) -> y (B,M,N): y[i] = a[a_of[i]] · b[b_of[i]], the batches shared by the threads
    for i in numba.prange(y.shape[0]):
        np.dot(a[a_of[i]], b[b_of[i]], y[i])


def matmul(a, b, out=None):
    # a (..., M, K) · b (..., K, N) -> y (..., M, N), batch axes broadcast, 1-D operands as numpy's matmul
    a3, b3, a_of, b_of = batched(a, b)
    y = out_array(out, matmul_shape("matmul", (a, b), a, b))
    _matmul(a3, b3, a_of, b_of, y.reshape(len(a_of), a3.shape[1], b3.shape[2]))
    return y
