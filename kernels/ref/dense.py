"""Fully connected layers, full and low-rank."""
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


def _dense_lowrank_flops(shapes, out, attrs):
    # x (N,M) v (r,M) u (K,r)
    (n, _), (r, m), (k, _) = shapes[:3]
    return 2.0 * n * r * (m + k)


ORDER = 0  # the family's place in kernels.OPS
SPECS = (
    OpSpec("dense", ("x", "w", "b?"), _check_dense, _dense_flops, channel_inputs=(1, 2)),
    OpSpec("dense_lowrank", ("x", "v", "u", "b?"), _check_dense_lowrank, _dense_lowrank_flops, channel_inputs=(2, 3)),
)
