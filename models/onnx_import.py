"""ONNX (opsets 7-21) -> Graph: constants folded, then the IR passes (models.passes) fold BatchNormalization and
per-channel Mul / Add into the Conv before them, fuse activations into their producer and factor chains into
low-rank ops.

Over 400 lines: one short method per ONNX operator (about 30), all on the importer's tensor helpers.
"""
import math
import os

import numpy as np

from ..kernels.common import CLIP, IDENTITY, NAMED_ACTS, Act
from ..errors import DeepxError
from . import passes
from .graph import Graph, ModelError, Node

ACTIVATIONS = {"Relu": NAMED_ACTS["relu"], "Sigmoid": NAMED_ACTS["sigmoid"], "Tanh": NAMED_ACTS["tanh"]}


def _ints(v):
    return [int(i) for i in v]


def _label(node):
    return node.name or node.output[0]


class _Importer:
    """Dispatches each ONNX node by op type to its method `op_<type>`, whose docstring is the operator's row
    in the README's table ("deepx op: limits")."""

    def __init__(self, model, path, release=False):
        import onnx

        self.onnx = onnx
        self.path = path
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.values = {}  # folded constants, any dtype
        self.alias = {}  # Identity / Dropout outputs -> their input
        g = model.graph
        self.g = Graph(g.name or os.path.basename(path), [], [o.name for o in g.output])
        for t in g.initializer:
            self.values[t.name] = onnx.numpy_helper.to_array(t)
            if release:  # a model we loaded ourselves: the array is the copy now, peak memory stays near one
                t.ClearField("raw_data")

    # tensors ---------------------------------------------------------------
    def name(self, n):
        while n in self.alias:
            n = self.alias[n]
        return n

    def is_const(self, n):
        return n == "" or self.name(n) in self.values

    def value(self, n):
        return self.values[self.name(n)]

    def tensor(self, n):
        """A runtime input of an IR node: constants become float32 weights of the graph."""
        if n == "":
            return ""
        n = self.name(n)
        if n in self.values and n not in self.g.constants:
            self.g.constants[n] = np.ascontiguousarray(self.values[n], dtype=np.float32)
            self.g.shapes[n] = self.g.constants[n].shape
        return n

    def shape(self, n):
        n = self.name(n)
        return tuple(self.values[n].shape) if n in self.values else self.g.shapes[n]

    def emit(self, node, op, inputs, output, **attrs):
        # one ONNX node may become several IR nodes: the extra ones make outputs named `<output>/<step>`
        name = _label(node) + output[len(node.output[0]):]
        ir = Node(name, op, [self.tensor(i) for i in inputs], [output], attrs)
        self.g.nodes.append(ir)
        self.g.shapes[output] = self.g.node_output_shape(ir)
        return output

    # conversion ------------------------------------------------------------
    def run(self, model):
        g = model.graph
        unsupported = [f"{n.op_type} (node {_label(n)!r})" for n in g.node
                       if n.domain not in ("", "ai.onnx") or not hasattr(self, "op_" + n.op_type)]
        if unsupported:
            raise ModelError(f"{self.path}: unsupported operators: {', '.join(unsupported)}")
        for node in g.node:
            attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
            attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
            missing = [i for i in node.input if i and not self.is_const(i) and self.name(i) not in self.g.shapes]
            if missing:
                raise ModelError(f"{self.path}: node {_label(node)!r} ({node.op_type}) reads "
                                 f"{missing[0]!r}, which no node, input or initializer provides")
            try:
                getattr(self, "op_" + node.op_type)(node, attrs)
            except (DeepxError, ValueError, IndexError, KeyError, TypeError) as e:
                raise ModelError(f"{self.path}: node {_label(node)!r} ({node.op_type}): {e}") from None
        for out in self.g.outputs:
            if self.is_const(out):
                raise ModelError(f"{self.path}: graph output {out!r} is a constant")
            if self.name(out) != out:  # an output produced through Identity/Dropout: a view under its name
                self.g.nodes.append(Node(out, "reshape", [self.name(out)], [out], dict(shape=self.shape(out))))
                self.g.shapes[out] = self.shape(self.name(out))
        return self.g

    def fold(self, node, value):
        self.values[node.output[0]] = np.asarray(value)

    def runtime(self, node, k=None):
        """Whether the node has a non-constant input (among its first k)."""
        return not all(self.is_const(i) for i in list(node.input)[:k])

    # constants and views
    def op_Constant(self, node, a):
        """(folded): `value`, `value_float(s)`, `value_int(s)`."""
        if "value" in a:
            return self.fold(node, self.onnx.numpy_helper.to_array(a["value"]))
        key = next(k for k in ("value_float", "value_floats", "value_int", "value_ints") if k in a)
        self.fold(node, np.array(a[key], np.float32 if "float" in key else np.int64))

    def op_ConstantOfShape(self, node, a):
        """(folded): a constant shape."""
        fill = self.onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        self.fold(node, np.full(_ints(self.value(node.input[0])), fill.reshape(-1)[0], dtype=fill.dtype))

    def op_Shape(self, node, a):
        """(folded): shapes are static."""
        self.fold(node, np.array(self.shape(node.input[0]), np.int64))

    def op_Gather(self, node, a):
        """(folded): constant inputs only."""
        if self.runtime(node):
            raise ModelError("Gather on a runtime tensor is not supported")
        self.fold(node, np.take(self.value(node.input[0]), self.value(node.input[1]), axis=a.get("axis", 0)))

    def op_Cast(self, node, a):
        """(folded) on constants: on a runtime tensor nothing, float32 stays float32."""
        if self.runtime(node):
            self.alias[node.output[0]] = node.input[0]
        else:
            self.fold(node, self.value(node.input[0]).astype(self.onnx.helper.tensor_dtype_to_np_dtype(a["to"])))

    def op_Identity(self, node, a):
        """(alias)."""
        self.alias[node.output[0]] = node.input[0]

    def op_Dropout(self, node, a):  # a reader of the mask output fails as reading an unknown tensor
        """(alias): inference; its mask output cannot be read."""
        self.alias[node.output[0]] = node.input[0]

    def _reshape(self, node, shape):
        if self.runtime(node, 1):
            self.emit(node, "reshape", [node.input[0]], node.output[0], shape=tuple(shape))
        else:
            self.fold(node, self.value(node.input[0]).reshape(shape))

    def op_Reshape(self, node, a):
        """`reshape` (a view): `0`, `-1` and `allowzero`; folded on constants."""
        shape = _ints(a["shape"] if self.opset < 5 else self.value(node.input[1]))
        src = self.shape(node.input[0])
        if not a.get("allowzero", 0):
            shape = [src[i] if s == 0 else s for i, s in enumerate(shape)]
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            shape[shape.index(-1)] = math.prod(src) // max(known, 1)
        if math.prod(shape) != math.prod(src):
            raise ModelError(f"cannot reshape {src} to {tuple(shape)}")
        self._reshape(node, shape)

    def op_Flatten(self, node, a):
        """`reshape` (a view): folded on constants."""
        src = self.shape(node.input[0])
        axis = a.get("axis", 1) % max(len(src), 1) if a.get("axis", 1) < 0 else a.get("axis", 1)
        self._reshape(node, [math.prod(src[:axis]), math.prod(src[axis:])])

    def _axes(self, node, a):
        if self.opset >= 13 and len(node.input) > 1 and node.input[1]:
            return _ints(self.value(node.input[1]))
        return _ints(a.get("axes", []))

    def op_Squeeze(self, node, a):
        """`reshape` (a view): axes as attribute or constant input."""
        src = self.shape(node.input[0])
        axes = [x % len(src) for x in self._axes(node, a)] or [i for i, s in enumerate(src) if s == 1]
        self._reshape(node, [s for i, s in enumerate(src) if i not in axes])

    def op_Unsqueeze(self, node, a):
        """`reshape` (a view): axes as attribute or constant input."""
        shape = list(self.shape(node.input[0]))
        rank = len(shape) + len(self._axes(node, a))
        for axis in sorted(x % rank for x in self._axes(node, a)):
            shape.insert(axis, 1)
        self._reshape(node, shape)

    # compute
    def _windowed(self, node, a, op, x, k, inputs=(), **extra):
        """Emit a 2-D windowed op (conv2d, pools); a 1-D one (N,C,L) runs as 2-D on (N,C,1,L)."""
        src = self.shape(x)
        if len(src) not in (3, 4) or len(k) != len(src) - 2:
            raise ModelError(f"only 1-D and 2-D {node.op_type} is supported, input has shape {src}")
        lift = (lambda v, d: [d] + list(v)) if len(src) == 3 else (lambda v, d: list(v))
        stride, dil = lift(a.get("strides", [1] * len(k)), 1), lift(a.get("dilations", [1] * len(k)), 1)
        hw, k = lift(src[2:], 1), lift(k, 1)
        pads = self._pads(a, hw, k, stride, dil, len(src) - 2)
        out = node.output[0]
        if len(src) == 3:
            x = self.emit(node, "reshape", [x], out + "/2d", shape=tuple(src[:2]) + (1, src[2]))
            out += "/2d_out"
        y = self.emit(node, op, [x, *inputs], out, stride=tuple(stride), pads=pads, **extra,
                      **({"dilation": tuple(dil)} if op != "avgpool2d" else {}))
        if len(src) == 3:
            shape = self.g.shapes[y]
            self.emit(node, "reshape", [y], node.output[0], shape=shape[:2] + shape[3:])

    @staticmethod
    def _pads(a, hw, k, stride, dil, ndim):
        """ONNX pads / auto_pad -> (top, left, bottom, right)."""
        mode = a.get("auto_pad", "NOTSET")
        if mode == "NOTSET":
            pads = _ints(a.get("pads", [0] * 2 * ndim))
            return tuple(pads) if ndim == 2 else (0, pads[0], 0, pads[1])
        if mode == "VALID":
            return (0, 0, 0, 0)
        begin, end = [], []
        for size, kk, s, d in zip(hw, k, stride, dil):
            total = max(0, (-(-size // s) - 1) * s + (kk - 1) * d + 1 - size)
            begin.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
            end.append(total - begin[-1])
        return tuple(begin + end)

    def op_Conv(self, node, a):
        """`conv2d`: 1-D and 2-D, constant weight, groups, dilations, `auto_pad`; activations after it fused."""
        x, w = node.input[0], node.input[1]
        if not self.is_const(w):
            raise ModelError("Conv with a runtime weight is not supported")
        wv = self.value(w)
        w2 = self._weight(node, "w2d", wv[:, :, None, :]) if wv.ndim == 3 else w
        self._windowed(node, a, "conv2d", x, wv.shape[2:], [w2, node.input[2] if len(node.input) > 2 else ""],
                       groups=int(a.get("group", 1)), act=IDENTITY)

    def op_Gemm(self, node, a):
        """`dense` (+ `add` for a C that is not a bias vector): 2-D x, constant B, no `transA`."""
        x, b = node.input[0], node.input[1]
        if a.get("transA", 0) or not self.is_const(b) or len(self.shape(x)) != 2:
            raise ModelError("Gemm is supported as x (N,M) times a constant weight, without transA")
        w = self.value(b).astype(np.float32, copy=False)
        if a.get("alpha", 1.0) != 1.0:
            w = w * np.float32(a["alpha"])
        w = w if a.get("transB", 0) else w.T
        return self._dense(node, w, node.input[2] if len(node.input) > 2 else "", a.get("beta", 1.0))

    def op_MatMul(self, node, a):
        """`dense` (+ `reshape` for N-D x): constant 2-D second operand."""
        x, b = node.input
        if not self.is_const(b) or self.value(b).ndim != 2:
            raise ModelError("MatMul is supported with a constant 2-D second operand")
        src = self.shape(x)
        if len(src) == 2:
            return self._dense(node, self.value(b).T, "", 1.0)
        flat = self.emit(node, "reshape", [x], node.output[0] + "/flat", shape=(math.prod(src[:-1]), src[-1]))
        y = self.emit(node, "dense", [flat, self._weight(node, "w", self.value(b).T), ""], node.output[0] + "/2d",
                      act=IDENTITY)
        self.emit(node, "reshape", [y], node.output[0], shape=tuple(src[:-1]) + (self.shape(b)[1],))

    def _weight(self, node, suffix, value):
        name = f"{node.output[0]}/{suffix}"
        self.values[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    def _dense(self, node, w, c, beta):
        k = w.shape[0]
        bias, add = "", None
        if c:
            cv = self.value(c) * np.float32(beta) if self.is_const(c) else None
            if cv is not None and cv.size in (1, k) and cv.ndim <= 2 and (cv.ndim < 2 or cv.shape[0] == 1):
                bias = self._weight(node, "b", np.broadcast_to(cv.reshape(-1), (k,)))
            else:
                add = c if cv is None else self._weight(node, "c", cv)
        out = node.output[0] if add is None else node.output[0] + "/gemm"
        self.emit(node, "dense", [node.input[0], self._weight(node, "w", w), bias], out, act=IDENTITY)
        if add is not None:
            if beta != 1.0 and not self.is_const(c):
                raise ModelError("Gemm with beta != 1 on a runtime C")
            self.emit(node, "add", [out, add], node.output[0], act=IDENTITY)

    def _binary(self, node, op, fn):
        if not self.runtime(node):
            return self.fold(node, fn(self.value(node.input[0]), self.value(node.input[1])))
        self.emit(node, op, list(node.input), node.output[0], act=IDENTITY)

    def op_Add(self, node, a):
        """`add`: numpy broadcasting, activations after it fused; folded on constants, a per-channel constant
        into the Conv or BatchNormalization before it."""
        self._binary(node, "add", np.add)

    def op_Mul(self, node, a):
        """`mul`: numpy broadcasting, activations after it fused; folded on constants, a per-channel constant
        into the Conv or BatchNormalization before it."""
        self._binary(node, "mul", np.multiply)

    def op_Sum(self, node, a):
        """`add`, one per extra input: folded on constants."""
        if not self.runtime(node):
            return self.fold(node, sum(self.value(i) for i in node.input))
        acc = node.input[0]
        for i, other in enumerate(node.input[1:], 1):
            out = node.output[0] if i == len(node.input) - 1 else f"{node.output[0]}/sum{i}"
            acc = self.emit(node, "add", [acc, other], out, act=IDENTITY)
        if len(node.input) == 1:
            self.alias[node.output[0]] = acc

    def _activation(self, node, act):
        if not self.runtime(node, 1):
            from ..kernels.ref.elementwise import apply_act

            return self.fold(node, apply_act(self.value(node.input[0]), act).astype(np.float32))
        self.emit(node, "activation", [node.input[0]], node.output[0], act=act)

    def op_Relu(self, node, a):
        """`activation` `relu`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Relu"])

    def op_Sigmoid(self, node, a):
        """`activation` `sigmoid`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Sigmoid"])

    def op_Tanh(self, node, a):
        """`activation` `tanh`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Tanh"])

    def op_Clip(self, node, a):
        """`activation` `clip`: constant bounds; fused into its producer."""
        if self.opset < 11:
            lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
        else:
            bound = [float(self.value(i)) if i else None for i in list(node.input[1:]) + ["", ""]][:2]
            if any(i and not self.is_const(i) for i in node.input[1:]):
                raise ModelError("Clip with runtime bounds is not supported")
            lo, hi = (-math.inf if bound[0] is None else bound[0]), (math.inf if bound[1] is None else bound[1])
        self._activation(node, Act(CLIP, float(lo), float(hi)))

    def _pool(self, node, a, op, **extra):
        x = node.input[0]
        k = _ints(a["kernel_shape"])
        kernel = tuple(k) if len(k) == 2 else (1, *k)
        self._windowed(node, a, op, x, k, kernel=kernel, ceil_mode=bool(a.get("ceil_mode", 0)), **extra)

    def op_MaxPool(self, node, a):
        """`maxpool2d`: 1-D and 2-D, `ceil_mode`, pads, dilations."""
        self._pool(node, a, "maxpool2d")

    def op_AveragePool(self, node, a):
        """`avgpool2d`: 1-D and 2-D, `ceil_mode`, `count_include_pad`; no dilations."""
        if any(d != 1 for d in a.get("dilations", [])):
            raise ModelError("AveragePool with dilations is not supported")
        self._pool(node, a, "avgpool2d", count_include_pad=bool(a.get("count_include_pad", 0)))

    def op_GlobalAveragePool(self, node, a):
        """`global_avgpool`."""
        self.emit(node, "global_avgpool", [node.input[0]], node.output[0])

    def op_LRN(self, node, a):
        """`lrn`."""
        self.emit(node, "lrn", [node.input[0]], node.output[0], size=int(a["size"]), alpha=a.get("alpha", 1e-4),
                  beta=a.get("beta", 0.75), bias=a.get("bias", 1.0))

    def op_BatchNormalization(self, node, a):
        """folded into the Conv before it, else `batchnorm`: inference mode, constant parameters."""
        if a.get("training_mode", 0):
            raise ModelError("BatchNormalization in training mode")
        if not all(self.is_const(i) for i in node.input[1:5]):
            raise ModelError("BatchNormalization needs constant parameters")
        self.emit(node, "batchnorm", list(node.input[:5]), node.output[0], eps=a.get("epsilon", 1e-5),
                  act=IDENTITY)

    def op_Softmax(self, node, a):
        """`softmax`: before opset 13 over the flattened axes from `axis` on."""
        src = self.shape(node.input[0])
        axis = a.get("axis", -1 if self.opset >= 13 else 1) % len(src)
        if self.opset >= 13 or axis == len(src) - 1:
            return self.emit(node, "softmax", [node.input[0]], node.output[0], axis=axis)
        # before opset 13: softmax over everything from `axis` on, as one flattened row
        flat = self.emit(node, "reshape", [node.input[0]], node.output[0] + "/2d",
                         shape=(math.prod(src[:axis]), math.prod(src[axis:])))
        y = self.emit(node, "softmax", [flat], node.output[0] + "/softmax", axis=1)
        self.emit(node, "reshape", [y], node.output[0], shape=src)

    def op_Concat(self, node, a):
        """`concat`: folded on constants."""
        if not self.runtime(node):
            return self.fold(node, np.concatenate([self.value(i) for i in node.input], axis=a["axis"]))
        self.emit(node, "concat", list(node.input), node.output[0], axis=a["axis"] % len(self.shape(node.input[0])))

    def op_Transpose(self, node, a):
        """`transpose`: folded on constants."""
        perm = tuple(_ints(a.get("perm", range(len(self.shape(node.input[0])))[::-1])))
        if not self.runtime(node):
            return self.fold(node, np.transpose(self.value(node.input[0]), perm))
        self.emit(node, "transpose", [node.input[0]], node.output[0], perm=perm)

    def op_Pad(self, node, a):
        """`pad`: constant mode, H and W of NCHW tensors, pads >= 0."""
        pads = _ints(a["pads"] if self.opset < 11 else self.value(node.input[1]))
        mode = a.get("mode", "constant")
        value = a.get("value", 0.0) if self.opset < 11 else (
            float(self.value(node.input[2])) if len(node.input) > 2 and node.input[2] else 0.0)
        rank = len(self.shape(node.input[0]))
        if mode != "constant" or rank != 4 or any(pads[i] or pads[i + rank] for i in (0, 1)) or min(pads) < 0:
            raise ModelError(f"Pad is supported in constant mode on the H and W "
                             f"axes of NCHW tensors, got mode {mode!r}, pads {pads}")
        self.emit(node, "pad", [node.input[0]], node.output[0], pads=(pads[2], pads[3], pads[6], pads[7]),
                  value=value)


def load_onnx(path, input_shapes=None, example=None, default_batch=None, note=None) -> Graph:
    """Import an ONNX file. Inputs with dynamic dimensions take their shape from input_shapes
    ({name: shape}), else from example inputs ({name: array}, or one array for a one-input model), else
    a dynamic batch (first dimension) is default_batch, said by note(message); None: refused."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        empty = os.path.getsize(path) == 0
        model = onnx.load(str(path))
    except FileNotFoundError as e:
        missing = e.filename or path
        raise ModelError(f"{path}: cannot read {missing}" + (" (external data)" if missing != str(path) else ""))
    except (DecodeError, ValueError, OSError) as e:
        raise ModelError(f"{path}: not a valid ONNX model ({type(e).__name__}: {str(e)[:200]})") from None
    if empty:
        raise ModelError(f"{path}: an empty file (0 bytes), not an ONNX model")
    return from_onnx(model, str(path), input_shapes, example, release=True, default_batch=default_batch, note=note)


def from_onnx(model, path="<model>", input_shapes=None, example=None, release=False, default_batch=None,
              note=None) -> Graph:
    """Import a ModelProto (input shapes as load_onnx's); `release` frees its initializers' bytes as they are
    converted (the caller must not use the model afterwards)."""
    import onnx

    for part, what in (("node", "nodes"), ("output", "outputs")):
        if not getattr(model.graph, part):
            raise ModelError(f"{path}: not a model: its graph has no {what}")
    imp = _Importer(model, path, release)
    input_shapes = dict(input_shapes or {})
    real = [vi for vi in model.graph.input if vi.name not in imp.values]
    if isinstance(example, np.ndarray) and len(real) == 1:
        example = {real[0].name: example}
    for vi in real:
        t = vi.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT:
            raise ModelError(f"{path}: input {vi.name!r} is not float32")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim]
        shape = input_shapes.pop(vi.name, None)
        if shape is None and None in dims and isinstance(example, dict) and vi.name in example \
                and len(example[vi.name].shape) == len(dims):
            shape = example[vi.name].shape
        imp.g.inputs.append(vi.name)
        imp.g.shapes[vi.name] = _input_shape(path, vi.name, shape or dims, default_batch, note)
    if input_shapes:
        raise ModelError(f"{path}: no input named {', '.join(input_shapes)} (inputs: {', '.join(imp.g.inputs)})")
    g = imp.run(model)
    passes.run(g)
    g.prune()
    g.toposort()
    return g


def _input_shape(path, name, dims, default_batch, note) -> tuple:
    """An input's dimensions (None where dynamic) as a shape: a dynamic batch alone becomes default_batch."""
    if default_batch and dims and dims[0] is None and None not in dims[1:]:
        dims = [default_batch, *dims[1:]]
        note(f"{path}: input {name!r} has a dynamic batch: running batch {default_batch} (another: "
             f"--input-shape {name}={','.join(['N', *map(str, dims[1:])])})")
    if None in dims:
        raise ModelError(f"{path}: input {name!r} has a dynamic shape {list(dims)}: give it with "
                         f"--input-shape {name}={','.join('1' if d is None else str(d) for d in dims)}")
    return tuple(int(s) for s in dims)
