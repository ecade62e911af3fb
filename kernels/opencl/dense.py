"""Fully connected layers on the device, full and low-rank: work-group reductions at small batch,
conv.cl's tiled GEMM (a 1x1 convolution over N pixels) at larger batch; batched matrix products."""
import math

import numpy as np

from ..common import IDENTITY
from ..ref.dense import batched, matmul_shape
from . import conv
from .common import Call, c_strides, strided_args

GEMV_MAX_N = 8  # batches up to this size run as matrix-vector products
MT = 8  # matmul's tile (dense.cl)
GEMM_MIN = 32 ** 3  # matmuls of at least this many multiply-adds per batch matrix run as conv.cl's GEMM


def _dense(call, x, w, b, y, act):
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K), all on the device
    (N, M), K = x.shape, w.shape[0]
    if N <= GEMV_MAX_N:
        lanes, rows = call.dev.lanes, call.dev.group // call.dev.lanes
        call.launch("dense", "gemv", (lanes, K), (lanes, rows), x, w, b, b is not None, y, N, M, K, act)
    else:
        conv.gemm(call, x, w, b, y, (K, M, N, 1, 1, 1, N, 1), (1, 1, 0, 0, 1, 1), 1, 1, (1, M, 0, 1, K, 0), act)


def dense(x, w, b, act, out=None):
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)
    c = Call(x, out, (x.shape[0], w.shape[0]))
    _dense(c, c.act(x), c.const(w), c.const(b), c.y, act)
    return c.result()


def dense_lowrank(x, v, u, b, act, out=None):
    # x (N,M) · v (r,M)ᵀ -> t (N,r);  t · u (K,r)ᵀ + b (K) -> y (N,K)
    c = Call(x, out, (x.shape[0], u.shape[0]))
    t = c.temp((x.shape[0], v.shape[0]))
    _dense(c, c.act(x), c.const(v), None, t, IDENTITY)
    _dense(c, t, c.const(u), c.const(b), c.y, act)
    return c.result()


def matmul(a, b, out=None):
    # a (..., M, K) · b (..., K, N) -> y (..., M, N), batch axes broadcast, 1-D operands as numpy's matmul
    c = Call([a, b], out, matmul_shape("matmul", (a, b), a, b))
    sa, sb = (1,) * (a.ndim == 1) + a.shape, b.shape + (1,) * (b.ndim == 1)
    (M, K), N = sa[-2:], sb[-1]
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    av, bv = c.act(a), c.act(b)
    if M * N * K >= GEMM_MIN:  # conv.cl's tiled GEMM (a 1x1 convolution of b's N pixels) per batch matrix
        a3, b3, a_of, b_of = batched(av, bv)
        y3 = c.y.reshape(len(a_of), M, N)
        for i, (ia, ib) in enumerate(zip(a_of, b_of)):
            conv.gemm(c, b3[int(ib)], a3[int(ia)], None, y3[i], (M, K, N, 1, 1, 1, N, 1), (1, 1, 0, 0, 1, 1), 1, 1,
                      (N, 1, 0, N, 1, 0), IDENTITY)
        return c.result()
    a_st = [s * M * K for s in c_strides(sa[:-2], batch)]
    b_st = [s * K * N for s in c_strides(sb[:-2], batch)]
    c.launch("dense", "matmul", (N, M, math.prod(batch)), (MT, MT, 1), av, bv, c.y, M, K, N,
             *strided_args(batch, a_st, b_st))
    return c.result()
