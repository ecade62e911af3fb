"""Normalisations: local response normalisation, inference batch norm, softmax and log-softmax, layer,
instance and group normalisation."""
import math

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


def log_softmax(x, axis, out=None):
    # x (any) -> x - log(sum exp(x)) along `axis`
    z = x.astype(np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    return emit(z - np.log(np.exp(z).sum(axis=axis, keepdims=True)), out)


def _standardize(z, axes, eps):
    # z (float64) -> (z - mean) / sqrt(var + eps) over `axes`
    z = z - z.mean(axis=axes, keepdims=True)
    return z / np.sqrt((z * z).mean(axis=axes, keepdims=True) + eps)


def layernorm(x, scale, bias, axis, eps, out=None):
    # x (..., L...) standardized over the axes from `axis` on, * scale (L...) + bias (L...)
    y = _standardize(x.astype(np.float64), tuple(range(axis, x.ndim)), eps) * scale
    return emit(y if bias is None else y + bias, out)


def groupnorm(x, scale, bias, groups, eps, out=None):
    # x (N,C,...) standardized over each of `groups` groups of channels (and all of ...), * scale (C) + bias (C)
    g = x.astype(np.float64).reshape(x.shape[0], groups, -1)
    y = _standardize(g, 2, eps).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return emit(y * scale.reshape(shape) + bias.reshape(shape), out)


def instancenorm(x, scale, bias, eps, out=None):
    # x (N,C,...) standardized over ... per image and channel, * scale (C) + bias (C)
    return groupnorm(x, scale, bias, x.shape[1], eps, out)


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


def _check_layernorm(op, t, a):
    x, scale, bias = t
    if x.ndim == 0:
        fail(op, t, "x must have rank >= 1")
    axis = parse_axis(op, t, a.get("axis", -1), x.ndim)
    for name, p in (("scale", scale), ("bias", bias)):
        if p is not None and p.shape != x.shape[axis:]:
            fail(op, t, f"{name} must have shape {x.shape[axis:]}, got {p.shape}")
    return dict(axis=axis, eps=float(a.get("eps", 1e-5))), x.shape


def _check_channels(op, t, x):
    if x.ndim < 2:
        fail(op, t, f"x must have rank >= 2, got shape {x.shape}")
    for name, p in zip(("scale", "bias"), t[1:]):
        if p.shape != (x.shape[1],):
            fail(op, t, f"{name} must have shape ({x.shape[1]},), got {p.shape}")


def _check_instancenorm(op, t, a):
    _check_channels(op, t, t[0])
    return dict(eps=float(a.get("eps", 1e-5))), t[0].shape


def _check_groupnorm(op, t, a):
    x = t[0]
    _check_channels(op, t, x)
    groups = int(a.get("groups", 1))
    if groups < 1 or x.shape[1] % groups:
        fail(op, t, f"groups must divide the {x.shape[1]} channels, got {groups}")
    return dict(groups=groups, eps=float(a.get("eps", 1e-5))), x.shape


def _norm_flops(shapes, out, attrs):
    return 8.0 * math.prod(out)


ORDER = 3  # the family's place in kernels.OPS
SPECS = (
    OpSpec("lrn", ("x",), _check_lrn),
    OpSpec("batchnorm", ("x", "scale", "bias", "mean", "var"), _check_batchnorm, in_place=True, rider=True),
    OpSpec("softmax", ("x",), _check_softmax),
    OpSpec("log_softmax", ("x",), _check_softmax),
    OpSpec("layernorm", ("x", "scale", "bias?"), _check_layernorm, _norm_flops),
    OpSpec("instancenorm", ("x", "scale", "bias"), _check_instancenorm, _norm_flops),
    OpSpec("groupnorm", ("x", "scale", "bias"), _check_groupnorm, _norm_flops),
)
