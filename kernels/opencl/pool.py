"""Pooling over NCHW on the device: max, average (ceil_mode, padding, count_include_pad), global average."""
from ..common import conv_out_size
from .common import Call


def _out(x, kernel, stride, pads, dilation, ceil_mode):
    (H, W), (R, S), (sh, sw), (pt, pl, pb, pr), (dh, dw) = x.shape[2:], kernel, stride, pads, dilation
    P, Q = conv_out_size(H, R, sh, pt, pb, dh, ceil_mode), conv_out_size(W, S, sw, pl, pr, dw, ceil_mode)
    return (*x.shape[:2], P, Q)


def maxpool2d(x, kernel, stride, pads, dilation, ceil_mode, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q)
    c = Call(x, out, _out(x, kernel, stride, pads, dilation, ceil_mode))
    n = c.y.size
    c.launch("pool", "maxpool", (n,), (c.dev.group,), c.act(x), c.y, *x.shape[2:], *c.y.shape[2:], *kernel,
             *stride, *pads[:2], *dilation, n)
    return c.result()


def avgpool2d(x, kernel, stride, pads, ceil_mode, count_include_pad, out=None):
    # x (N,C,H,W) -> y (N,C,P,Q)
    c = Call(x, out, _out(x, kernel, stride, pads, (1, 1), ceil_mode))
    n = c.y.size
    c.launch("pool", "avgpool", (n,), (c.dev.group,), c.act(x), c.y, *x.shape[2:], *c.y.shape[2:], *kernel,
             *stride, *pads, count_include_pad, n)
    return c.result()


def global_avgpool(x, out=None):
    # x (N,C,H,W) -> y (N,C,1,1)
    c = Call(x, out, (*x.shape[:2], 1, 1))
    planes = x.shape[0] * x.shape[1]
    c.launch("pool", "global_avgpool", (planes,), (c.dev.group,), c.act(x), c.y, x.shape[2] * x.shape[3], planes)
    return c.result()
