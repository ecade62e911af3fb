"""Graph -> ONNX (opset 13), so that a compressed model runs in ONNX Runtime too."""
import math

import numpy as np

from ..kernels import common as k
from ..kernels.common import CLIP
from .graph import Graph

OPSET = 13
# activation kinds that are one ONNX operator at opset 13, without attributes / with alpha (act.lo)
ONNX_UNARY = {k.SIGMOID: "Sigmoid", k.TANH: "Tanh", k.SOFTPLUS: "Softplus", k.SOFTSIGN: "Softsign", k.EXP: "Exp",
              k.LOG: "Log", k.NEG: "Neg", k.ABS: "Abs", k.SQRT: "Sqrt", k.RECIPROCAL: "Reciprocal", k.ERF: "Erf",
              k.FLOOR: "Floor", k.CEIL: "Ceil"}
ONNX_ALPHA = {k.LEAKYRELU: "LeakyRelu", k.ELU: "Elu", k.CELU: "Celu", k.THRESHOLDEDRELU: "ThresholdedRelu"}
# IR binary ops -> ONNX operator; MASKS give bool in ONNX (cast to 0/1 float), LOGIC also take bool
ARITHMETIC = {"sub": "Sub", "div": "Div", "pow": "Pow", "minimum": "Min", "maximum": "Max", "prelu": "PRelu"}
MASKS = {"equal": "Equal", "less": "Less", "greater": "Greater", "less_equal": "LessOrEqual",
         "greater_equal": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}
POINTWISE = dict(strides=[1, 1], pads=[0, 0, 0, 0])  # a 1x1 conv's window


def _window(a):
    """A windowed IR op's stride and pads as ONNX attributes."""
    return dict(strides=list(a["stride"]), pads=list(a["pads"]))


class _Exporter:
    def __init__(self, g: Graph):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.g, self.nodes, self.inits = g, [], {}

    def const(self, name, value):
        if name not in self.inits:
            self.inits[name] = self.numpy_helper.from_array(np.asarray(value), name)
        return name

    def add(self, op_type, inputs, output, **attrs):
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], name=output, **attrs))
        return output

    def act(self, y, act, output):
        """Append the node's fused activation (if any) producing `output`."""
        if act.kind == CLIP and act.lo == 0.0 and act.hi == math.inf:
            return self.add("Relu", [y], output)
        if act.kind == CLIP:
            lo = self.const(f"{output}/min", np.float32(max(act.lo, np.finfo(np.float32).min)))
            hi = self.const(f"{output}/max", np.float32(min(act.hi, np.finfo(np.float32).max)))
            return self.add("Clip", [y, lo, hi], output)
        if act.kind in ONNX_UNARY:
            return self.add(ONNX_UNARY[act.kind], [y], output)
        if act.kind in ONNX_ALPHA:
            return self.add(ONNX_ALPHA[act.kind], [y], output, alpha=act.lo)
        if act.kind == k.HARDSIGMOID:
            return self.add("HardSigmoid", [y], output, alpha=act.lo, beta=act.hi)
        if act.kind == k.SELU:
            return self.add("Selu", [y], output, alpha=act.lo, gamma=act.hi)
        if act.kind == k.NOT:
            zero = self.const(f"{output}/zero", np.float32(0.0))
            return self.cast(self.add("Equal", [y, zero], f"{output}/not"), output)
        if act.kind in (k.HARDSWISH, k.SILU, k.MISH, k.GELU, k.GELU_TANH):
            return self.add("Mul", [y, self.gate(y, act, output)], output)
        return self.add("Identity", [y], output)

    def gate(self, y, act, output):
        """g(y) of the activations spelled y * g(y) at opset 13: hardswish, silu, mish and both gelus."""
        t = f"{output}/gate"
        if act.kind == k.HARDSWISH:
            return self.add("HardSigmoid", [y], t, alpha=act.lo, beta=act.hi)
        if act.kind == k.SILU:
            return self.add("Sigmoid", [y], t)
        if act.kind == k.MISH:
            return self.add("Tanh", [self.add("Softplus", [y], t + "/softplus")], t)
        if act.kind == k.GELU:  # 0.5 * (1 + erf(y / sqrt 2))
            inner = self.add("Erf", [self.add("Mul", [y, self.const(t + "/s", np.float32(math.sqrt(0.5)))],
                                              t + "/scaled")], t + "/erf")
        else:  # 0.5 * (1 + tanh(sqrt(2 / pi) * (y + 0.044715 y^3)))
            cube = self.add("Mul", [y, self.add("Mul", [y, y], t + "/sq")], t + "/cube")
            inner = self.add("Add", [y, self.add("Mul", [cube, self.const(t + "/c", np.float32(0.044715))],
                                                 t + "/c3")], t + "/poly")
            inner = self.add("Tanh", [self.add("Mul", [inner, self.const(
                t + "/s", np.float32(math.sqrt(2 / math.pi)))], t + "/scaled")], t + "/tanh")
        one = self.add("Add", [inner, self.const(t + "/one", np.float32(1.0))], t + "/plus1")
        return self.add("Mul", [one, self.const(t + "/half", np.float32(0.5))], t)

    def cast(self, x, output, to=None):
        """Cast to float32 (a bool mask to 0/1), or to `to`."""
        from onnx import TensorProto

        return self.add("Cast", [x], output, to=TensorProto.FLOAT if to is None else to)

    def node(self, n):
        """Add the ONNX nodes of IR node n: its op's `op_<op>` method makes the pre-activation tensor `y`
        (or returns the tensor that stands for it), then the fused activation makes the output."""
        out, act = n.outputs[0], n.attrs.get("act")
        export = getattr(self, "op_" + n.op, None)
        if export is None:
            raise ValueError(f"cannot export op {n.op!r}")
        y = export(n, list(n.inputs), n.attrs, out + "/pre_act" if act is not None and act.kind else out)
        if y != out:
            self.act(y, act, out)

    # one method per IR op: (node, its inputs, its attributes, the name of the tensor to make) -> that tensor
    def op_conv2d(self, n, ins, a, y):
        return self.add("Conv", [i for i in ins if i], y, dilations=list(a["dilation"]), group=a["groups"],
                        **_window(a))

    def op_conv2d_lowrank(self, n, ins, a, y):  # x, w1 (r,C,R,S), w2 (K,r,1,1), b
        t = self.add("Conv", ins[:2], n.outputs[0] + "/rank", dilations=list(a["dilation"]), **_window(a))
        return self.add("Conv", [t, ins[2]] + [i for i in ins[3:] if i], y, **POINTWISE)

    def op_conv2d_tucker2(self, n, ins, a, y):  # x, w_in (r1,C,1,1), w_core (r2,r1,R,S), w_out (K,r2,1,1), b
        t = self.add("Conv", ins[:2], n.outputs[0] + "/in", **POINTWISE)
        t = self.add("Conv", [t, ins[2]], n.outputs[0] + "/core", dilations=list(a["dilation"]), **_window(a))
        return self.add("Conv", [t, ins[3]] + [i for i in ins[4:] if i], y, **POINTWISE)

    def op_conv_transpose2d(self, n, ins, a, y):  # x, w (C,K/g,R,S), b
        return self.add("ConvTranspose", [i for i in ins if i], y, dilations=list(a["dilation"]), group=a["groups"],
                        output_padding=list(a["output_padding"]), **_window(a))

    def op_dense(self, n, ins, a, y):
        return self.add("Gemm", [i for i in ins if i], y, transB=1)

    def op_dense_lowrank(self, n, ins, a, y):  # x, v (r,M), u (K,r), b
        t = self.add("Gemm", ins[:2], n.outputs[0] + "/rank", transB=1)
        return self.add("Gemm", [t, ins[2]] + [i for i in ins[3:] if i], y, transB=1)

    def op_matmul(self, n, ins, a, y):
        return self.add("MatMul", ins, y)

    def op_maxpool2d(self, n, ins, a, y):
        return self.add("MaxPool", ins, y, kernel_shape=list(a["kernel"]), ceil_mode=int(a["ceil_mode"]),
                        **_window(a), dilations=list(a["dilation"]))

    def op_avgpool2d(self, n, ins, a, y):
        return self.add("AveragePool", ins, y, kernel_shape=list(a["kernel"]), ceil_mode=int(a["ceil_mode"]),
                        **_window(a), count_include_pad=int(a["count_include_pad"]))

    def op_global_avgpool(self, n, ins, a, y):
        return self.add("GlobalAveragePool", ins, y)

    def op_lrn(self, n, ins, a, y):
        return self.add("LRN", ins, y, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"])

    def op_batchnorm(self, n, ins, a, y):
        return self.add("BatchNormalization", ins, y, epsilon=a["eps"])

    def op_softmax(self, n, ins, a, y):
        return self.add("Softmax", ins, y, axis=a["axis"])

    def op_log_softmax(self, n, ins, a, y):
        return self.add("LogSoftmax", ins, y, axis=a["axis"])

    def _standardize(self, x, axes, eps, out):
        """(x - mean) / sqrt(var + eps) over `axes`, spelled out (LayerNormalization needs opset 17)."""
        d = self.add("Sub", [x, self.add("ReduceMean", [x], out + "/mean", axes=axes)], out + "/d")
        var = self.add("ReduceMean", [self.add("Mul", [d, d], out + "/d2")], out + "/var", axes=axes)
        std = self.add("Sqrt", [self.add("Add", [var, self.const(out + "/eps", np.float32(eps))], out + "/ve")],
                       out + "/std")
        return self.add("Div", [d, std], out + "/norm")

    def op_layernorm(self, n, ins, a, y):  # x, scale (L...), bias (L...)
        x, out = ins[0], n.outputs[0]
        t = self.add("Mul", [self._standardize(x, list(range(a["axis"], len(self.g.shapes[x]))), a["eps"], out),
                             ins[1]], out + "/scaled" if ins[2] else y)
        return self.add("Add", [t, ins[2]], y) if ins[2] else t

    def op_instancenorm(self, n, ins, a, y):
        return self.add("InstanceNormalization", ins, y, epsilon=a["eps"])

    def op_groupnorm(self, n, ins, a, y):  # x (N,C,...), scale (C), bias (C): per group, then per channel
        x, out = ins[0], n.outputs[0]
        shape = self.g.shapes[x]
        per_channel = (1, shape[1]) + (1,) * (len(shape) - 2)
        g = self.add("Reshape", [x, self.const(out + "/groups", np.array([shape[0], a["groups"], -1], np.int64))],
                     out + "/g")
        t = self.add("Reshape", [self._standardize(g, [2], a["eps"], out),
                                 self.const(out + "/shape", np.array(shape, np.int64))], out + "/std_x")
        scale = self.const(out + "/scale", self.g.constants[ins[1]].reshape(per_channel))
        bias = self.const(out + "/bias", self.g.constants[ins[2]].reshape(per_channel))
        return self.add("Add", [self.add("Mul", [t, scale], out + "/scaled"), bias], y)

    def op_reduce(self, n, ins, a, y):
        op_type = "Reduce" + dict(sum="Sum", mean="Mean", max="Max", min="Min", l1="L1", l2="L2",
                                  sum_square="SumSquare", log_sum_exp="LogSumExp", prod="Prod")[a["kind"]]
        if op_type == "ReduceSum":  # its axes are an input from opset 13
            axes = self.const(n.outputs[0] + "/axes", np.array(a["axes"], np.int64))
            return self.add(op_type, [ins[0], axes], y, keepdims=int(a["keepdims"]))
        return self.add(op_type, ins, y, axes=list(a["axes"]), keepdims=int(a["keepdims"]))

    def _arg(self, op_type, n, ins, a, y):
        i = self.add(op_type, ins, n.outputs[0] + "/index", axis=a["axis"], keepdims=int(a["keepdims"]),
                     select_last_index=int(a["select_last_index"]))
        return self.add("Cast", [i], y, to=1)  # float32 indices, as deepx makes them

    def op_argmax(self, n, ins, a, y):
        return self._arg("ArgMax", n, ins, a, y)

    def op_argmin(self, n, ins, a, y):
        return self._arg("ArgMin", n, ins, a, y)

    def op_add(self, n, ins, a, y):
        return self.add("Add", ins, y)

    def op_mul(self, n, ins, a, y):
        return self.add("Mul", ins, y)

    def op_activation(self, n, ins, a, y):
        return ins[0]  # the activation alone, made by node()

    def op_where(self, n, ins, a, y):
        from onnx import TensorProto

        return self.add("Where", [self.cast(ins[0], y + "/cond", TensorProto.BOOL), *ins[1:]], y)

    def binary(self, n, ins, a, y):
        """The binary ops past add and mul (bound to op_<name> below)."""
        if n.op in ARITHMETIC:
            return self.add(ARITHMETIC[n.op], ins, y)
        if n.op.startswith("logical_"):
            from onnx import TensorProto

            ins = [self.cast(t, f"{y}/bool{i}", TensorProto.BOOL) for i, t in enumerate(ins)]
        return self.cast(self.add(MASKS[n.op], ins, y + "/mask"), y)

    def op_concat(self, n, ins, a, y):
        return self.add("Concat", ins, y, axis=a["axis"])

    def op_transpose(self, n, ins, a, y):
        return self.add("Transpose", ins, y, perm=list(a["perm"]))

    def op_reshape(self, n, ins, a, y):
        return self.add("Reshape", [ins[0], self.const(n.outputs[0] + "/shape", np.array(a["shape"], np.int64))], y)

    def op_pad(self, n, ins, a, y):
        pads = self.const(n.outputs[0] + "/pads", np.array(a["pads"], np.int64))
        value = self.const(n.outputs[0] + "/value", np.float32(a["value"]))
        if a["mode"] == "wrap":  # opset 19's; exported as a concatenation of the wrapped slices
            return self._wrap_pad(n, ins[0], a["pads"], y)
        return self.add("Pad", [ins[0], pads, value], y, mode=a["mode"])

    def _wrap_pad(self, n, x, pads, y):
        # per axis: crop the negative pads, then concat(x[-end:], x, x[:begin]) (pads at most the axis length)
        shape, rank = list(self.g.shapes[x]), len(pads) // 2
        for d in range(rank):
            b, e = pads[d], pads[rank + d]
            t = self._slice(f"{y}/crop{d}", x, d, max(-b, 0), shape[d] - max(-e, 0))
            shape[d] += min(b, 0) + min(e, 0)
            parts = ([self._slice(f"{y}/wrap{d}b", t, d, shape[d] - b, shape[d])] if b > 0 else []) + [t] + (
                [self._slice(f"{y}/wrap{d}e", t, d, 0, e)] if e > 0 else [])
            x = self.add("Concat", parts, y if d == rank - 1 else f"{y}/pad{d}", axis=d)
            shape[d] += max(b, 0) + max(e, 0)
        return x

    def _slice(self, name, x, axis, start, end):
        consts = [self.const(f"{name}/{k}", np.array([v], np.int64)) for k, v in
                  (("starts", start), ("ends", end), ("axes", axis))]
        return self.add("Slice", [x, *consts], name)

    def op_slice(self, n, ins, a, y):
        c = [self.const(f"{n.outputs[0]}/{k}", np.array(a[k], np.int64)) for k in ("starts", "ends")]
        axes = self.const(n.outputs[0] + "/axes", np.arange(len(a["steps"]), dtype=np.int64))
        steps = self.const(n.outputs[0] + "/steps", np.array(a["steps"], np.int64))
        return self.add("Slice", [ins[0], *c, axes, steps], y)

    def op_gather(self, n, ins, a, y):
        idx = self.const(n.outputs[0] + "/indices", np.array(a["indices"], np.int64).reshape(a["shape"]))
        return self.add("Gather", [ins[0], idx], y, axis=a["axis"])

    def op_expand(self, n, ins, a, y):
        return self.add("Expand", [ins[0], self.const(n.outputs[0] + "/shape", np.array(a["shape"], np.int64))], y)

    def op_resize(self, n, ins, a, y):
        # opset 13 has no half_pixel_symmetric (half_pixel where sizes are scale * input) nor Resize-10's
        # "simple" nearest_mode (floor when enlarging, ceil when shrinking); sizes when the scales do not give them
        shape, name = self.g.shapes[ins[0]], n.outputs[0]
        scales, sizes = np.array(a["scales"], np.float32), np.array(a["sizes"], np.int64)
        coord, nearest = a["coord"], a["nearest"]
        if coord == "half_pixel_symmetric" and np.any(scales * np.array(shape, np.float32) != sizes):
            raise ValueError(f"cannot export resize {n.name!r}: half_pixel_symmetric needs opset 19")
        if nearest == "simple":
            changed = {bool(s < 1) for s in scales if s != 1}
            if len(changed) > 1:
                raise ValueError(f"cannot export resize {n.name!r}: it enlarges and shrinks with nearest_mode simple")
            nearest = "ceil" if changed == {True} else "floor"
        attrs = dict(mode=a["mode"], coordinate_transformation_mode="half_pixel" if coord == "half_pixel_symmetric"
                     else coord, nearest_mode=nearest)
        if np.array_equal((scales * np.array(shape, np.float32)).astype(np.int64), sizes):
            return self.add("Resize", [ins[0], "", self.const(name + "/scales", scales)], y, **attrs)
        if not np.array_equal(sizes.astype(np.float32) / np.array(shape, np.float32), scales):
            raise ValueError(f"cannot export resize {n.name!r}: its scales neither give its sizes nor are sizes / "
                             "input (keep_aspect_ratio_policy needs opset 18)")
        return self.add("Resize", [ins[0], "", "", self.const(name + "/sizes", sizes)], y, **attrs)

    def _recurrent(self, op_type, ins, a, y, **attrs):
        """An ONNX LSTM / GRU / RNN node whose output `a["result"]` (Y, Y_h or Y_c) is y; the others unnamed."""
        ins = ins[:4] + [""] + ins[4:]  # no sequence_lens
        while ins and not ins[-1]:
            ins.pop()
        outputs = [""] * ("y", "h", "c").index(a["result"]) + [y]
        self.nodes.append(self.helper.make_node(op_type, ins, outputs, name=y, direction=a["direction"],
                                                hidden_size=self.g.shapes[ins[2]][2], **attrs))
        return y

    def op_lstm(self, n, ins, a, y):  # x, w, r, b, h0, c0, p
        return self._recurrent("LSTM", ins, a, y)

    def op_gru(self, n, ins, a, y):  # x, w, r, b, h0
        return self._recurrent("GRU", ins, a, y, linear_before_reset=int(a["linear_before_reset"]))

    def op_rnn(self, n, ins, a, y):  # x, w, r, b, h0
        return self._recurrent("RNN", ins, a, y)

    def model(self):
        from onnx import TensorProto

        for name, value in self.g.constants.items():
            self.const(name, value)
        for n in self.g.nodes:
            self.node(n)
        vi = self.helper.make_tensor_value_info
        graph = self.helper.make_graph(
            self.nodes, self.g.name, [vi(n, TensorProto.FLOAT, self.g.shapes[n]) for n in self.g.inputs],
            [vi(n, TensorProto.FLOAT, self.g.shapes[n]) for n in self.g.outputs], list(self.inits.values()))
        return self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                      producer_name="deepx")


for _op in (*ARITHMETIC, *MASKS):
    setattr(_Exporter, "op_" + _op, _Exporter.binary)


def to_onnx(g: Graph):
    """The graph as an onnx.ModelProto."""
    return _Exporter(g).model()


def save_onnx(g: Graph, path):
    import onnx

    onnx.save(to_onnx(g), str(path))
