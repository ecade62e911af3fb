"""Graph -> ONNX (opset 13), so that a compressed model runs in ONNX Runtime too."""
import math

import numpy as np

from ..kernels.common import CLIP, SIGMOID, TANH
from .graph import Graph

OPSET = 13
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
        if act.kind in (SIGMOID, TANH):
            return self.add("Sigmoid" if act.kind == SIGMOID else "Tanh", [y], output)
        return self.add("Identity", [y], output)

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

    def op_concat(self, n, ins, a, y):
        return self.add("Concat", ins, y, axis=a["axis"])

    def op_transpose(self, n, ins, a, y):
        return self.add("Transpose", ins, y, perm=list(a["perm"]))

    def op_reshape(self, n, ins, a, y):
        return self.add("Reshape", [ins[0], self.const(n.outputs[0] + "/shape", np.array(a["shape"], np.int64))], y)

    def op_pad(self, n, ins, a, y):
        t, left, b, r = a["pads"]
        pads = self.const(n.outputs[0] + "/pads", np.array([0, 0, t, left, 0, 0, b, r], np.int64))
        return self.add("Pad", [ins[0], pads, self.const(n.outputs[0] + "/value", np.float32(a["value"]))], y)

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


def to_onnx(g: Graph):
    """The graph as an onnx.ModelProto."""
    return _Exporter(g).model()


def save_onnx(g: Graph, path):
    import onnx

    onnx.save(to_onnx(g), str(path))
