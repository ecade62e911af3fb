"""2-D convolution (NCHW), full and low-rank (channel decomposition, Tucker-2)."""
import numpy as np

from ..common import conv_out_size, emit
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


def _finish(y, b, act, out):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return emit(apply_act(y, act), out)


def conv2d(x, w, b, stride, pads, dilation, groups, act, out=None):
    # x (N,C,H,W) * w (K,C/g,R,S) + b (K) -> y (N,K,P,Q)
    return _finish(_conv(x, w, stride, pads, dilation, groups), b, act, out)


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
