"""Graph -> ONNX (opset 13), so that a compressed model runs in ONNX Runtime too."""
import math

import numpy as np

from ..kernels.common import CLIP, SIGMOID, TANH
from .graph import Graph

OPSET = 13


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
        a, out = n.attrs, n.outputs[0]
        act = a.get("act")
        y = out + "/pre_act" if act is not None and act.kind else out
        ins = list(n.inputs)
        window = lambda: dict(strides=list(a["stride"]), pads=list(a["pads"]))  # noqa: E731
        one = dict(strides=[1, 1], pads=[0, 0, 0, 0])
        if n.op == "conv2d":
            self.add("Conv", [i for i in ins if i], y, dilations=list(a["dilation"]), group=a["groups"], **window())
        elif n.op == "conv2d_lowrank":
            t = self.add("Conv", ins[:2], out + "/rank", dilations=list(a["dilation"]), **window())
            self.add("Conv", [t, ins[2]] + [i for i in ins[3:] if i], y, **one)
        elif n.op == "conv2d_tucker2":
            t = self.add("Conv", ins[:2], out + "/in", **one)
            t = self.add("Conv", [t, ins[2]], out + "/core", dilations=list(a["dilation"]), **window())
            self.add("Conv", [t, ins[3]] + [i for i in ins[4:] if i], y, **one)
        elif n.op == "dense":
            self.add("Gemm", [i for i in ins if i], y, transB=1)
        elif n.op == "dense_lowrank":
            t = self.add("Gemm", ins[:2], out + "/rank", transB=1)
            self.add("Gemm", [t, ins[2]] + [i for i in ins[3:] if i], y, transB=1)
        elif n.op in ("maxpool2d", "avgpool2d"):
            extra = dict(dilations=list(a["dilation"])) if n.op == "maxpool2d" else dict(
                count_include_pad=int(a["count_include_pad"]))
            self.add("MaxPool" if n.op == "maxpool2d" else "AveragePool", ins, y, kernel_shape=list(a["kernel"]),
                     ceil_mode=int(a["ceil_mode"]), **window(), **extra)
        elif n.op == "global_avgpool":
            self.add("GlobalAveragePool", ins, y)
        elif n.op == "lrn":
            self.add("LRN", ins, y, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"])
        elif n.op == "batchnorm":
            self.add("BatchNormalization", ins, y, epsilon=a["eps"])
        elif n.op == "softmax":
            self.add("Softmax", ins, y, axis=a["axis"])
        elif n.op in ("add", "mul"):
            self.add(n.op.capitalize(), ins, y)
        elif n.op == "activation":
            y = ins[0]
        elif n.op == "concat":
            self.add("Concat", ins, y, axis=a["axis"])
        elif n.op == "transpose":
            self.add("Transpose", ins, y, perm=list(a["perm"]))
        elif n.op == "reshape":
            self.add("Reshape", [ins[0], self.const(out + "/shape", np.array(a["shape"], np.int64))], y)
        elif n.op == "pad":
            t, left, b, r = a["pads"]
            pads = self.const(out + "/pads", np.array([0, 0, t, left, 0, 0, b, r], np.int64))
            self.add("Pad", [ins[0], pads, self.const(out + "/value", np.float32(a["value"]))], y)
        else:
            raise ValueError(f"cannot export op {n.op!r}")
        if y != out:
            self.act(y, act, out)

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
