"""Normalisations on the device: local response normalisation, inference batch norm, softmax and log-softmax,
layer, instance and group normalisation."""
import math

from .common import Call


def lrn(x, size, alpha, beta, bias, out=None):
    # x (N,C,H,W) -> y (N,C,H,W)
    c = Call(x, out, x.shape)
    n = c.y.size
    c.launch("norm", "lrn", (n,), (c.dev.group,), c.act(x), c.y, x.shape[1], x.shape[2] * x.shape[3], size,
             alpha, beta, bias, n)
    return c.result()


def batchnorm(x, scale, bias, mean, var, eps, act, out=None):
    # x (N,C,...) with per-channel scale, bias, mean, var (C) -> y (N,C,...)
    c = Call(x, out, x.shape)
    n = c.y.size
    c.launch("norm", "batchnorm", (n,), (c.dev.group,), c.act(x), c.const(scale), c.const(bias), c.const(mean),
             c.const(var), c.y, x.shape[1], math.prod(x.shape[2:]), eps, n, act)
    return c.result()


def _softmax(x, axis, out, logs):
    # x (any) -> exp(x) / sum exp(x) along `axis`, or with `logs` x - log(sum exp(x))
    c = Call(x, out, x.shape)
    L, inner = x.shape[axis], math.prod(x.shape[axis + 1:])
    rows = c.y.size // L
    c.launch("norm", "softmax", (rows,), (c.dev.group,), c.act(x), c.y, L, inner, rows, int(logs))
    return c.result()


def softmax(x, axis, out=None):
    # x (any) -> exp(x) / sum exp(x) along `axis`
    return _softmax(x, axis, out, False)


def log_softmax(x, axis, out=None):
    # x (any) -> x - log(sum exp(x)) along `axis`
    return _softmax(x, axis, out, True)


def _standardize(x, scale, bias, groups, CG, L, eps, per_element, out):
    # x (rows, CG, L) -> y: each row standardized (by one work-group), then per channel (or element) scale and bias
    c = Call(x, out, x.shape)
    rows = c.y.size // max(CG * L, 1)
    c.launch("norm", "standardize", (rows * c.dev.group,), (c.dev.group,), c.act(x), c.const(scale),
             c.const(bias), bias is not None, c.y, groups, CG, L, eps, per_element)
    return c.result()


def layernorm(x, scale, bias, axis, eps, out=None):
    # x (..., L...) standardized over the axes from `axis` on, * scale (L...) + bias (L...)
    return _standardize(x, scale, bias, 1, 1, math.prod(x.shape[axis:]), eps, True, out)


def groupnorm(x, scale, bias, groups, eps, out=None):
    # x (N,C,...) standardized over each group of channels (and all of ...), * scale (C) + bias (C)
    return _standardize(x, scale, bias, groups, x.shape[1] // groups, math.prod(x.shape[2:]), eps, False, out)


def instancenorm(x, scale, bias, eps, out=None):
    # x (N,C,...) standardized over ... per image and channel, * scale (C) + bias (C)
    return groupnorm(x, scale, bias, x.shape[1], eps, out)
