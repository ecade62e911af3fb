"""ONNX windowed operators: convolutions and pooling (1-D ones run as 2-D on a height of one, 3-D ones as 2-D ones
over views of the tensor)."""
import math

import numpy as np

from ...kernels.common import IDENTITY, conv_out_size
from ..graph import ModelError
from . import ints

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()


class ConvOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

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
        """ONNX pads / auto_pad -> (top, left, bottom, right); 3-D: (front, top, left, back, bottom, right)."""
        mode = a.get("auto_pad", "NOTSET")
        if mode == "NOTSET":
            pads = ints(a.get("pads", [0] * 2 * ndim))
            return tuple(pads) if ndim != 1 else (0, pads[0], 0, pads[1])
        if mode == "VALID":
            return (0, 0, 0, 0)
        begin, end = [], []
        for size, kk, s, d in zip(hw, k, stride, dil):
            total = max(0, (-(-size // s) - 1) * s + (kk - 1) * d + 1 - size)
            begin.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
            end.append(total - begin[-1])
        return tuple(begin + end)

    def op_Conv(self, node, a):
        """`conv2d`: 1-D, 2-D and 3-D, constant weight, groups, dilations, `auto_pad`; activations after a 1-D or 2-D
        one fused; a 3-D one runs over the (N,C*D,H,W) view with a weight Do*D/kd times as large."""
        x, w = node.input[0], node.input[1]
        if not self.is_const(w):
            raise ModelError("Conv with a runtime weight is not supported")
        wv = self.value(w)
        if wv.ndim == 5:
            return self._conv3d(node, a, x, wv)
        w2 = self.weight(node, "w2d", wv[:, :, None, :]) if wv.ndim == 3 else w
        self._windowed(node, a, "conv2d", x, wv.shape[2:], [w2, node.input[2] if len(node.input) > 2 else ""],
                       groups=int(a.get("group", 1)), act=IDENTITY)

    def op_ConvTranspose(self, node, a):
        """`conv_transpose2d`: 1-D and 2-D, constant weight, groups, dilations, `output_padding`, `output_shape`,
        `auto_pad`; activations after it fused."""
        x, w = node.input[0], node.input[1]
        if not self.is_const(w):
            raise ModelError("ConvTranspose with a runtime weight is not supported")
        src, wv = self.shape(x), self.value(w)
        if len(src) not in (3, 4) or wv.ndim != len(src):
            raise ModelError(f"only 1-D and 2-D ConvTranspose is supported, input has shape {src}")
        nd = len(src) - 2
        k, stride = list(wv.shape[2:]), ints(a.get("strides", [1] * nd))
        dil, outpad = ints(a.get("dilations", [1] * nd)), ints(a.get("output_padding", [0] * nd))
        begin, end = self._transpose_pads(a, src[2:], k, stride, dil, outpad)
        out = node.output[0]
        if nd == 1:  # (N,C,L) as (N,C,1,L)
            x = self.emit(node, "reshape", [x], out + "/2d", shape=tuple(src[:2]) + (1, src[2]))
            w = self.weight(node, "w2d", wv[:, :, None, :])
            stride, dil, outpad, begin, end = [1] + stride, [1] + dil, [0] + outpad, [0] + begin, [0] + end
            out += "/2d_out"
        y = self.emit(node, "conv_transpose2d", [x, w, node.input[2] if len(node.input) > 2 else ""], out,
                      stride=tuple(stride), pads=tuple(begin + end), output_padding=tuple(outpad),
                      dilation=tuple(dil), groups=int(a.get("group", 1)), act=IDENTITY)
        if nd == 1:
            shape = self.g.shapes[y]
            self.emit(node, "reshape", [y], node.output[0], shape=shape[:2] + shape[3:])

    @staticmethod
    def _transpose_pads(a, size, k, stride, dil, outpad):
        """ConvTranspose's pads, `output_shape` or `auto_pad` -> (begin, end) pads per axis (ONNX Runtime's rule:
        `auto_pad` never grows the output; an `output_shape` past the full output grows `outpad`, in place)."""
        mode, nd = a.get("auto_pad", "NOTSET"), len(size)
        if mode == "VALID":
            return [0] * nd, [0] * nd
        if "output_shape" not in a and mode == "NOTSET":
            pads = ints(a.get("pads", [0] * 2 * nd))
            return pads[:nd], pads[nd:]
        want = ints(a["output_shape"])[-nd:] if "output_shape" in a else [n * s for n, s in zip(size, stride)]
        begin, end = [], []
        for i in range(nd):
            total = stride[i] * (size[i] - 1) + outpad[i] + (k[i] - 1) * dil[i] + 1 - want[i]
            if "output_shape" in a:
                outpad[i] += max(0, -total)
            total = max(0, total)
            small = total // 2
            begin.append(small if mode == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        return begin, end

    def _conv3d(self, node, a, x, wv):
        """Conv over x (N,C,D,H,W) as one conv2d over its view (N,C*D,H,W): output channel k*Do + o, input channel
        c*D + d, weight w[k, c, j] where d = o*sd - pd + j*dd is tap j of output depth o's window, 0 elsewhere."""
        (N, C, D, H, W), (K, Cg, kd, R, S) = self.shape(x), wv.shape
        stride, dil = ints(a.get("strides", [1] * 3)), ints(a.get("dilations", [1] * 3))
        pads = self._pads(a, (D, H, W), wv.shape[2:], stride, dil, 3)
        Do = conv_out_size(D, kd, stride[0], pads[0], pads[3], dil[0])
        w2 = np.zeros((K, Do, Cg, D, R, S), np.float32)  # w2 (K*Do, C/g*D, R, S)
        for o in range(Do):
            for j in range(kd):
                if 0 <= o * stride[0] - pads[0] + j * dil[0] < D:
                    w2[:, o, :, o * stride[0] - pads[0] + j * dil[0]] = wv[:, :, j]
        b = node.input[2] if len(node.input) > 2 else ""
        if b and not self.is_const(b):
            raise ModelError("a 3-D Conv with a runtime bias is not supported")
        out = node.output[0]
        t = self.emit(node, "reshape", [x], out + "/2d", shape=(N, C * D, H, W))
        t = self.emit(node, "conv2d", [t, self.weight(node, "w2d", w2.reshape(K * Do, Cg * D, R, S)),
                                       self.weight(node, "b2d", np.repeat(self.value(b), Do)) if b else ""],
                      out + "/2d_out", stride=tuple(stride[1:]), pads=pads[1:3] + pads[4:], dilation=tuple(dil[1:]),
                      groups=int(a.get("group", 1)), act=IDENTITY)
        self.emit(node, "reshape", [t], out, shape=(N, K, Do) + self.g.shapes[t][2:])

    def _pool3d(self, node, a, op, k, ceil_mode, **extra):
        """A 3-D pool of x (N,C,D,H,W) as two 2-D ones (a box pool is separable, count_include_pad's divisor too):
        over (H,W) on the view (N,C*D,H,W), then over D on the view (N,C,D,P*Q)."""
        (N, C, D, H, W), out = self.shape(node.input[0]), node.output[0]
        stride, dil = ints(a.get("strides", [1] * 3)), ints(a.get("dilations", [1] * 3))
        pads = self._pads(a, (D, H, W), k, stride, dil, 3)
        dilated = op == "maxpool2d"
        t = self.emit(node, "reshape", [node.input[0]], out + "/hw_in", shape=(N, C * D, H, W))
        t = self.emit(node, op, [t], out + "/hw", kernel=tuple(k[1:]), stride=tuple(stride[1:]),
                      pads=pads[1:3] + pads[4:], ceil_mode=ceil_mode, **extra,
                      **({"dilation": tuple(dil[1:])} if dilated else {}))
        P, Q = self.g.shapes[t][2:]
        t = self.emit(node, "reshape", [t], out + "/d_in", shape=(N, C, D, P * Q))
        t = self.emit(node, op, [t], out + "/d", kernel=(k[0], 1), stride=(stride[0], 1), pads=(pads[0], 0, pads[3], 0),
                      ceil_mode=ceil_mode, **extra, **({"dilation": (dil[0], 1)} if dilated else {}))
        self.emit(node, "reshape", [t], out, shape=(N, C, self.g.shapes[t][2], P, Q))

    def _pool(self, node, a, op, **extra):
        x = node.input[0]
        k = ints(a["kernel_shape"])
        if len(k) == 3 and len(self.shape(x)) == 5:
            return self._pool3d(node, a, op, k, bool(a.get("ceil_mode", 0)), **extra)
        kernel = tuple(k) if len(k) == 2 else (1, *k)
        self._windowed(node, a, op, x, k, kernel=kernel, ceil_mode=bool(a.get("ceil_mode", 0)), **extra)

    def op_MaxPool(self, node, a):
        """`maxpool2d`: 1-D, 2-D and 3-D (two 2-D pools), `ceil_mode`, pads, dilations."""
        self._pool(node, a, "maxpool2d")

    def op_AveragePool(self, node, a):
        """`avgpool2d`: 1-D, 2-D and 3-D (two 2-D pools), `ceil_mode`, `count_include_pad`; no dilations."""
        if any(d != 1 for d in a.get("dilations", [])):
            raise ModelError("AveragePool with dilations is not supported")
        self._pool(node, a, "avgpool2d", count_include_pad=bool(a.get("count_include_pad", 0)))

    def _global(self, node, op):
        """A global pool of x (N,C,...) as op over its view (N,C,L,1), then viewed as (N,C,1,...)."""
        src, out = self.shape(node.input[0]), node.output[0]
        if len(src) < 3:
            raise ModelError(f"{node.op_type} needs an input of rank >= 3, got shape {src}")
        L = math.prod(src[2:])
        t = self.emit(node, "reshape", [node.input[0]], out + "/2d", shape=(*src[:2], L, 1))
        window = dict(kernel=(L, 1), stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), ceil_mode=False)
        t = self.emit(node, op, [t], out + "/2d_out", **(window if op == "maxpool2d" else {}))
        self.emit(node, "reshape", [t], out, shape=src[:2] + (1,) * (len(src) - 2))

    def op_GlobalAveragePool(self, node, a):
        """`global_avgpool`: any rank >= 3."""
        if len(self.shape(node.input[0])) != 4:
            return self._global(node, "global_avgpool")
        self.emit(node, "global_avgpool", [node.input[0]], node.output[0])

    def op_GlobalMaxPool(self, node, a):
        """`maxpool2d` (one window over the whole input): any rank >= 3."""
        self._global(node, "maxpool2d")
