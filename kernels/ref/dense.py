"""Fully connected layers, full and low-rank; batched matrix products."""
import math

import numpy as np

from ..common import emit
from ..spec import OpSpec, check_bias, check_rank, fail, parse_act
from .elementwise import apply_act


def dense(x, w, b, act, out=None):
    # x (N,M) · w (K,M)ᵀ + b (K) -> y (N,K)
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        y += b
    return emit(apply_act(y, act), out)


def dense_lowrank(x, v, u, b, act, out=None):
    # x (N,M) · v (r,M)ᵀ -> t (N,r);  t · u (K,r)ᵀ + b -> y (N,K)
    t = x.astype(np.float64) @ v.astype(np.float64).T
    y = t @ u.astype(np.float64).T
    if b is not None:
        y += b
    return emit(apply_act(y, act), out)


def matmul(a, b, out=None):
    # a (..., M, K) · b (..., K, N) -> y (..., M, N), batch axes broadcast; a 1-D a is (1, K), a 1-D b (K, 1),
    # their 1 dropped from y (numpy's matmul)
    y = np.asarray(a.astype(np.float64) @ b.astype(np.float64))
    return emit(y, out).reshape(y.shape)  # a 0-D y (two 1-D operands) stays 0-D


def matmul_shape(op, t, a, b):
    """numpy's matmul rule: the output shape of a · b, KernelError when they do not fit."""
    if a.ndim == 0 or b.ndim == 0:
        fail(op, t, "operands must have rank >= 1")
    sa, sb = (1,) * (a.ndim == 1) + a.shape, b.shape + (1,) * (b.ndim == 1)
    if sa[-1] != sb[-2]:
        fail(op, t, f"inner dimensions differ: a has {sa[-1]} columns, b {sb[-2]} rows")
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        fail(op, t, f"batch axes {sa[:-2]} and {sb[:-2]} do not broadcast")
    return batch + sa[-2:-1] * (a.ndim > 1) + sb[-1:] * (b.ndim > 1)


def batched(a, b):
    """matmul's operands as batches of matrices: (a (Ba,M,K), b (Bb,K,N), a_of (B), b_of (B)): output batch i
    multiplies a[a_of[i]] by b[b_of[i]] (int64 indices, the broadcast batch axes flattened)."""
    sa, sb = (1,) * (a.ndim == 1) + a.shape, b.shape + (1,) * (b.ndim == 1)
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    a_of = np.broadcast_to(np.arange(math.prod(sa[:-2])).reshape(sa[:-2]), batch).reshape(-1)
    b_of = np.broadcast_to(np.arange(math.prod(sb[:-2])).reshape(sb[:-2]), batch).reshape(-1)
    return a.reshape((-1,) + sa[-2:]), b.reshape((-1,) + sb[-2:]), a_of, b_of


def _check_matmul(op, t, a):
    return {}, matmul_shape(op, t, *t)


def _check_dense(op, t, a):
    x, w, b = t
    check_rank(op, t, "x", x, 2)
    check_rank(op, t, "w", w, 2)
    if w.shape[1] != x.shape[1]:
        fail(op, t, f"w has {w.shape[1]} input features, x has {x.shape[1]}")
    check_bias(op, t, b, w.shape[0])
    return dict(act=parse_act(op, t, a.get("act"))), (x.shape[0], w.shape[0])


def _check_dense_lowrank(op, t, a):
    x, v, u, b = t
    for name, m in (("x", x), ("v", v), ("u", u)):
        check_rank(op, t, name, m, 2)
    if v.shape[1] != x.shape[1] or u.shape[1] != v.shape[0]:
        fail(op, t, "need x (N,M), v (r,M), u (K,r)")
    check_bias(op, t, b, u.shape[0])
    return dict(act=parse_act(op, t, a.get("act"))), (x.shape[0], u.shape[0])


def _dense_flops(shapes, out, attrs):
    # x (N,M) w (K,M) -> y (N,K)
    return 2.0 * float(np.prod(out)) * shapes[1][1]


def _matmul_flops(shapes, out, attrs):
    # y (..., M, N) from a K-long inner axis
    return 2.0 * float(np.prod(out)) * shapes[0][-1]


def _dense_lowrank_flops(shapes, out, attrs):
    # x (N,M) v (r,M) u (K,r)
    (n, _), (r, m), (k, _) = shapes[:3]
    return 2.0 * n * r * (m + k)


ORDER = 0  # the family's place in kernels.OPS
SPECS = (
    OpSpec("dense", ("x", "w", "b?"), _check_dense, _dense_flops, channel_inputs=(1, 2)),
    OpSpec("dense_lowrank", ("x", "v", "u", "b?"), _check_dense_lowrank, _dense_lowrank_flops, channel_inputs=(2, 3)),
    OpSpec("matmul", ("a", "b"), _check_matmul, _matmul_flops),
)
