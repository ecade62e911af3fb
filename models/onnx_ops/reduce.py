"""ONNX reductions and normalisations, and the matrix products (Gemm, MatMul)."""
import math

import numpy as np

from ...kernels.common import IDENTITY
from ..graph import ModelError
from . import ints

REDUCE = dict(ReduceSum="sum", ReduceMean="mean", ReduceMax="max", ReduceMin="min", ReduceL1="l1", ReduceL2="l2",
              ReduceSumSquare="sum_square", ReduceLogSumExp="log_sum_exp", ReduceProd="prod")


def _fold_reduce(v, kind, axes, keepdims):
    """A reduction of a constant in numpy, in its own dtype (ints stay ints)."""
    k = dict(axis=axes, keepdims=keepdims)
    if kind == "log_sum_exp":
        return np.log(np.exp(v).sum(**k))
    if kind == "l2":
        return np.sqrt((v * v).sum(**k)).astype(v.dtype)
    return dict(sum=np.sum, mean=np.mean, max=np.max, min=np.min, prod=np.prod,
                l1=lambda t, **k: np.abs(t).sum(**k), sum_square=lambda t, **k: (t * t).sum(**k))[kind](v, **k)


def _layernorm_chains(imp, nodes):
    """ReduceMean -> Sub -> Pow(2) (or Mul(d, d)) -> ReduceMean -> Add(eps) -> Sqrt -> Div [-> Mul(gamma)]
    [-> Add(beta)], as older exporters spell a layer normalisation out, becomes one LayerNormalization."""
    readers, consts = {}, {}
    for n in nodes:
        if n.op_type == "Constant" and n.attribute:  # exporters write eps and the exponent 2 as Constant nodes
            v = imp.onnx.helper.get_attribute_value(n.attribute[0])
            consts[n.output[0]] = imp.onnx.numpy_helper.to_array(v) if n.attribute[0].name == "value" else \
                np.asarray(v)
        for i in dict.fromkeys(n.input):  # a node reading a tensor twice (Mul(d, d)) is one reader
            readers.setdefault(i, []).append(n)

    def value(t):  # a constant's value, else None
        return imp.value(t) if t and imp.is_const(t) else consts.get(t)

    chains = [c for c in (_layernorm_chain(imp, n, readers, value) for n in nodes if n.op_type == "ReduceMean") if c]
    if not chains:
        return nodes
    drop = {id(n) for chain, _ in chains for n in chain}
    last = {id(chain[-1]): fused for chain, fused in chains}
    return [last.get(id(n), n) for n in nodes if id(n) not in drop or id(n) in last]


def _layernorm_chain(imp, mean, readers, value):
    """(the chain's nodes, the LayerNormalization node) for a chain starting at ReduceMean `mean`, else None."""
    def only(t, op_type):  # the one reader of tensor t, when it has op_type and t is no graph output
        r = readers.get(t, [])
        return r[0] if len(r) == 1 and r[0].op_type == op_type and t not in imp.g.outputs else None

    def other(n, t):  # n's input that is not t
        return n.input[1] if n.input[0] == t else n.input[0]

    x, axes = mean.input[0], _chain_axes(mean, value)
    sub = only(mean.output[0], "Sub")
    if axes is None or sub is None or list(sub.input) != [x, mean.output[0]] or sub.output[0] in imp.g.outputs:
        return None
    d = sub.output[0]
    by_type = {r.op_type: r for r in readers.get(d, [])}
    sq, div = by_type.get("Pow", by_type.get("Mul")), by_type.get("Div")
    if len(readers.get(d, [])) != 2 or sq is None or div is None or list(div.input[:1]) != [d]:
        return None
    if sq.op_type == "Pow" and (sq.input[0] != d or value(sq.input[1]) is None or value(sq.input[1]).size != 1
                                or float(value(sq.input[1]).reshape(-1)[0]) != 2.0):
        return None
    if sq.op_type == "Mul" and list(sq.input) != [d, d]:
        return None
    var = only(sq.output[0], "ReduceMean")
    add = var and _chain_axes(var, value) == axes and only(var.output[0], "Add")
    if not add or value(other(add, var.output[0])) is None:
        return None
    sqrt = only(add.output[0], "Sqrt")
    if sqrt is None or only(sqrt.output[0], "Div") is not div or div.input[1] != sqrt.output[0]:
        return None
    chain, out, affine = [mean, sub, sq, var, add, sqrt, div], div.output[0], ["", ""]
    for i, op_type in enumerate(("Mul", "Add")):
        step = only(out, op_type)
        p = step and other(step, out)
        if not step or value(p) is None or value(p).ndim > len(axes) and set(value(p).shape[:-len(axes)]) - {1}:
            break
        chain, out, affine[i] = chain + [step], step.output[0], p
    eps = float(value(other(add, var.output[0])).reshape(-1)[0])
    fused = imp.onnx.helper.make_node("LayerNormalization", [x] + affine, [out], name=chain[-1].name,
                                      axis=axes[0], epsilon=eps, axes=axes)
    return chain, fused


def _chain_axes(n, value):
    """A ReduceMean's axes (attribute or constant input), when it keeps its dims; else None."""
    if any(a.name == "keepdims" and a.i == 0 for a in n.attribute):
        return None
    axes = [a.ints for a in n.attribute if a.name == "axes"]
    if len(n.input) > 1 and n.input[1]:
        axes = [] if value(n.input[1]) is None else [value(n.input[1]).reshape(-1)]
    return sorted(ints(axes[0])) if axes and len(axes[0]) else None


# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = (_layernorm_chains,)


def _reducer(kind):
    """The importer method of ONNX Reduce<Kind>: a `reduce` node of that kind."""
    def op(self, node, a):
        self._reduce(node, a, kind)

    op.__doc__ = (f"`reduce` `{kind}`: axes as attribute or constant input, keepdims, noop_with_empty_axes; folded "
                  f"on constants.")
    return op


class ReduceOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

    def op_Gemm(self, node, a):
        """`dense` for a constant B, else `matmul` (+ `transpose`, `mul` by alpha, `add` of beta * C): transA,
        transB, alpha, beta, runtime or constant C (a constant one that fits a bias vector is the bias)."""
        x, b = node.input[0], node.input[1]
        c = node.input[2] if len(node.input) > 2 else ""
        alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
        if not self.runtime(node):
            xv, bv = self.value(x), self.value(b)
            y = alpha * (xv.T if a.get("transA", 0) else xv) @ (bv.T if a.get("transB", 0) else bv)
            return self.fold(node, (y + beta * self.value(c) if c else y).astype(xv.dtype))
        if a.get("transA", 0):
            x = self.emit(node, "transpose", [x], node.output[0] + "/xT", perm=(1, 0))
        if self.is_const(b):
            w = self.value(b).astype(np.float32, copy=False)
            if alpha != 1.0:
                w = w * np.float32(alpha)
            return self._dense(node, x, w if a.get("transB", 0) else w.T, c, beta)
        if a.get("transB", 0):
            b = self.emit(node, "transpose", [b], node.output[0] + "/bT", perm=(1, 0))
        out = node.output[0] if not c and alpha == 1.0 else node.output[0] + "/matmul"
        y = self._scaled(node, self.emit(node, "matmul", [x, b], out), alpha, "alpha",
                         node.output[0] if not c else node.output[0] + "/ab")
        if c:
            self._add_c(node, y, c, beta)

    def op_MatMul(self, node, a):
        """`dense` (+ `reshape` for N-D x) for a constant 2-D second operand, else `matmul`: numpy's matmul
        (batch axes broadcast, 1-D operands); folded on constants."""
        x, b = node.input
        if not self.runtime(node):
            return self.fold(node, np.matmul(self.value(x), self.value(b)))
        if not self.is_const(b) or self.value(b).ndim != 2:
            return self.emit(node, "matmul", [x, b], node.output[0])
        src = self.shape(x)
        if len(src) == 2:
            return self._dense(node, x, self.value(b).T, "", 1.0)
        flat = self.emit(node, "reshape", [x], node.output[0] + "/flat", shape=(math.prod(src[:-1]), src[-1]))
        y = self.emit(node, "dense", [flat, self.weight(node, "w", self.value(b).T), ""], node.output[0] + "/2d",
                      act=IDENTITY)
        self.emit(node, "reshape", [y], node.output[0], shape=tuple(src[:-1]) + (self.shape(b)[1],))

    def _dense(self, node, x, w, c, beta):
        k = w.shape[0]
        bias, add = "", None
        if c:
            cv = self.value(c) * np.float32(beta) if self.is_const(c) else None
            if cv is not None and cv.size in (1, k) and cv.ndim <= 2 and (cv.ndim < 2 or cv.shape[0] == 1):
                bias = self.weight(node, "b", np.broadcast_to(cv.reshape(-1), (k,)))
            else:
                add = c
        out = node.output[0] if add is None else node.output[0] + "/gemm"
        self.emit(node, "dense", [x, self.weight(node, "w", w), bias], out, act=IDENTITY)
        if add is not None:
            self._add_c(node, out, add, beta)

    def _scaled(self, node, t, s, what, out):
        """t * s (a `mul` by a constant) made as `out`, or t itself when s == 1."""
        if s == 1.0:
            return t
        return self.emit(node, "mul", [t, self.weight(node, what, np.full(1, s))], out, act=IDENTITY)

    def _add_c(self, node, y, c, beta):
        # y + beta * C -> the node's output
        c = self.weight(node, "c", self.value(c) * np.float32(beta)) if self.is_const(c) else \
            self._scaled(node, c, beta, "beta", node.output[0] + "/betaC")
        self.emit(node, "add", [y, c], node.output[0], act=IDENTITY)

    def _softmax(self, node, a, op):
        src = self.shape(node.input[0])
        axis = a.get("axis", -1 if self.opset >= 13 else 1) % len(src)
        if self.opset >= 13 or axis == len(src) - 1:
            return self.emit(node, op, [node.input[0]], node.output[0], axis=axis)
        # before opset 13: over everything from `axis` on, as one flattened row
        flat = self.emit(node, "reshape", [node.input[0]], node.output[0] + "/2d",
                         shape=(math.prod(src[:axis]), math.prod(src[axis:])))
        y = self.emit(node, op, [flat], node.output[0] + "/" + op, axis=1)
        self.emit(node, "reshape", [y], node.output[0], shape=src)

    def op_Softmax(self, node, a):
        """`softmax`: any axis; before opset 13 over the flattened axes from `axis` on."""
        self._softmax(node, a, "softmax")

    def op_LogSoftmax(self, node, a):
        """`log_softmax`: any axis; before opset 13 over the flattened axes from `axis` on."""
        self._softmax(node, a, "log_softmax")

    def _reduce(self, node, a, kind):
        x = node.input[0]
        rank = len(self.shape(x))
        if len(node.input) > 1 and node.input[1]:
            if not self.is_const(node.input[1]):
                raise ModelError(f"{node.op_type} with runtime axes is not supported")
            axes = ints(self.value(node.input[1]).reshape(-1))
        else:
            axes = ints(a.get("axes", []))
        if not axes and a.get("noop_with_empty_axes", 0):
            self.alias[node.output[0]] = x
            return
        axes = tuple(sorted({i % rank for i in axes})) if axes else tuple(range(rank))
        keepdims = bool(a.get("keepdims", 1))
        if not self.runtime(node, 1):
            return self.fold(node, _fold_reduce(self.value(x), kind, axes, keepdims))
        self.emit(node, "reduce", [x], node.output[0], kind=kind, axes=axes, keepdims=keepdims)

    op_ReduceSum = _reducer("sum")
    op_ReduceMean = _reducer("mean")
    op_ReduceMax = _reducer("max")
    op_ReduceMin = _reducer("min")
    op_ReduceL1 = _reducer("l1")
    op_ReduceL2 = _reducer("l2")
    op_ReduceSumSquare = _reducer("sum_square")
    op_ReduceLogSumExp = _reducer("log_sum_exp")
    op_ReduceProd = _reducer("prod")

    def _arg(self, node, a, op, fn):
        x = node.input[0]
        axis, keepdims, last = a.get("axis", 0), a.get("keepdims", 1), a.get("select_last_index", 0)
        if self.runtime(node):
            return self.emit(node, op, [x], node.output[0], axis=axis % len(self.shape(x)),
                             keepdims=bool(keepdims), select_last_index=bool(last))
        v = self.value(x)
        i = fn(np.flip(v, axis) if last else v, axis=axis, keepdims=bool(keepdims))
        self.fold(node, v.shape[axis] - 1 - i if last else i)

    def op_ArgMax(self, node, a):
        """`argmax`: axis, keepdims, select_last_index; the indices as float32 values; folded on constants
        (int64)."""
        self._arg(node, a, "argmax", np.argmax)

    def op_ArgMin(self, node, a):
        """`argmin`: axis, keepdims, select_last_index; the indices as float32 values; folded on constants
        (int64)."""
        self._arg(node, a, "argmin", np.argmin)

    def _affine(self, node, i, shape, default):
        """Constant input i (scale, bias) as float32 of `shape`: broadcast, leading 1s dropped; absent:
        filled with `default` (None: left out)."""
        name = node.input[i] if len(node.input) > i else ""
        if not name:
            return "" if default is None else self.weight(node, f"p{i}", np.full(shape, default))
        if not self.is_const(name):
            raise ModelError(f"{node.op_type} needs constant scale and bias")
        v = self.value(name)
        while v.ndim > len(shape) and v.shape[0] == 1:
            v = v[0]
        return self.weight(node, f"p{i}", np.broadcast_to(v, shape))

    def op_LayerNormalization(self, node, a):  # a reader of Mean / InvStdDev fails as reading an unknown tensor
        """`layernorm`: axis, epsilon, constant scale and bias; the Mean and InvStdDev outputs cannot be read.
        Also the ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div [, Mul, Add] chain older exporters write."""
        rank = len(self.shape(node.input[0]))
        axis = a.get("axis", -1) % rank
        if "axes" in a:  # made by _layernorm_chains: the chain's axes must be the trailing ones
            axes = sorted(i % rank for i in a["axes"])
            if axes != list(range(axes[0], rank)):
                raise ModelError(f"a layer normalisation over axes {list(a['axes'])} of a rank-{rank} tensor "
                                 "(only the trailing axes are supported)")
            axis = axes[0]
        inner = tuple(self.shape(node.input[0])[axis:])
        self.emit(node, "layernorm", [node.input[0], self._affine(node, 1, inner, 1.0),
                                      self._affine(node, 2, inner, None)], node.output[0], axis=axis,
                  eps=a.get("epsilon", 1e-5))

    def op_InstanceNormalization(self, node, a):
        """`instancenorm`: epsilon, constant scale and bias."""
        c = (self.shape(node.input[0])[1],)
        self.emit(node, "instancenorm", [node.input[0], self._affine(node, 1, c, 1.0),
                                         self._affine(node, 2, c, 0.0)], node.output[0], eps=a.get("epsilon", 1e-5))

    def op_GroupNormalization(self, node, a):
        """`groupnorm`: num_groups, epsilon, constant scale and bias (per group before opset 21, per channel
        from 21)."""
        C, G = self.shape(node.input[0])[1], int(a["num_groups"])
        params = []
        for i in (1, 2):
            if not self.is_const(node.input[i]):
                raise ModelError("GroupNormalization needs constant scale and bias")
            v = self.value(node.input[i]).reshape(-1)
            if self.opset < 21 and v.size == G and C % G == 0:
                v = np.repeat(v, C // G)
            params.append(self.weight(node, f"p{i}", v))
        self.emit(node, "groupnorm", [node.input[0], *params], node.output[0], groups=G, eps=a.get("epsilon", 1e-5))

    def op_BatchNormalization(self, node, a):
        """folded into the Conv before it, else `batchnorm`: inference mode, constant parameters."""
        if a.get("training_mode", 0):
            raise ModelError("BatchNormalization in training mode")
        if not all(self.is_const(i) for i in node.input[1:5]):
            raise ModelError("BatchNormalization needs constant parameters")
        self.emit(node, "batchnorm", list(node.input[:5]), node.output[0], eps=a.get("epsilon", 1e-5),
                  act=IDENTITY)

    def op_LRN(self, node, a):
        """`lrn`."""
        self.emit(node, "lrn", [node.input[0]], node.output[0], size=int(a["size"]), alpha=a.get("alpha", 1e-4),
                  beta=a.get("beta", 0.75), bias=a.get("bias", 1.0))
