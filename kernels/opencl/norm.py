"""Normalisations on the device: local response normalisation, inference batch norm, softmax."""
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


def softmax(x, axis, out=None):
    # x (any) -> exp(x) / sum exp(x) along `axis`
    c = Call(x, out, x.shape)
    L, inner = x.shape[axis], math.prod(x.shape[axis + 1:])
    rows = c.y.size // L
    c.launch("norm", "softmax", (rows,), (c.dev.group,), c.act(x), c.y, L, inner, rows)
    return c.result()
