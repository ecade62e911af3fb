"""Reductions over axes: sums, means, extrema, norms, log-sum-exp, products; arg-extrema along one axis."""
import math

import numpy as np

from ..common import emit
from ..spec import OpSpec, fail, parse_axis

# reduce kinds, in the order compiled kernels number them
KINDS = ("sum", "mean", "max", "min", "l1", "l2", "sum_square", "log_sum_exp", "prod")


def reduce(x, kind, axes, keepdims, out=None):
    # x (any) -> y: `kind` over `axes` (kept as 1s when keepdims)
    z = x.astype(np.float64)
    if kind == "log_sum_exp":
        top = z.max(axis=axes, keepdims=True)
        y = np.log(np.exp(z - top).sum(axis=axes, keepdims=True)) + top
    else:
        fn = dict(sum=np.sum, mean=np.mean, max=np.max, min=np.min, prod=np.prod,
                  l1=lambda v, **k: np.abs(v).sum(**k), l2=lambda v, **k: np.sqrt((v * v).sum(**k)),
                  sum_square=lambda v, **k: (v * v).sum(**k))[kind]
        y = fn(z, axis=axes, keepdims=True)
    shape = reduced_shape(x.shape, axes, keepdims)
    return emit(y, out).reshape(shape)  # a 0-D y (all axes, not kept) stays 0-D


def _arg(x, axis, keepdims, select_last_index, fn):
    # x (any) -> y: the index (as float32) of the first (last) extremum along `axis`
    z = np.flip(x, axis) if select_last_index else x
    i = fn(z, axis=axis, keepdims=True)
    if select_last_index:
        i = x.shape[axis] - 1 - i
    return i if keepdims else np.squeeze(i, axis)


def argmax(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the largest value along `axis`
    y = _arg(x, axis, keepdims, select_last_index, np.argmax)
    return emit(y, out).reshape(y.shape)


def argmin(x, axis, keepdims, select_last_index, out=None):
    # x (any) -> y: the index of the smallest value along `axis`
    y = _arg(x, axis, keepdims, select_last_index, np.argmin)
    return emit(y, out).reshape(y.shape)


def reduced_shape(shape, axes, keepdims):
    """`shape` with `axes` reduced: kept as 1s, or dropped."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


def as_blocks(x, axes):
    """x as (O, R, I): the reduced axes as one block R between the kept axes before (O) and after (I); a
    transposed copy (I = 1) when the reduced axes are not next to each other."""
    lo, hi = axes[0], axes[-1] + 1
    if hi - lo != len(axes):
        kept = [i for i in range(x.ndim) if i not in axes]
        x, lo, hi = np.ascontiguousarray(np.transpose(x, kept + list(axes))), len(kept), x.ndim
    return x.reshape(math.prod(x.shape[:lo]), math.prod(x.shape[lo:hi]), math.prod(x.shape[hi:]))


def _check_reduce(op, t, a):
    x = t[0]
    if x.ndim == 0:
        fail(op, t, "x must have rank >= 1")
    kind = a.get("kind", "sum")
    if kind not in KINDS:
        fail(op, t, f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    axes = a.get("axes")
    axes = range(x.ndim) if axes is None or len(axes) == 0 else axes
    axes = tuple(sorted({parse_axis(op, t, i, x.ndim) for i in axes}))
    if any(x.shape[i] == 0 for i in axes):
        fail(op, t, f"{kind} over an empty axis")
    keepdims = bool(a.get("keepdims", True))
    return dict(kind=kind, axes=axes, keepdims=keepdims), reduced_shape(x.shape, axes, keepdims)


def _check_arg(op, t, a):
    x = t[0]
    if x.ndim == 0:
        fail(op, t, "x must have rank >= 1")
    axis = parse_axis(op, t, a.get("axis", 0), x.ndim)
    if x.shape[axis] == 0:
        fail(op, t, f"axis {axis} is empty")
    attrs = dict(axis=axis, keepdims=bool(a.get("keepdims", True)),
                 select_last_index=bool(a.get("select_last_index", False)))
    return attrs, reduced_shape(x.shape, (axis,), attrs["keepdims"])


def _reduce_flops(shapes, out, attrs):
    return float(math.prod(shapes[0]))


ORDER = 6  # the family's place in kernels.OPS
SPECS = (
    OpSpec("reduce", ("x",), _check_reduce, _reduce_flops),
    OpSpec("argmax", ("x",), _check_arg, _reduce_flops),
    OpSpec("argmin", ("x",), _check_arg, _reduce_flops),
)
