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


def to_onnx(g: Graph):
    """The graph as an onnx.ModelProto."""
    return _Exporter(g).model()


def save_onnx(g: Graph, path):
    import onnx

    onnx.save(to_onnx(g), str(path))
