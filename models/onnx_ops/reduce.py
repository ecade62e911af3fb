"""ONNX reductions and normalisations, and the matrix products (Gemm, MatMul)."""
import math

import numpy as np

from ...kernels.common import IDENTITY
from ..graph import ModelError

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()


class ReduceOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

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
        y = self.emit(node, "dense", [flat, self.weight(node, "w", self.value(b).T), ""], node.output[0] + "/2d",
                      act=IDENTITY)
        self.emit(node, "reshape", [y], node.output[0], shape=tuple(src[:-1]) + (self.shape(b)[1],))

    def _dense(self, node, w, c, beta):
        k = w.shape[0]
        bias, add = "", None
        if c:
            cv = self.value(c) * np.float32(beta) if self.is_const(c) else None
            if cv is not None and cv.size in (1, k) and cv.ndim <= 2 and (cv.ndim < 2 or cv.shape[0] == 1):
                bias = self.weight(node, "b", np.broadcast_to(cv.reshape(-1), (k,)))
            else:
                add = c if cv is None else self.weight(node, "c", cv)
        out = node.output[0] if add is None else node.output[0] + "/gemm"
        self.emit(node, "dense", [node.input[0], self.weight(node, "w", w), bias], out, act=IDENTITY)
        if add is not None:
            if beta != 1.0 and not self.is_const(c):
                raise ModelError("Gemm with beta != 1 on a runtime C")
            self.emit(node, "add", [out, add], node.output[0], act=IDENTITY)

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
