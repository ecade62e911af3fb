"""Data movement: concatenation, transposition and padding."""
import numpy as np

from ..common import emit
from ..spec import OpSpec, check_rank, fail, parse_axis, parse_pads


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


def _check_concat(op, t, a):
    xs = t[0]
    if not xs:
        fail(op, t, "nothing to concatenate")
    axis = parse_axis(op, xs, a.get("axis", 1), xs[0].ndim)
    for x in xs[1:]:
        if x.ndim != xs[0].ndim or x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            fail(op, xs, f"shapes differ outside axis {axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return dict(axis=axis), tuple(shape)


def _check_transpose(op, t, a):
    x = t[0]
    perm = tuple(int(p) for p in a.get("perm", range(x.ndim)[::-1]))
    if sorted(perm) != list(range(x.ndim)):
        fail(op, t, f"perm {perm} is not a permutation of the {x.ndim} axes")
    return dict(perm=perm), tuple(x.shape[p] for p in perm)


def _check_pad(op, t, a):
    check_rank(op, t, "x", t[0], 4)
    pads = parse_pads(op, t, a.get("pads"))
    N, C, H, W = t[0].shape
    return dict(pads=pads, value=float(a.get("value", 0.0))), (N, C, pads[0] + H + pads[2], pads[1] + W + pads[3])


ORDER = 5  # the family's place in kernels.OPS
SPECS = (
    OpSpec("concat", ("xs",), _check_concat),
    OpSpec("transpose", ("x",), _check_transpose),
    OpSpec("pad", ("x",), _check_pad),
)
