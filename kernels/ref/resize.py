"""Resize: nearest (any axes) and linear (the last one or two axes) interpolation, ONNX Resize's rules.

`resize_plan` precomputes each axis's source positions once per shape and attributes (cached): for nearest
the take maps of kernels.ref.layout, for linear the two taps and the weight of the second per output position.
The backends' kernels only gather and blend.
"""
import functools

import numpy as np

from ..common import emit
from ..spec import OpSpec, fail
from .layout import _take, take_plan

MODES = ("nearest", "linear")
COORDS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
          "tf_half_pixel_for_nn")
# "simple": Resize-10 / Upsample (floor when enlarging, ceil when shrinking)
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    # x (d0..dn) -> y (sizes): each axis resampled, nearest or linear (separable, float64)
    if mode == "nearest":
        return emit(_take(x, resize_plan(x.shape, sizes, scales, mode, coord, nearest), 0.0), out)
    y = x.astype(np.float64)
    for d, (i0, i1, w) in enumerate(resize_plan(x.shape, sizes, scales, mode, coord, nearest), x.ndim - 2):
        shape = [1] * x.ndim
        shape[d] = len(w)
        w = w.astype(np.float64).reshape(shape)
        y = np.take(y, i0, axis=d) * (1 - w) + np.take(y, i1, axis=d) * w
    return emit(y, out)


def source_coords(n_in, n_out, scale, coord):
    """Output positions 0..n_out-1 of an axis -> coordinates on the input axis (coordinate_transformation_mode),
    in float32 as ONNX Runtime computes them (a float64 tie may fall on the other side)."""
    f = np.float32
    x, scale, n_in, half = np.arange(n_out, dtype=f), f(scale), f(n_in), f(0.5)
    if coord == "asymmetric":
        return x / scale
    if coord == "tf_half_pixel_for_nn":
        return (x + half) / scale
    if coord == "align_corners":
        return x * (n_in - f(1)) / f(n_out - 1) if n_out > 1 else np.zeros(n_out, f)
    if coord == "pytorch_half_pixel" and n_out <= 1:
        return np.zeros(n_out, f)
    offset = f(0)
    if coord == "half_pixel_symmetric":
        offset = n_in / f(2) * (f(1) - f(n_out) / (scale * n_in))
    return offset + (x + half) / scale - half


def _nearest(c, n_in, scale, mode):
    # input coordinates -> input positions, nearest_mode, clamped to the axis
    if mode == "simple":
        i = np.ceil(c) if scale < 1 else np.trunc(c)
    else:
        i = {"floor": np.floor, "ceil": np.ceil, "round_prefer_floor": lambda v: np.ceil(v - np.float32(0.5)),
             "round_prefer_ceil": lambda v: np.floor(v + np.float32(0.5))}[mode](c)
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def _linear(c, n_in):
    # input coordinates -> (first tap, second tap, weight of the second), clamped to the axis
    c = np.clip(c, np.float32(0), np.float32(n_in - 1))
    i0 = np.floor(c).astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), c - i0.astype(np.float32)


@functools.lru_cache(maxsize=256)
def resize_plan(shape, sizes, scales, mode, coord, nearest):
    """nearest: one take map per axis; linear: (i0, i1, w) for each of the last two axes."""
    axes = range(len(shape)) if mode == "nearest" else range(len(shape) - 2, len(shape))
    plan = []
    for d in axes:
        if d < 0:  # a rank-1 tensor: a unit axis before it
            plan.append((np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.float32)))
            continue
        if mode == "nearest" and sizes[d] == shape[d] and scales[d] == 1:  # kept as it is (ONNX Runtime does)
            plan.append(np.arange(shape[d], dtype=np.int64))
            continue
        c = source_coords(shape[d], sizes[d], scales[d], coord)
        plan.append(_nearest(c, shape[d], scales[d], nearest) if mode == "nearest" else _linear(c, shape[d]))
    return tuple(plan)


@functools.lru_cache(maxsize=256)
def nearest_plan(shape, sizes, scales, coord, nearest):
    """A nearest resize's kernels.ref.layout.take_plan (cached)."""
    return take_plan(shape, resize_plan(shape, sizes, scales, "nearest", coord, nearest))


@functools.lru_cache(maxsize=256)
def nearest_planes(shape, sizes, scales, coord, nearest):
    """A nearest resize of the last two axes only, as (row map (P), column map (Q), f): f > 1 when column q reads
    q // f (an integer enlargement), else 0; None when it changes other axes too (cached)."""
    maps = resize_plan(shape, sizes, scales, "nearest", coord, nearest)
    if any(not np.array_equal(m, np.arange(n)) for m, n in zip(maps[:-2], shape[:-2])):
        return None
    rows = maps[-2] if len(maps) > 1 else np.zeros(1, np.int64)
    cols = maps[-1]
    f = len(cols) // shape[-1]
    f = f if f > 1 and len(cols) == f * shape[-1] and np.array_equal(cols, np.arange(len(cols)) // f) else 0
    return rows, cols, f


def _pick(op, t, name, value, allowed):
    if value not in allowed:
        fail(op, t, f"{name} {value!r} is not supported (one of {', '.join(allowed)})")
    return value


def _check_resize(op, t, a):
    # sizes: the output shape; scales: per axis, the scale of the coordinate transform (default sizes / shape)
    x = t[0]
    mode = _pick(op, t, "mode", a.get("mode", "nearest"), MODES)
    coord = _pick(op, t, "coordinate_transformation_mode", a.get("coord", "half_pixel"), COORDS)
    nearest = _pick(op, t, "nearest_mode", a.get("nearest", "round_prefer_floor"), NEAREST)
    sizes = tuple(int(s) for s in a.get("sizes", ()))
    if len(sizes) != x.ndim or min(sizes, default=1) < 1:
        fail(op, t, f"sizes must be {x.ndim} ints >= 1, got {sizes}")
    scales = a.get("scales") or [np.float32(s) / np.float32(n) for s, n in zip(sizes, x.shape)]
    scales = tuple(float(np.float32(s)) for s in scales)
    if len(scales) != x.ndim or not min(scales) > 0:
        fail(op, t, f"scales must be {x.ndim} numbers > 0, got {scales}")
    if mode == "linear" and any(sizes[d] != x.shape[d] or scales[d] != 1.0 for d in range(x.ndim - 2)):
        fail(op, t, "linear resize scales the last two axes only")
    return dict(sizes=sizes, scales=scales, mode=mode, coord=coord, nearest=nearest), sizes


def _flops(shapes, out, attrs) -> float:
    return float(np.prod(out)) * (6.0 if attrs.get("mode") == "linear" else 1.0)


ORDER = 6  # the family's place in kernels.OPS
SPECS = (OpSpec("resize", ("x",), _check_resize, flops=_flops),)
