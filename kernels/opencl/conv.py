"""2-D convolution (NCHW) on the device: an implicit GEMM with local-memory tiles, a direct kernel for
depthwise and small channel counts, the low-rank variants as chains of those (one call each); the
transposed conv as a direct gather kernel."""
from ..common import BINARY, IDENTITY, conv_out_size
from .common import Call, c_strides, strided_args
from .device import WM, WN

ONE = ((1, 1), (0, 0, 0, 0), (1, 1))  # stride, pads, dilation of a 1x1 conv


def use_direct(Kg: int, Cg: int, R: int, S: int) -> bool:
    """The direct kernel when a GEMM tile would be mostly empty: short dot products or few outputs."""
    return Cg * R * S <= 32 or Kg <= 4


def gemm(call, x, w, b, y, dims, window, groups, images, strides, act):
    """Enqueue conv.cl's conv_gemm: dims (Kg, Cg, H, W, R, S, P, Q), window (sh, sw, pt, pl, dh, dw),
    strides (xcs, xhs, xns, ycs, yps, yns) as that kernel describes them."""
    L = call.dev.L
    Kg, P, Q = dims[0], dims[6], dims[7]
    size = (-(-P * Q // (L * WN)) * L, -(-Kg // (L * WM)) * L, images * groups)
    call.launch("conv", "conv_gemm", size, (L, L, 1), x, w, b, b is not None, y, *dims, *window, groups,
                *strides, act)


def _conv(call, x, w, b, y, stride, pads, dilation, groups, act):
    # x (N,C,H,W) * w (K,C/g,R,S) + b (K) -> y (N,K,P,Q), all on the device
    (N, C, H, W), (K, Cg, R, S), (P, Q) = x.shape, w.shape, y.shape[2:]
    window = (*stride, pads[0], pads[1], *dilation)
    if use_direct(K // groups, Cg, R, S):
        call.launch("conv", "conv_direct", (y.size,), (call.dev.group,), x, w, b, b is not None, y,
                    C, H, W, K, R, S, P, Q, *window, groups, y.size, act)
    else:
        gemm(call, x, w, b, y, (K // groups, Cg, H, W, R, S, P, Q), window, groups, N,
             (H * W, W, C * H * W, P * Q, 1, K * P * Q), act)


def _shape(x, K, R, S, stride, pads, dilation):
    P = conv_out_size(x.shape[2], R, stride[0], pads[0], pads[2], dilation[0])
    Q = conv_out_size(x.shape[3], S, stride[1], pads[1], pads[3], dilation[1])
    return (x.shape[0], K, P, Q)


def conv2d(x, w, b, z, stride, pads, dilation, groups, act, out=None):
    # act(x (N,C,H,W) * w (K,C/g,R,S) + b (K) [+ z (N,K,P,Q)]) -> y (N,K,P,Q): with z, the conv then an add kernel
    c = Call([x, z], out, _shape(x, w.shape[0], *w.shape[2:], stride, pads, dilation))
    _conv(c, c.act(x), c.const(w), c.const(b), c.y, stride, pads, dilation, groups, act if z is None else IDENTITY)
    if z is not None:
        n = c.y.size
        c.launch("elementwise", "binary", (n,), (c.dev.group,), c.y, c.act(z), c.y,
                 *strided_args(c.y.shape, c_strides(c.y.shape, c.y.shape), c_strides(z.shape, c.y.shape)),
                 BINARY.index("add"), n, act)
    return c.result()


def conv2d_lowrank(x, w1, w2, b, stride, pads, dilation, act, out=None):
    # x (N,C,H,W) * w1 (r,C,R,S) -> t (N,r,P,Q);  t * w2 (K,r,1,1) + b (K) -> y (N,K,P,Q)
    shape = _shape(x, w2.shape[0], *w1.shape[2:], stride, pads, dilation)
    c = Call(x, out, shape)
    t = c.temp((shape[0], w1.shape[0]) + shape[2:])
    _conv(c, c.act(x), c.const(w1), None, t, stride, pads, dilation, 1, IDENTITY)
    _conv(c, t, c.const(w2), c.const(b), c.y, *ONE, 1, act)
    return c.result()


def conv2d_tucker2(x, w_in, w_core, w_out, b, stride, pads, dilation, act, out=None):
    # x (N,C,H,W) * w_in (r1,C,1,1) -> t1 (N,r1,H,W);  * w_core (r2,r1,R,S) -> t2 (N,r2,P,Q);
    # t2 * w_out (K,r2,1,1) + b (K) -> y (N,K,P,Q)
    shape = _shape(x, w_out.shape[0], *w_core.shape[2:], stride, pads, dilation)
    c = Call(x, out, shape)
    t1 = c.temp((x.shape[0], w_in.shape[0]) + tuple(x.shape[2:]))
    t2 = c.temp((x.shape[0], w_core.shape[0]) + shape[2:])
    _conv(c, c.act(x), c.const(w_in), None, t1, *ONE, 1, IDENTITY)
    _conv(c, t1, c.const(w_core), None, t2, stride, pads, dilation, 1, IDENTITY)
    _conv(c, t2, c.const(w_out), c.const(b), c.y, *ONE, 1, act)
    return c.result()


def conv_transpose2d(x, w, b, stride, pads, output_padding, dilation, groups, act, out=None):
    # x (N,C,H,W) *ᵀ w (C,K/g,R,S) + b (K) -> y (N,K,P,Q)
    (N, C, H, W), (_, Kg, R, S) = x.shape, w.shape
    P, Q = (stride[i] * (x.shape[2 + i] - 1) + output_padding[i] + (w.shape[2 + i] - 1) * dilation[i] + 1
            - pads[i] - pads[i + 2] for i in range(2))
    c = Call(x, out, (N, Kg * groups, P, Q))
    c.launch("conv", "conv_transpose_direct", (c.y.size,), (c.dev.group,), c.act(x), c.const(w), c.const(b),
             b is not None, c.y, C, H, W, Kg * groups, R, S, P, Q, *stride, pads[0], pads[1], *dilation, groups,
             c.y.size, act)
    return c.result()
