"""2-D convolution (NCHW), full and low-rank (channel decomposition, Tucker-2), and transposed."""
import numpy as np

from ..common import conv_out_size, emit
from ..spec import OpSpec, check_bias, check_rank, fail, parse_act, parse_pads, parse_pair, window_out
from .elementwise import apply_act


def _conv(x, w, stride, pads, dilation, groups):
    # x (N,C,H,W) * w (K,C/g,R,S) -> y (N,K,P,Q), float64, no bias
    (N, _, H, W), (K, Cg, R, S) = x.shape, w.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = stride, pads, dilation
    P = conv_out_size(H, R, sh, pt, pb, dh)
    Q = conv_out_size(W, S, sw, pl, pr, dw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((N, K, P, Q))
    Kg = K // groups
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * Kg:(g + 1) * Kg].astype(np.float64)
        for r in range(R):
            for s in range(S):
                patch = xg[:, :, r * dh:r * dh + sh * (P - 1) + 1:sh, s * dw:s * dw + sw * (Q - 1) + 1:sw]
                y[:, g * Kg:(g + 1) * Kg] += np.einsum("nchw,kc->nkhw", patch, wg[:, :, r, s])
    return y


def _finish(y, b, act, out, z=None):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    if z is not None:
        y += z
    return emit(apply_act(y, act), out)


def conv2d(x, w, b, z, stride, pads, dilation, groups, act, out=None):
    # act(x (N,C,H,W) * w (K,C/g,R,S) + b (K) [+ z (N,K,P,Q), a residual]) -> y (N,K,P,Q)
    return _finish(_conv(x, w, stride, pads, dilation, groups), b, act, out, z)


def conv2d_lowrank(x, w1, w2, b, stride, pads, dilation, act, out=None):
    # channel decomposition: x * w1 (r,C,R,S) -> t (N,r,P,Q);  t * w2 (K,r,1,1) + b -> y (N,K,P,Q)
    t = _conv(x, w1, stride, pads, dilation, 1)
    return _finish(_conv(t, w2, (1, 1), (0, 0, 0, 0), (1, 1), 1), b, act, out)


def conv2d_tucker2(x, w_in, w_core, w_out, b, stride, pads, dilation, act, out=None):
    # Tucker-2: x * w_in (r1,C,1,1) -> (N,r1,H,W);  * w_core (r2,r1,R,S) -> (N,r2,P,Q);
    #           * w_out (K,r2,1,1) + b -> y (N,K,P,Q)
    one = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    t = _conv(x, w_in, *one)
    t = _conv(t, w_core, stride, pads, dilation, 1)
    return _finish(_conv(t, w_out, *one), b, act, out)


def transpose_out_size(size, k, stride, pad_begin, pad_end, dilation, output_padding):
    """Output length of a transposed conv (ONNX ConvTranspose's rule)."""
    return stride * (size - 1) + output_padding + (k - 1) * dilation + 1 - pad_begin - pad_end


def conv_transpose2d(x, w, b, stride, pads, output_padding, dilation, groups, act, out=None):
    # x (N,C,H,W) *ᵀ w (C,K/g,R,S) + b (K) -> y (N,K,P,Q): each input pixel scatters w·x over its window
    (N, C, H, W), (_, Kg, R, S) = x.shape, w.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = stride, pads, dilation
    Hf = sh * (H - 1) + (R - 1) * dh + 1 + output_padding[0]
    Wf = sw * (W - 1) + (S - 1) * dw + 1 + output_padding[1]
    full = np.zeros((N, Kg * groups, Hf, Wf))
    Cg = C // groups
    for g in range(groups):
        xg = x[:, g * Cg:(g + 1) * Cg].astype(np.float64)
        wg = w[g * Cg:(g + 1) * Cg].astype(np.float64)
        for r in range(R):
            for s in range(S):
                full[:, g * Kg:(g + 1) * Kg, r * dh:r * dh + sh * (H - 1) + 1:sh, s * dw:s * dw + sw * (W - 1) + 1:sw] \
                    += np.einsum("nchw,ck->nkhw", xg, wg[:, :, r, s])
    return _finish(full[:, :, pt:Hf - pb, pl:Wf - pr], b, act, out)


def _conv_attrs(op, t, kernel, a):
    # canonical stride, pads, dilation of a conv window `kernel` (R,S) over x = t[0], and its output (P,Q)
    stride = parse_pair(op, t, "stride", a.get("stride"), 1)
    pads = parse_pads(op, t, a.get("pads"))
    dilation = parse_pair(op, t, "dilation", a.get("dilation"), 1)
    pq = window_out(op, t, t[0].shape[2:], kernel, stride, pads, dilation)
    return dict(stride=stride, pads=pads, dilation=dilation), pq


def _pointwise(op, t, name, w, cin):
    check_rank(op, t, name, w, 4)
    if w.shape[2:] != (1, 1) or w.shape[1] != cin:
        fail(op, t, f"{name} must be a 1x1 conv weight ({'K'},{cin},1,1), got {w.shape}")


def _check_conv2d(op, t, a):
    x, w, b, z = t
    check_rank(op, t, "x", x, 4)
    check_rank(op, t, "w", w, 4)
    groups = int(a.get("groups", 1))
    C, K = x.shape[1], w.shape[0]
    if groups < 1 or C % groups or K % groups:
        fail(op, t, f"groups={groups} must divide input channels {C} and output channels {K}")
    if w.shape[1] * groups != C:
        fail(op, t, f"w expects {w.shape[1] * groups} input channels, x has {C}")
    check_bias(op, t, b, K)
    attrs, (P, Q) = _conv_attrs(op, t, w.shape[2:], a)
    if z is not None and z.shape != (x.shape[0], K, P, Q):
        fail(op, t, f"residual z must have the output's shape {(x.shape[0], K, P, Q)}, got {z.shape}")
    return dict(attrs, groups=groups, act=parse_act(op, t, a.get("act"))), (x.shape[0], K, P, Q)


def _check_conv2d_lowrank(op, t, a):
    x, w1, w2, b = t
    check_rank(op, t, "x", x, 4)
    check_rank(op, t, "w1", w1, 4)
    if w1.shape[1] != x.shape[1]:
        fail(op, t, f"w1 expects {w1.shape[1]} input channels, x has {x.shape[1]}")
    _pointwise(op, t, "w2", w2, w1.shape[0])
    check_bias(op, t, b, w2.shape[0])
    attrs, (P, Q) = _conv_attrs(op, t, w1.shape[2:], a)
    return dict(attrs, act=parse_act(op, t, a.get("act"))), (x.shape[0], w2.shape[0], P, Q)


def _check_conv2d_tucker2(op, t, a):
    x, w_in, w_core, w_out, b = t
    check_rank(op, t, "x", x, 4)
    _pointwise(op, t, "w_in", w_in, x.shape[1])
    check_rank(op, t, "w_core", w_core, 4)
    if w_core.shape[1] != w_in.shape[0]:
        fail(op, t, f"w_core expects {w_core.shape[1]} input channels, w_in gives {w_in.shape[0]}")
    _pointwise(op, t, "w_out", w_out, w_core.shape[0])
    check_bias(op, t, b, w_out.shape[0])
    attrs, (P, Q) = _conv_attrs(op, t, w_core.shape[2:], a)
    return dict(attrs, act=parse_act(op, t, a.get("act"))), (x.shape[0], w_out.shape[0], P, Q)


def _check_conv_transpose2d(op, t, a):
    x, w, b = t
    check_rank(op, t, "x", x, 4)
    check_rank(op, t, "w", w, 4)
    groups = int(a.get("groups", 1))
    C, K = x.shape[1], w.shape[1] * groups
    if groups < 1 or C % groups:
        fail(op, t, f"groups={groups} must divide input channels {C}")
    if w.shape[0] != C:
        fail(op, t, f"w (C,K/groups,R,S) expects {w.shape[0]} input channels, x has {C}")
    check_bias(op, t, b, K)
    stride = parse_pair(op, t, "stride", a.get("stride"), 1)
    pads = parse_pads(op, t, a.get("pads"))
    output_padding = parse_pair(op, t, "output_padding", a.get("output_padding"), 0)
    dilation = parse_pair(op, t, "dilation", a.get("dilation"), 1)
    if min(stride) < 1 or min(dilation) < 1 or min(output_padding) < 0:
        fail(op, t, f"stride {stride} and dilation {dilation} must be >= 1, output_padding {output_padding} >= 0")
    pq = tuple(transpose_out_size(x.shape[2 + i], w.shape[2 + i], stride[i], pads[i], pads[i + 2], dilation[i],
                                  output_padding[i]) for i in range(2))
    if min(pq) < 1:
        fail(op, t, f"padding {pads} leaves no output")
    attrs = dict(stride=stride, pads=pads, output_padding=output_padding, dilation=dilation, groups=groups)
    return dict(attrs, act=parse_act(op, t, a.get("act"))), (x.shape[0], K) + pq


def _conv2d_flops(shapes, out, attrs):
    # w (K,C/g,R,S) -> y (N,K,P,Q)
    return 2.0 * float(np.prod(out)) * float(np.prod(shapes[1][1:]))


def _conv2d_lowrank_flops(shapes, out, attrs):
    # w1 (r,C,R,S) w2 (K,r,1,1) -> y (N,K,P,Q)
    w1, w2 = shapes[1:3]
    return 2.0 * float(out[0] * out[2] * out[3]) * w1[0] * (float(np.prod(w1[1:])) + w2[0])


def _conv2d_tucker2_flops(shapes, out, attrs):
    # x (N,C,H,W) w_in (r1,C,1,1) w_core (r2,r1,R,S) w_out (K,r2,1,1) -> y (N,K,P,Q)
    x, w_in, w_core, w_out = shapes[:4]
    pixels = float(out[0] * out[2] * out[3])
    return 2.0 * (float(np.prod(x)) * w_in[0] + pixels * w_core[0] * (float(np.prod(w_core[1:])) + w_out[0]))


def _conv_transpose2d_flops(shapes, out, attrs):
    # x (N,C,H,W) w (C,K/g,R,S): each input element meets K/g*R*S weights
    return 2.0 * float(np.prod(shapes[0])) * float(np.prod(shapes[1][1:]))


ORDER = 1  # the family's place in kernels.OPS
SPECS = (
    OpSpec("conv2d", ("x", "w", "b?", "z?"), _check_conv2d, _conv2d_flops, channel_inputs=(1, 2), residual=True),
    OpSpec("conv2d_lowrank", ("x", "w1", "w2", "b?"), _check_conv2d_lowrank, _conv2d_lowrank_flops,
           channel_inputs=(2, 3)),
    OpSpec("conv2d_tucker2", ("x", "w_in", "w_core", "w_out", "b?"), _check_conv2d_tucker2, _conv2d_tucker2_flops,
           channel_inputs=(3, 4)),
    # w holds its output channels on axis 1: not split by them
    OpSpec("conv_transpose2d", ("x", "w", "b?"), _check_conv_transpose2d, _conv_transpose2d_flops),
)
