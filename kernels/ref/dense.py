"""Fully connected layers, full and low-rank."""
import numpy as np

from ..common import emit
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
