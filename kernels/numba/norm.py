"""Normalisations: local response normalisation, inference batch norm, softmax and log-softmax, layer,
instance and group normalisation."""
import numba
import numpy as np

from .common import act1, act_args, bias_arg, jit, out_array


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
def _softmax(x, log, y):
    # x (A,B,D) -> y: softmax along B (log-softmax when `log`)
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
        if log:
            shift = np.float32(m + np.log(total))
            for j in range(B):
                y[a, j, d] = x[a, j, d] - shift
        else:
            inv = np.float32(1.0 / total)
            for j in range(B):
                y[a, j, d] *= inv


LANES = 8  # float32 partial sums of a row, so that LLVM may vectorize without fastmath
BLOCK = 4096  # elements the lanes take before they are added into the float64 total


@jit()
def _lane_sum(row, shift, square):
    # sum of row - shift (of (row - shift)² when `square`) over row (L), contiguous
    L = row.shape[0]
    n8 = L - L % LANES
    total = 0.0
    s = np.zeros(LANES, np.float32)
    for b in range(0, n8, BLOCK):
        s[:] = 0.0
        for i in range(b, min(b + BLOCK, n8), LANES):
            for j in range(LANES):
                d = row[i + j] - shift
                s[j] += d * d if square else d
        total += s.sum()
    for i in range(n8, L):
        d = row[i] - shift
        total += d * d if square else d
    return total


@jit()
def _moments(row, eps):
    # row (L) -> (mean, 1 / sqrt(var + eps)), two passes
    L = row.shape[0]
    mean = _lane_sum(row, np.float32(0.0), False) / L
    return mean, 1.0 / np.sqrt(_lane_sum(row, np.float32(mean), True) / L + eps)


@jit(parallel=True)
def _groupnorm(x, scale, bias, eps, y):
    # x (N,G,CL): each (n, g) row standardized, channel c = g * CG + j // L of it * scale[c] + bias[c]
    N, G, CL = x.shape
    CG = scale.shape[0] // G
    L = CL // CG
    for ng in numba.prange(N * G):
        n, g = ng // G, ng % G
        xr, yr = x[n, g], y[n, g]
        mean, inv = _moments(xr, eps)
        for j in range(CG):
            c = g * CG + j
            k = np.float32(inv * scale[c])
            t = np.float32(bias[c] - mean * inv * scale[c])
            for i in range(j * L, (j + 1) * L):
                yr[i] = xr[i] * k + t


@jit(parallel=True)
def _layernorm(x, scale, bias, eps, y):
    # x (O,L) rows standardized, * scale (L) + bias (L, or empty)
    rows, L = x.shape
    has_bias = bias.shape[0] > 0
    for o in numba.prange(rows):
        xr, yr = x[o], y[o]
        mean, inv = _moments(xr, eps)
        m, k = np.float32(mean), np.float32(inv)
        for i in range(L):
            v = (xr[i] - m) * k * scale[i]
            yr[i] = v + bias[i] if has_bias else v


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


def _normalise(x, axis, log, out):
    # x (any) viewed as (before, axis, after) -> y
    y = out_array(out, x.shape)
    shape = (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))
    _softmax(x.reshape(shape), log, y.reshape(shape))
    return y


def softmax(x, axis, out=None):
    # x (any) -> exp(x) / sum exp(x) along `axis`
    return _normalise(x, axis, False, out)


def log_softmax(x, axis, out=None):
    # x (any) -> x - log(sum exp(x)) along `axis`
    return _normalise(x, axis, True, out)


def layernorm(x, scale, bias, axis, eps, out=None):
    # x (..., L...) standardized over the axes from `axis` on, * scale (L...) + bias (L...)
    y = out_array(out, x.shape)
    L = int(np.prod(x.shape[axis:]))
    _layernorm(x.reshape(-1, L), scale.reshape(L), bias_arg(None if bias is None else bias.reshape(L)), eps,
               y.reshape(-1, L))
    return y


def groupnorm(x, scale, bias, groups, eps, out=None):
    # x (N,C,...) standardized over each group of channels (and all of ...), * scale (C) + bias (C)
    y = out_array(out, x.shape)
    shape = (x.shape[0], groups, int(np.prod(x.shape[1:])) // groups)
    _groupnorm(x.reshape(shape), scale, bias, eps, y.reshape(shape))
    return y


def instancenorm(x, scale, bias, eps, out=None):
    # x (N,C,...) standardized over ... per image and channel, * scale (C) + bias (C)
    return groupnorm(x, scale, bias, x.shape[1], eps, out)
