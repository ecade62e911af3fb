"""Normalisations: local response normalisation, inference batch norm, softmax."""
import numpy as np

from ..common import emit
from ..spec import OpSpec, check_rank, fail, parse_act, parse_axis
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


def _check_lrn(op, t, a):
    check_rank(op, t, "x", t[0], 4)
    size = int(a.get("size", 5))
    if size < 1:
        fail(op, t, f"size must be >= 1, got {size}")
    attrs = dict(size=size, alpha=float(a.get("alpha", 1e-4)), beta=float(a.get("beta", 0.75)),
                 bias=float(a.get("bias", 1.0)))
    return attrs, t[0].shape


def _check_batchnorm(op, t, a):
    x = t[0]
    if x.ndim < 2:
        fail(op, t, f"x must have rank >= 2, got shape {x.shape}")
    for name, p in zip(("scale", "bias", "mean", "var"), t[1:]):
        if p.shape != (x.shape[1],):
            fail(op, t, f"{name} must have shape ({x.shape[1]},), got {p.shape}")
    return dict(eps=float(a.get("eps", 1e-5)), act=parse_act(op, t, a.get("act"))), x.shape


def _check_softmax(op, t, a):
    return dict(axis=parse_axis(op, t, a.get("axis", -1), t[0].ndim)), t[0].shape


ORDER = 3  # the family's place in kernels.OPS
SPECS = (
    OpSpec("lrn", ("x",), _check_lrn),
    OpSpec("batchnorm", ("x", "scale", "bias", "mean", "var"), _check_batchnorm, in_place=True, rider=True),
    OpSpec("softmax", ("x",), _check_softmax),
)
