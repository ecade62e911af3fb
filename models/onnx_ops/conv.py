"""ONNX windowed operators: convolutions and pooling (1-D ones run as 2-D on a height of one)."""
from ...kernels.common import IDENTITY
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
        """ONNX pads / auto_pad -> (top, left, bottom, right)."""
        mode = a.get("auto_pad", "NOTSET")
        if mode == "NOTSET":
            pads = ints(a.get("pads", [0] * 2 * ndim))
            return tuple(pads) if ndim == 2 else (0, pads[0], 0, pads[1])
        if mode == "VALID":
            return (0, 0, 0, 0)
        begin, end = [], []
        for size, kk, s, d in zip(hw, k, stride, dil):
            total = max(0, (-(-size // s) - 1) * s + (kk - 1) * d + 1 - size)
            begin.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
            end.append(total - begin[-1])
        return tuple(begin + end)

    def op_Conv(self, node, a):
        """`conv2d`: 1-D and 2-D, constant weight, groups, dilations, `auto_pad`; activations after it fused."""
        x, w = node.input[0], node.input[1]
        if not self.is_const(w):
            raise ModelError("Conv with a runtime weight is not supported")
        wv = self.value(w)
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

    def _pool(self, node, a, op, **extra):
        x = node.input[0]
        k = ints(a["kernel_shape"])
        kernel = tuple(k) if len(k) == 2 else (1, *k)
        self._windowed(node, a, op, x, k, kernel=kernel, ceil_mode=bool(a.get("ceil_mode", 0)), **extra)

    def op_MaxPool(self, node, a):
        """`maxpool2d`: 1-D and 2-D, `ceil_mode`, pads, dilations."""
        self._pool(node, a, "maxpool2d")

    def op_AveragePool(self, node, a):
        """`avgpool2d`: 1-D and 2-D, `ceil_mode`, `count_include_pad`; no dilations."""
        if any(d != 1 for d in a.get("dilations", [])):
            raise ModelError("AveragePool with dilations is not supported")
        self._pool(node, a, "avgpool2d", count_include_pad=bool(a.get("count_include_pad", 0)))

    def op_GlobalAveragePool(self, node, a):
        """`global_avgpool`."""
        self.emit(node, "global_avgpool", [node.input[0]], node.output[0])
