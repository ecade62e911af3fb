"""ONNX data-movement operators: concatenation, transposition, padding, gathering."""
import numpy as np

from ..graph import ModelError
from . import ints

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()


class LayoutOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

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
        """`pad`: constant mode, H and W of NCHW tensors, pads >= 0."""
        pads = ints(a["pads"] if self.opset < 11 else self.value(node.input[1]))
        mode = a.get("mode", "constant")
        value = a.get("value", 0.0) if self.opset < 11 else (
            float(self.value(node.input[2])) if len(node.input) > 2 and node.input[2] else 0.0)
        rank = len(self.shape(node.input[0]))
        if mode != "constant" or rank != 4 or any(pads[i] or pads[i + rank] for i in (0, 1)) or min(pads) < 0:
            raise ModelError(f"Pad is supported in constant mode on the H and W "
                             f"axes of NCHW tensors, got mode {mode!r}, pads {pads}")
        self.emit(node, "pad", [node.input[0]], node.output[0], pads=(pads[2], pads[3], pads[6], pads[7]),
                  value=value)

    def op_Gather(self, node, a):
        """(folded): constant inputs only."""
        if self.runtime(node):
            raise ModelError("Gather on a runtime tensor is not supported")
        self.fold(node, np.take(self.value(node.input[0]), self.value(node.input[1]), axis=a.get("axis", 0)))
