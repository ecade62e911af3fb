"""Normalisations: local response normalisation, inference batch norm, softmax."""
import numba
import numpy as np

from .common import act1, act_args, jit, out_array


@jit(parallel=True)
def _lrn(x, size, alpha, beta, bias, y):
    # x (N,C,L) -> y = x / (bias + alpha/size * sum of x² over channels [c-(size-1)//2, c+size//2])^beta
    N, C, L = x.shape
    a = np.float32(alpha / size)
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        sq = np.zeros(L, np.float32)
        for j in range(max(0, c - (size - 1) // 2), min(C, c + size // 2 + 1)):
            for i in range(L):
                sq[i] += x[n, j, i] * x[n, j, i]
        for i in range(L):
            y[n, c, i] = x[n, c, i] / (np.float32(bias) + a * sq[i]) ** np.float32(beta)


@jit(parallel=True)
def _batchnorm(x, scale, shift, kind, lo, hi, y):
    # x (N,C,L) * scale (C) + shift (C) -> act -> y (N,C,L)
    N, C, L = x.shape
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        for i in range(L):
            y[n, c, i] = act1(x[n, c, i] * scale[c] + shift[c], kind, lo, hi)


@jit(parallel=True)
def _softmax(x, y):
    # x (A,B,D) -> y: softmax along B
    A, B, D = x.shape
    for ad in numba.prange(A * D):
        a, d = ad // D, ad % D
        m = x[a, 0, d]
        for j in range(1, B):
            m = max(m, x[a, j, d])
        total = 0.0
        for j in range(B):
            e = np.exp(x[a, j, d] - m)
            y[a, j, d] = e
            total += e
        inv = np.float32(1.0 / total)
        for j in range(B):
            y[a, j, d] *= inv


def _ncl(t):
    return t.reshape(t.shape[0], t.shape[1], -1)


def lrn(x, size, alpha, beta, bias, out=None):
    # x (N,C,H,W) -> y (N,C,H,W)
    y = out_array(out, x.shape)
    _lrn(_ncl(x), size, alpha, beta, bias, _ncl(y))
    return y


def batchnorm(x, scale, bias, mean, var, eps, act, out=None):
    # x (N,C,...) with per-channel scale, bias, mean, var (C) -> y (N,C,...)
    y = out_array(out, x.shape)
    k = scale / np.sqrt(var.astype(np.float64) + eps)
    shift = (bias - mean * k).astype(np.float32)
    _batchnorm(_ncl(x), k.astype(np.float32), shift, *act_args(act), _ncl(y))
    return y


def softmax(x, axis, out=None):
    # x (any) -> exp(x) / sum exp(x) along `axis`
    y = out_array(out, x.shape)
    shape = (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))
    _softmax(x.reshape(shape), y.reshape(shape))
    return y
