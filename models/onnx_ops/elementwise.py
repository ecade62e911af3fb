"""ONNX elementwise operators: arithmetic with broadcasting, activations (fused into producers by models.passes)."""
import math

import numpy as np

from ...kernels.common import CLIP, IDENTITY, NAMED_ACTS, Act
from ..graph import ModelError

ACTIVATIONS = {"Relu": NAMED_ACTS["relu"], "Sigmoid": NAMED_ACTS["sigmoid"], "Tanh": NAMED_ACTS["tanh"]}

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()


class ElementwiseOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

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
