"""ONNX (opsets 7-21) -> Graph: constants folded, then the IR passes (models.passes) fold BatchNormalization and
per-channel Mul / Add into the Conv before them, fuse activations into their producer and factor chains into
low-rank ops.

The operators' methods live in models/onnx_ops, one mixin per op family; here: the tensor helpers, the
conversion loop, constants and views.
"""
import math
import os

import numpy as np

from ..errors import DeepxError
from . import passes
from .graph import Graph, ModelError, Node
from .onnx_ops import ints
from .onnx_ops import conv, elementwise, layout, reduce, rnn


def _label(node):
    return node.name or node.output[0]


PATTERNS = elementwise.PATTERNS + layout.PATTERNS + conv.PATTERNS + reduce.PATTERNS + rnn.PATTERNS


class _Importer(elementwise.ElementwiseOps, layout.LayoutOps, conv.ConvOps, reduce.ReduceOps, rnn.RecurrentOps):
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
        nodes = list(model.graph.node)
        for rewrite in PATTERNS:
            nodes = rewrite(self, nodes)
        unsupported = [n for n in nodes if n.domain not in ("", "ai.onnx") or not hasattr(self, "op_" + n.op_type)]
        if unsupported:
            raise ModelError(f"{self.path}: unsupported operators: {_grouped(unsupported)} (the operators deepx "
                             f"reads: README, 'Supported operators')")
        for node in nodes:
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

    def weight(self, node, suffix, value):
        """A float32 constant made for the node's IR nodes (a transposed weight, a bias), by name."""
        name = f"{node.output[0]}/{suffix}"
        self.values[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

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
        self.fold(node, np.full(ints(self.value(node.input[0])), fill.reshape(-1)[0], dtype=fill.dtype))

    def op_Shape(self, node, a):
        """(folded): shapes are static; opset 15's `start` and `end`."""
        self.fold(node, np.array(self.shape(node.input[0]), np.int64)[a.get("start", 0):a.get("end")])

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
        shape = ints(a["shape"] if self.opset < 5 else self.value(node.input[1]))
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
            return ints(self.value(node.input[1]))
        return ints(a.get("axes", []))

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























def _grouped(nodes, shown=3) -> str:
    """Nodes grouped by operator, most frequent first: `Resize x6 (p2o.Resize.0, p2o.Resize.1, …)`."""
    groups = {}
    for n in nodes:
        groups.setdefault(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}", []).append(n)
    return ", ".join(f"{op} x{len(ns)} ({', '.join(_label(n) for n in ns[:shown])}{', …' if len(ns) > shown else ''})"
                     for op, ns in sorted(groups.items(), key=lambda kv: -len(kv[1])))


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
