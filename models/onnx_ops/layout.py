"""ONNX data-movement operators: concatenation, transposition, slicing, gathering, broadcasting, padding,
splitting, depth <-> space, resizing; on constants (shape subgraphs) folded with numpy in the input's dtype."""
import math

import numpy as np

from ... import kernels
from ...kernels.ref.layout import pad_maps
from ..graph import ModelError
from . import ints

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()

COORDS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
          "tf_half_pixel_for_nn")


def _pad_np(v, pads, mode, value):
    # a constant v padded as the pad op does (negative pads crop), in v's dtype
    maps = pad_maps(v.shape, tuple(pads), mode)
    y = v[np.ix_(*[np.maximum(m, 0) for m in maps])] if v.ndim else v
    mask = np.zeros(y.shape, bool)
    for d, m in enumerate(maps):
        mask |= (m < 0).reshape([-1 if i == d else 1 for i in range(v.ndim)])
    return np.where(mask, np.asarray(value).astype(v.dtype), y)


class LayoutOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

    def _input(self, node, i):
        """The node's optional constant input i as an array, None when absent."""
        return self.value(node.input[i]) if len(node.input) > i and node.input[i] else None

    def _emit_checked(self, node, op, x, out, **attrs):
        """Emit `op` on x with the attributes its check makes canonical (kernels.check)."""
        _, canon, _ = kernels.check(op, [np.empty(self.shape(x), np.float32)], attrs)
        return self.emit(node, op, [x], out, **canon)

    def op_Concat(self, node, a):
        """`concat`: folded on constants."""
        if not self.runtime(node):
            return self.fold(node, np.concatenate([self.value(i) for i in node.input], axis=a["axis"]))
        self.emit(node, "concat", list(node.input), node.output[0], axis=a["axis"] % len(self.shape(node.input[0])))

    def op_Transpose(self, node, a):
        """`transpose`: folded on constants."""
        perm = tuple(ints(a.get("perm", range(len(self.shape(node.input[0])))[::-1])))
        if not self.runtime(node):
            return self.fold(node, np.transpose(self.value(node.input[0]), perm))
        self.emit(node, "transpose", [node.input[0]], node.output[0], perm=perm)

    def op_Pad(self, node, a):
        """`pad`: modes constant, reflect, edge, wrap; any axes (opset 18's `axes`); negative pads crop; folded on
        constants."""
        rank = len(self.shape(node.input[0]))
        if self.opset < 11:
            pads, value = ints(a.get("pads", a.get("paddings", ()))), a.get("value", 0.0)
        else:
            pads, value = ints(self.value(node.input[1])), self._input(node, 2)
            value = 0 if value is None else value.reshape(-1)[0]
        axes = self._input(node, 3)
        if axes is not None:  # pads for these axes only
            axes = [int(d) % rank for d in axes]
            full = [0] * (2 * rank)
            for k, d in enumerate(axes):
                full[d], full[rank + d] = pads[k], pads[len(axes) + k]
            pads = full
        mode = a.get("mode", "constant")
        if mode not in ("constant", "reflect", "edge", "wrap"):
            raise ModelError(f"Pad mode {mode!r} is not supported")
        if not self.runtime(node, 1):
            return self.fold(node, _pad_np(self.value(node.input[0]), pads, mode, value))
        self._emit_checked(node, "pad", node.input[0], node.output[0], pads=tuple(pads), mode=mode,
                           value=float(value))

    def _slice_attrs(self, node, a, shape):
        # full-rank starts, ends, steps of Slice-1 (attributes) or Slice-10+ (inputs)
        if self.opset < 10:
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
        else:
            starts, ends, axes, steps = (self._input(node, i) for i in range(1, 5))
        starts, ends = ints(starts), ints(ends)
        axes = range(len(starts)) if axes is None else [int(d) % len(shape) for d in axes]
        steps = [1] * len(starts) if steps is None else ints(steps)
        s, e, k = [0] * len(shape), list(shape), [1] * len(shape)
        for d, b, f, st in zip(axes, starts, ends, steps):
            s[d], e[d], k[d] = b, f, st
        return s, e, k

    def op_Slice(self, node, a):
        """`slice`: any axes, negative steps, clamped starts and ends (INT_MAX); folded on constants."""
        s, e, k = self._slice_attrs(node, a, self.shape(node.input[0]))
        if not self.runtime(node, 1):
            return self.fold(node, self.value(node.input[0])[tuple(slice(*p) for p in zip(s, e, k))])
        self._emit_checked(node, "slice", node.input[0], node.output[0], starts=tuple(s), ends=tuple(e),
                           steps=tuple(k))

    def op_Gather(self, node, a):
        """`gather`: constant indices (any axis, negative, a scalar drops the axis); folded on constants."""
        if not self.is_const(node.input[1]):
            raise ModelError("Gather with runtime indices is not supported")
        idx, axis = self.value(node.input[1]), a.get("axis", 0)
        if not self.runtime(node):
            return self.fold(node, np.take(self.value(node.input[0]), idx, axis=axis))
        self._emit_checked(node, "gather", node.input[0], node.output[0], indices=idx.tolist(), axis=axis)

    def op_GatherElements(self, node, a):
        """(folded): constant inputs only."""
        if self.runtime(node):
            raise ModelError("GatherElements on a runtime tensor is not supported")
        self.fold(node, np.take_along_axis(self.value(node.input[0]), self.value(node.input[1]), a.get("axis", 0)))

    def op_Expand(self, node, a):
        """`expand`: numpy broadcasting to a constant shape; folded on constants."""
        shape = ints(self.value(node.input[1]))
        if not self.runtime(node, 1):
            v = self.value(node.input[0])
            return self.fold(node, np.broadcast_to(v, np.broadcast_shapes(v.shape, shape)).copy())
        self._emit_checked(node, "expand", node.input[0], node.output[0], shape=tuple(shape))

    def op_Tile(self, node, a):
        """`reshape`, `expand`, `reshape`: x (d..) as (1, d, ..), expanded to (r, d, ..); folded on constants."""
        reps = ints(self.value(node.input[1]))
        if not self.runtime(node, 1):
            return self.fold(node, np.tile(self.value(node.input[0]), reps))
        shape = self.shape(node.input[0])
        out = node.output[0]
        t = self.emit(node, "reshape", [node.input[0]], out + "/split",
                      shape=tuple(v for d in shape for v in (1, d)))
        t = self._emit_checked(node, "expand", t, out + "/tile", shape=tuple(v for r, d in zip(reps, shape)
                                                                                for v in (r, d)))
        self.emit(node, "reshape", [t], out, shape=tuple(r * d for r, d in zip(reps, shape)))

    def op_Split(self, node, a):
        """`slice`, one per output: sizes as attribute (opset < 13) or input, or equal parts (opset 18's
        `num_outputs`); folded on constants."""
        shape = self.shape(node.input[0])
        axis = a.get("axis", 0) % len(shape)
        sizes = a.get("split") if self.opset < 13 else self._input(node, 1)
        if sizes is None:
            part = -(-shape[axis] // len(node.output))
            sizes = [min(part, shape[axis] - i * part) for i in range(len(node.output))]
        bounds = np.concatenate([[0], np.cumsum(ints(sizes))]).tolist()
        for i, out in enumerate(node.output):
            s, e = [0] * len(shape), list(shape)
            s[axis], e[axis] = bounds[i], bounds[i + 1]
            if not self.runtime(node, 1):
                self.values[out] = self.value(node.input[0])[tuple(slice(*p) for p in zip(s, e))]
            else:
                ir = self.emit(node, "slice", [node.input[0]], out, starts=tuple(s), ends=tuple(e),
                               steps=(1,) * len(shape))
                self.g.nodes[-1].name = f"{node.name or node.output[0]}/{ir}"

    def _rearrange(self, node, shape, perm, out_shape):
        # x -> reshape (shape) -> transpose (perm) -> reshape (out_shape); numpy on constants
        if not self.runtime(node):
            return self.fold(node, np.transpose(self.value(node.input[0]).reshape(shape), perm).reshape(out_shape))
        out = node.output[0]
        t = self.emit(node, "reshape", [node.input[0]], out + "/blocks", shape=tuple(shape))
        t = self.emit(node, "transpose", [t], out + "/moved", perm=tuple(perm))
        self.emit(node, "reshape", [t], out, shape=tuple(out_shape))

    def op_DepthToSpace(self, node, a):
        """`reshape`, `transpose`, `reshape`: modes DCR and CRD."""
        N, C, H, W = self.shape(node.input[0])
        b, mode = a["blocksize"], a.get("mode", "DCR")
        if mode == "DCR":
            return self._rearrange(node, (N, b, b, C // (b * b), H, W), (0, 3, 4, 1, 5, 2),
                                   (N, C // (b * b), H * b, W * b))
        self._rearrange(node, (N, C // (b * b), b, b, H, W), (0, 1, 4, 2, 5, 3), (N, C // (b * b), H * b, W * b))

    def op_SpaceToDepth(self, node, a):
        """`reshape`, `transpose`, `reshape`."""
        N, C, H, W = self.shape(node.input[0])
        b = a["blocksize"]
        self._rearrange(node, (N, C, H // b, b, W // b, b), (0, 3, 5, 1, 2, 4), (N, C * b * b, H // b, W // b))

    def _resize(self, node, a, scales, sizes):
        # scales or sizes (for all axes or opset 18's `axes`) -> the `resize` op
        shape = self.shape(node.input[0])
        mode = a.get("mode", "nearest")
        if mode not in ("nearest", "linear"):
            raise ModelError(f"mode {mode!r} is not supported (nearest, linear)")
        if a.get("antialias", 0):
            raise ModelError(f"antialias={a['antialias']} is not supported (0)")
        coord = a.get("coordinate_transformation_mode", "half_pixel" if self.opset >= 11 else "asymmetric")
        if coord not in COORDS:
            raise ModelError(f"coordinate_transformation_mode {coord!r} is not supported ({', '.join(COORDS)})")
        nearest = a.get("nearest_mode", "round_prefer_floor") if self.opset >= 11 else "simple"
        axes = [int(d) % len(shape) for d in a.get("axes", range(len(shape)))]
        full_scales, full_sizes = [1.0] * len(shape), list(shape)
        if sizes is not None:
            ratio = [np.float32(s) / np.float32(shape[d]) for d, s in zip(axes, sizes)]
            policy = a.get("keep_aspect_ratio_policy", "stretch")
            if policy in ("not_larger", "not_smaller"):
                r = min(ratio) if policy == "not_larger" else max(ratio)
                ratio, sizes = [r] * len(axes), [int(np.floor(r * shape[d] + 0.5)) for d in axes]
            elif policy != "stretch":
                raise ModelError(f"keep_aspect_ratio_policy {policy!r} is not supported")
            for d, s, r in zip(axes, sizes, ratio):
                full_sizes[d], full_scales[d] = int(s), float(r)
        else:
            for d, s in zip(axes, scales):
                full_scales[d], full_sizes[d] = float(s), int(np.float32(s) * np.float32(shape[d]))
        self.emit(node, "resize", [node.input[0]], node.output[0], sizes=tuple(full_sizes),
                  scales=tuple(full_scales), mode=mode, coord=coord, nearest=nearest)

    def op_Resize(self, node, a):
        """`resize`: nearest (any axes; nearest_mode round_prefer_floor/ceil, floor, ceil) and linear (the last
        two axes); scales or sizes, opset 18's `axes` and keep_aspect_ratio_policy; coordinate modes but
        tf_crop_and_resize; no cubic, no antialias."""
        if self.opset < 11:
            return self._resize(node, a, self.value(node.input[1]), None)
        scales, sizes = self._input(node, 2), self._input(node, 3)
        self._resize(node, a, scales if scales is not None and scales.size else None, sizes)

    def op_Upsample(self, node, a):
        """`resize`: nearest and linear (the last two axes), scales as attribute (opset 7-8) or input (9)."""
        if a.get("mode", "nearest") == "bilinear":
            a = dict(a, mode="linear")
        self._resize(node, a, a["scales"] if self.opset < 9 else self.value(node.input[1]), None)

    def op_Range(self, node, a):
        """(folded): constant start, limit, delta."""
        start, limit, delta = (self.value(i) for i in node.input)
        self.fold(node, np.arange(start, limit, delta, dtype=start.dtype))

    def op_Size(self, node, a):
        """(folded): shapes are static."""
        self.fold(node, np.array(math.prod(self.shape(node.input[0])), np.int64))
