"""Pooling over NCHW: max, average (ceil_mode, padding, count_include_pad), global average."""
import numba
import numpy as np

from ..common import conv_out_size
from .common import jit, out_array


@jit(parallel=True)
def _maxpool(x, R, S, sh, sw, pt, pl, dh, dw, y):
    # x (N,C,H,W) -> y (N,C,P,Q): max over each window, padding never wins
    N, C, H, W = x.shape
    P, Q = y.shape[2], y.shape[3]
    for nc in numba.prange(N * C):
        xc = x[nc // C, nc % C]
        yc = y[nc // C, nc % C]
        for p in range(P):
            for q in range(Q):
                m = np.float32(-np.inf)
                for r in range(R):
                    ih = p * sh - pt + r * dh
                    if 0 <= ih < H:
                        for s in range(S):
                            iw = q * sw - pl + s * dw
                            if 0 <= iw < W and xc[ih, iw] > m:
                                m = xc[ih, iw]
                yc[p, q] = m


@jit(parallel=True)
def _avgpool(x, R, S, sh, sw, pt, pl, pb, pr, count_include_pad, y):
    # x (N,C,H,W) -> y (N,C,P,Q): window sum / cells counted (padding cells too if count_include_pad,
    # never those past the end padding)
    N, C, H, W = x.shape
    P, Q = y.shape[2], y.shape[3]
    lo_h, hi_h = (-pt, H + pb) if count_include_pad else (0, H)
    lo_w, hi_w = (-pl, W + pr) if count_include_pad else (0, W)
    for nc in numba.prange(N * C):
        xc = x[nc // C, nc % C]
        yc = y[nc // C, nc % C]
        for p in range(P):
            h0 = p * sh - pt
            h1, h2 = max(h0, 0), min(h0 + R, H)
            nh = min(h0 + R, hi_h) - max(h0, lo_h)
            for q in range(Q):
                w0 = q * sw - pl
                acc = np.float32(0.0)
                for ih in range(h1, h2):
                    for iw in range(max(w0, 0), min(w0 + S, W)):
                        acc += xc[ih, iw]
                yc[p, q] = acc / np.float32(nh * (min(w0 + S, hi_w) - max(w0, lo_w)))


@jit(parallel=True)
def _global_avgpool(x, y):
    # x (N,C,L) -> y (N*C)
    N, C, L = x.shape
    for nc in numba.prange(N * C):
        xc = x[nc // C, nc % C]
        acc = 0.0
        for i in range(L):
            acc += xc[i]
        y[nc] = acc / L


def _out(x, kernel, stride, pads, dilation, ceil_mode, out):
    P = conv_out_size(x.shape[2], kernel[0], stride[0], pads[0], pads[2], dilation[0], ceil_mode)
    Q = conv_out_size(x.shape[3], kernel[1], stride[1], pads[1], pads[3], dilation[1], ceil_mode)
    return out_array(out, x.shape[:2] + (P, Q))


def maxpool2d(x, kernel, stride, pads, dilation, ceil_mode, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q)
    y = _out(x, kernel, stride, pads, dilation, ceil_mode, out)
    _maxpool(x, *kernel, *stride, pads[0], pads[1], *dilation, y)
    return y


def avgpool2d(x, kernel, stride, pads, ceil_mode, count_include_pad, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q)
    y = _out(x, kernel, stride, pads, (1, 1), ceil_mode, out)
    _avgpool(x, *kernel, *stride, *pads, bool(count_include_pad), y)
    return y


def global_avgpool(x, out=None):
    # x (N,C,H,W) -> y (N,C,1,1)
    y = out_array(out, x.shape[:2] + (1, 1))
    _global_avgpool(x.reshape(x.shape[0], x.shape[1], -1), y.reshape(-1))
    return y
