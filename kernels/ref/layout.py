"""Data movement: concatenation, transposition and padding."""
import numpy as np

from ..common import emit


def concat(xs, axis, out=None):
    # xs: tensors equal but along `axis` -> y
    return emit(np.concatenate(xs, axis=axis), out)


def transpose(x, perm, out=None):
    # x -> y with y.shape[i] = x.shape[perm[i]]
    return emit(np.transpose(x, perm), out)


def pad(x, pads, value, out=None):
    # x (N,C,H,W) -> y (N,C,top+H+bottom,left+W+right), the border filled with `value`
    t, left, b, r = pads
    return emit(np.pad(x, ((0, 0), (0, 0), (t, b), (left, r)), constant_values=value), out)
