"""Data movement: concatenation and transposition."""
import numpy as np

from ..common import emit


def concat(xs, axis, out=None):
    # xs: tensors equal but along `axis` -> y
    return emit(np.concatenate(xs, axis=axis), out)


def transpose(x, perm, out=None):
    # x -> y with y.shape[i] = x.shape[perm[i]]
    return emit(np.transpose(x, perm), out)
