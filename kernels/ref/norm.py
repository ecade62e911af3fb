"""Normalisations: local response normalisation, inference batch norm, softmax."""
import numpy as np

from ..common import emit
from .elementwise import apply_act


def lrn(x, size, alpha, beta, bias, out=None):
    # x (N,C,H,W) -> y = x / (bias + alpha/size * sum of x² over `size` neighbouring channels)^beta
    x = x.astype(np.float64)
    C = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(C):
        lo, hi = max(0, c - (size - 1) // 2), min(C, c + size // 2 + 1)
        sq[:, c] = (x[:, lo:hi] ** 2).sum(axis=1)
    return emit(x / (bias + alpha / size * sq) ** beta, out)


def batchnorm(x, scale, bias, mean, var, eps, act, out=None):
    # x (N,C,...) with per-channel scale, bias, mean, var (C) -> y (N,C,...)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x.astype(np.float64) - mean.reshape(shape)) / np.sqrt(var.astype(np.float64).reshape(shape) + eps)
    return emit(apply_act(y * scale.reshape(shape) + bias.reshape(shape), act), out)


def softmax(x, axis, out=None):
    # x (any) -> exp(x) / sum exp(x) along `axis`
    z = x.astype(np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return emit(z / z.sum(axis=axis, keepdims=True), out)
