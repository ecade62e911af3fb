"""Pooling over NCHW: max, average (ceil_mode, padding, count_include_pad), global average."""
import numpy as np

from ..common import conv_out_size, emit
from ..spec import OpSpec, check_rank, fail, parse_pads, parse_pair, window_out


def _windows(x, kernel, stride, pads, dilation, ceil_mode, fill):
    # x (N,C,H,W) -> padded xp, output (P,Q), and a function giving window (p,q) of xp
    (H, W), (R, S), (sh, sw), (pt, pl, pb, pr), (dh, dw) = x.shape[2:], kernel, stride, pads, dilation
    P = conv_out_size(H, R, sh, pt, pb, dh, ceil_mode)
    Q = conv_out_size(W, S, sw, pl, pr, dw, ceil_mode)
    # extra end padding so the last (ceil_mode) window fits
    eb = max(0, (P - 1) * sh + (R - 1) * dh + 1 - (H + pt + pb))
    er = max(0, (Q - 1) * sw + (S - 1) * dw + 1 - (W + pl + pr))
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb + eb), (pl, pr + er)), constant_values=fill)

    def window(p, q):
        return xp[:, :, p * sh:p * sh + (R - 1) * dh + 1:dh, q * sw:q * sw + (S - 1) * dw + 1:dw]

    return P, Q, window


def maxpool2d(x, kernel, stride, pads, dilation, ceil_mode, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q): max over each window, padding never wins
    P, Q, window = _windows(x, kernel, stride, pads, dilation, ceil_mode, -np.inf)
    y = np.empty(x.shape[:2] + (P, Q))
    for p in range(P):
        for q in range(Q):
            y[:, :, p, q] = window(p, q).max(axis=(2, 3))
    return emit(y, out)


def avgpool2d(x, kernel, stride, pads, ceil_mode, count_include_pad, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q): mean over each window; the divisor counts padding cells when
    # count_include_pad (but never cells past the end padding, which ceil_mode may reach)
    (H, W), (R, S), (sh, sw), (pt, pl, pb, pr) = x.shape[2:], kernel, stride, pads
    P, Q, window = _windows(x, kernel, stride, pads, (1, 1), ceil_mode, 0.0)
    y = np.empty(x.shape[:2] + (P, Q))
    for p in range(P):
        for q in range(Q):
            h0, w0 = p * sh - pt, q * sw - pl
            lo_h, hi_h = (-pt, H + pb) if count_include_pad else (0, H)
            lo_w, hi_w = (-pl, W + pr) if count_include_pad else (0, W)
            count = (min(h0 + R, hi_h) - max(h0, lo_h)) * (min(w0 + S, hi_w) - max(w0, lo_w))
            y[:, :, p, q] = window(p, q).sum(axis=(2, 3)) / count
    return emit(y, out)


def global_avgpool(x, out=None):
    # x (N,C,H,W) -> y (N,C,1,1)
    return emit(x.astype(np.float64).mean(axis=(2, 3), keepdims=True), out)


def _pool_attrs(op, t, a, dilation=True):
    # x = t[0] (N,C,H,W) -> canonical window attrs, y shape (N,C,P,Q)
    (x,) = t
    check_rank(op, t, "x", x, 4)
    kernel = parse_pair(op, t, "kernel", a.get("kernel"), None)
    stride = parse_pair(op, t, "stride", a.get("stride"), 1)
    pads = parse_pads(op, t, a.get("pads"))
    dil = parse_pair(op, t, "dilation", a.get("dilation"), 1) if dilation else (1, 1)
    ceil_mode = bool(a.get("ceil_mode", False))
    if any(p >= kernel[i % 2] for i, p in enumerate(pads)):
        fail(op, t, f"padding {pads} must be smaller than the kernel {kernel}")
    P, Q = window_out(op, t, x.shape[2:], kernel, stride, pads, dil, ceil_mode)
    attrs = dict(kernel=kernel, stride=stride, pads=pads, ceil_mode=ceil_mode)
    if dilation:
        attrs["dilation"] = dil
    return attrs, x.shape[:2] + (P, Q)


def _check_maxpool2d(op, t, a):
    return _pool_attrs(op, t, a)


def _check_avgpool2d(op, t, a):
    attrs, shape = _pool_attrs(op, t, a, dilation=False)
    return dict(attrs, count_include_pad=bool(a.get("count_include_pad", False))), shape


def _check_global_avgpool(op, t, a):
    check_rank(op, t, "x", t[0], 4)
    return {}, t[0].shape[:2] + (1, 1)


ORDER = 2  # the family's place in kernels.OPS
SPECS = (
    OpSpec("maxpool2d", ("x",), _check_maxpool2d),
    OpSpec("avgpool2d", ("x",), _check_avgpool2d),
    OpSpec("global_avgpool", ("x",), _check_global_avgpool),
)
