"""Data movement: concatenation, transposition, slicing, gathering, broadcasting and padding.

Slice, gather, expand and pad are one operation, a *take*: each output axis reads its input axis through a
map (output position -> input position, -1: the fill value). `take_plan` turns the maps into the element
offsets every backend's take kernel walks; the reference takes with numpy.
"""
import builtins
import functools
import math

import numpy as np

from ..common import emit
from ..spec import OpSpec, check_rank, fail, parse_axis, parse_pads

PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _emit(y, out):
    # emit, keeping a rank-0 result rank 0 (np.ascontiguousarray makes it (1,))
    return emit(y, out) if out is not None else emit(y, out).reshape(np.shape(y))


def concat(xs, axis, out=None):
    # xs: tensors equal but along `axis` -> y
    return emit(np.concatenate(xs, axis=axis), out)


def transpose(x, perm, out=None):
    # x -> y with y.shape[i] = x.shape[perm[i]]
    return emit(np.transpose(x, perm), out)


def _take(x, maps, fill):
    # x (d0..dn) -> y (len(m0)..len(mn)), y[i0..in] = x[m0[i0]..mn[in]], `fill` where any map is -1
    y = x.astype(np.float64)
    for d, m in enumerate(maps):
        y = np.take(y, np.maximum(m, 0), axis=d)
        shape = [1] * len(maps)
        shape[d] = len(m)
        y = np.where(m.reshape(shape) < 0, fill, y)
    return y


def slice(x, starts, ends, steps, out=None):
    # x -> y with y[..., i, ...] = x[..., starts[d] + i * steps[d], ...] per axis d
    return _emit(_take(x, slice_maps(x.shape, starts, ends, steps), 0.0), out)


def gather(x, indices, shape, axis, out=None):
    # x (..., A, ...) -> y (..., *shape, ...): indices (prod(shape) ints in [0, A)) taken along `axis`
    return _emit(np.take(x, np.array(indices, np.int64).reshape(shape), axis=axis), out)


def expand(x, shape, out=None):
    # x -> y (shape): numpy broadcasting
    return _emit(np.broadcast_to(x, shape), out)


def pad(x, pads, mode, value, out=None):
    # x (d0..dn) -> y (pads[d] + d + pads[n + d]...), a negative pad crops; border by `mode`
    return emit(_take(x, pad_maps(x.shape, pads, mode), value), out)


# maps: one int64 array per axis, output position -> input position (-1: the fill value)
@functools.lru_cache(maxsize=256)
def slice_maps(shape, starts, ends, steps):
    return tuple(np.arange(n, dtype=np.int64)[s:e:k] for n, s, e, k in zip(shape, starts, ends, steps))


@functools.lru_cache(maxsize=256)
def pad_maps(shape, pads, mode):
    rank, maps = len(shape), []
    for d, n in enumerate(shape):
        b, e = pads[d], pads[rank + d]
        idx = np.arange(max(-b, 0), n - max(-e, 0), dtype=np.int64)  # the crop of negative pads first
        b, e = max(b, 0), max(e, 0)
        if mode == "constant" or not len(idx):
            idx = np.concatenate([np.full(b, -1, np.int64), idx, np.full(e, -1, np.int64)])
        else:
            idx = np.pad(idx, (b, e), mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[mode])
        maps.append(idx)
    return tuple(maps)


def gather_maps(shape, indices, axis):
    """x (shape) viewed as (outer, A, inner) -> its 3 maps: the indices along A."""
    outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
    return (np.arange(outer, dtype=np.int64), np.array(indices, np.int64), np.arange(inner, dtype=np.int64))


def expand_maps(shape, out_shape):
    """x (shape, left-padded with 1s to out_shape's rank) -> maps broadcasting it to out_shape."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return tuple(np.zeros(o, np.int64) if n == 1 else np.arange(o, dtype=np.int64) for n, o in zip(shape, out_shape))


def take_plan(shape, maps):
    """(offsets, starts, dims, lo, hi): the maps as element offsets into a C-contiguous x (shape), concatenated
    (axis d's at offsets[starts[d]:starts[d] + dims[d]], -1 kept); lo:hi the positions of the last axis whose
    offsets rise by one from lo's (copied as a block). A rank-0 x gets a unit axis."""
    if not maps:
        shape, maps = (1,), (np.zeros(1, np.int64),)
    k = len(maps)  # trailing axes read whole and in order become one (longer block copies), up to 64 Ki elements
    while k > 1 and np.array_equal(maps[k - 1], np.arange(shape[k - 1])) and math.prod(shape[k - 1:]) <= 1 << 16:
        k -= 1
    if k < len(maps) - 1:
        inner = math.prod(shape[k:])
        shape, maps = tuple(shape[:k]) + (inner,), tuple(maps[:k]) + (np.arange(inner, dtype=np.int64),)
    strides = np.cumprod((1,) + tuple(shape[::-1]))[:-1][::-1]
    offs = [np.where(m < 0, -1, m * s) for m, s in zip(maps, strides)]
    dims = np.array([len(m) for m in maps], np.int64)
    starts = np.concatenate([[0], np.cumsum(dims)[:-1]]).astype(np.int64)
    return (np.concatenate(offs).astype(np.int64), starts, dims) + _run(offs[-1])


@functools.lru_cache(maxsize=256)
def plan(op, shape, *attrs):
    """The take_plan of slice / gather / expand / pad with these canonical attrs, on an x of `shape` (cached)."""
    if op == "slice":
        return take_plan(shape, slice_maps(shape, *attrs))
    if op == "pad":
        return take_plan(shape, pad_maps(shape, *attrs))
    if op == "gather":
        indices, axis = attrs
        maps = gather_maps(shape, indices, axis)
        return take_plan((len(maps[0]), shape[axis], len(maps[2])), maps)
    out = attrs[0]
    return take_plan((1,) * (len(out) - len(shape)) + tuple(shape), expand_maps(shape, out))


def _run(last):
    # (lo, hi): the longest stretch of `last` in which offsets are >= 0 and rise by one
    if not len(last):
        return 0, 0
    breaks = np.flatnonzero((np.diff(last) != 1) | (last[1:] < 0) | (last[:-1] < 0)) + 1
    edges = np.concatenate([[0], breaks, [len(last)]])
    k = int(np.argmax(np.diff(edges)))
    lo, hi = int(edges[k]), int(edges[k + 1])
    return (lo, hi) if last[lo] >= 0 else (0, 0)


def _ints(op, t, name, v, n=None):
    v = tuple(int(i) for i in np.ravel(v))
    if n is not None and len(v) != n:
        fail(op, t, f"{name} must have {n} values, got {v}")
    return v


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


def _check_slice(op, t, a):
    # starts, ends, steps: one per axis (Python's slice rules: negatives count from the end, clamped)
    x = t[0]
    starts = _ints(op, t, "starts", a.get("starts", (0,) * x.ndim), x.ndim)
    ends = _ints(op, t, "ends", a.get("ends", x.shape), x.ndim)
    steps = _ints(op, t, "steps", a.get("steps", (1,) * x.ndim), x.ndim)
    if 0 in steps:
        fail(op, t, f"a slice step is 0: {steps}")
    s, e = [], []
    for n, b, f, k in zip(x.shape, starts, ends, steps):
        b, f, _ = builtins.slice(b, f, k).indices(n)  # ONNX clamps as Python does
        s.append(b)
        e.append(f if f >= 0 else -n - 1)  # a negative step's "before 0", stable when checked again
    shape = tuple(len(range(n)[b:f:k]) for n, b, f, k in zip(x.shape, s, e, steps))
    return dict(starts=tuple(s), ends=tuple(e), steps=steps), shape


def _check_gather(op, t, a):
    x = t[0]
    if x.ndim < 1:
        fail(op, t, "gather needs a tensor of rank >= 1")
    axis = parse_axis(op, t, a.get("axis", 0), x.ndim)
    idx = np.asarray(a.get("indices", ()), np.int64)
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        fail(op, t, f"indices out of range [{-n}, {n}) on axis {axis}")
    shape = tuple(int(s) for s in a.get("shape", idx.shape))
    if int(np.prod(shape)) != idx.size:
        fail(op, t, f"{idx.size} indices do not fill shape {shape}")
    canon = dict(indices=tuple(int(i) % n for i in idx.ravel()), shape=shape, axis=axis)
    return canon, x.shape[:axis] + shape + x.shape[axis + 1:]


def _check_expand(op, t, a):
    x = t[0]
    shape = _ints(op, t, "shape", a.get("shape", ()))
    try:
        out = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        fail(op, t, f"shape {x.shape} does not broadcast with {shape}")
    return dict(shape=tuple(int(s) for s in out)), tuple(int(s) for s in out)


def _check_pad(op, t, a):
    # pads: 2 * rank ints (ONNX: begins then ends; negative crops), or on a rank-4 (N,C,H,W) tensor the
    # H, W pads as parse_pads takes them (one int, (vertical, horizontal) or (top, left, bottom, right))
    x = t[0]
    raw = a.get("pads")
    mode = a.get("mode", "constant")
    if mode not in PAD_MODES:
        fail(op, t, f"unknown pad mode {mode!r} (one of {', '.join(PAD_MODES)})")
    if raw is not None and not np.isscalar(raw) and len(raw) == 2 * x.ndim:
        pads = _ints(op, t, "pads", raw)
    else:
        check_rank(op, t, "x", x, 4)
        tp, left, b, r = parse_pads(op, t, raw)
        pads = (0, 0, tp, left, 0, 0, b, r)
    shape = tuple(pads[d] + n + pads[x.ndim + d] for d, n in enumerate(x.shape))
    if min(shape, default=1) < 0:
        fail(op, t, f"pads {pads} crop more than the tensor")
    if mode != "constant" and any(n == 0 and (pads[d] > 0 or pads[x.ndim + d] > 0) for d, n in enumerate(x.shape)):
        fail(op, t, f"{mode} padding of an empty axis")
    return dict(pads=pads, mode=mode, value=float(a.get("value", 0.0))), shape


ORDER = 5  # the family's place in kernels.OPS
SPECS = (
    OpSpec("concat", ("xs",), _check_concat),
    OpSpec("transpose", ("x",), _check_transpose),
    OpSpec("pad", ("x",), _check_pad),
    OpSpec("slice", ("x",), _check_slice),
    OpSpec("gather", ("x",), _check_gather),
    OpSpec("expand", ("x",), _check_expand),
)
