"""2-D convolution (NCHW): tiled im2col + sgemm, direct depthwise loops, low-rank chains of GEMMs;
transposed convolution as GEMM + col2im over tiles of input rows."""
import numba
import numpy as np

from ... import config
from ..common import IDENTITY, conv_out_size
from .common import NO_BIAS, act1, act_args, bias_arg, finish_rows, jit, out_array


@jit()
def _valid_cols(off, stride, W, Q):
    # output columns q in [lo, hi) whose input column q*stride + off lies inside [0, W)
    lo = 0 if off >= 0 else min(Q, (-off + stride - 1) // stride)
    hi = 0 if W - 1 - off < 0 else min(Q, (W - 1 - off) // stride + 1)
    return lo, max(lo, hi)


@jit(parallel=True)
def _im2col(x, R, S, sh, sw, pt, pl, dh, dw, p0, Q, col):
    # x (C,H,W), output rows p0.. -> col (C*R*S, rows*Q), zero where the window hits padding
    C, H, W = x.shape
    rows = col.shape[1] // Q
    for i in numba.prange(C * R * S):
        c, r, s = i // (R * S), (i // S) % R, i % S
        off = s * dw - pl
        lo, hi = _valid_cols(off, sw, W, Q)
        for pi in range(rows):
            ih = (p0 + pi) * sh - pt + r * dh
            base = pi * Q
            if ih < 0 or ih >= H:
                col[i, base:base + Q] = 0.0
                continue
            col[i, base:base + lo] = 0.0
            for q in range(lo, hi):
                col[i, base + q] = x[c, ih, q * sw + off]
            col[i, base + hi:base + Q] = 0.0


@jit()
def _conv_image(x, w2, b, k0, R, S, sh, sw, pt, pl, dh, dw, kind, lo, hi, tile, y):
    # x (C,H,W) * w2 (K,C*R*S) + b[k0:k0+K] -> act -> y (K,P,Q)
    C, H, W = x.shape
    K, P, Q = y.shape
    CRS = w2.shape[1]
    y2 = y.reshape(K, P * Q)
    if R == 1 and S == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0 and P == H and Q == W:
        np.dot(w2, x.reshape(C, H * W), y2)
        finish_rows(y2, b, k0, kind, lo, hi, y2)
        return
    rows = min(P, max(1, tile // Q))
    col = np.empty(CRS * rows * Q, np.float32)
    if rows == P:
        c2 = col.reshape(CRS, P * Q)
        _im2col(x, R, S, sh, sw, pt, pl, dh, dw, 0, Q, c2)
        np.dot(w2, c2, y2)
        finish_rows(y2, b, k0, kind, lo, hi, y2)
        return
    acc = np.empty(K * rows * Q, np.float32)
    for p0 in range(0, P, rows):
        n = min(rows, P - p0) * Q
        c2 = col[:CRS * n].reshape(CRS, n)
        a2 = acc[:K * n].reshape(K, n)
        _im2col(x, R, S, sh, sw, pt, pl, dh, dw, p0, Q, c2)
        np.dot(w2, c2, a2)
        finish_rows(a2, b, k0, kind, lo, hi, y2[:, p0 * Q:p0 * Q + n])


@jit()
def _conv2d(x, w2, b, R, S, sh, sw, pt, pl, dh, dw, groups, kind, lo, hi, tile, y):
    # x (N,C,H,W) * w2 (K,C/g*R*S) + b -> y (N,K,P,Q), one GEMM chain per (image, group)
    Cg, Kg = x.shape[1] // groups, y.shape[1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            _conv_image(x[n, g * Cg:(g + 1) * Cg], w2[g * Kg:(g + 1) * Kg], b, g * Kg, R, S, sh, sw, pt, pl,
                        dh, dw, kind, lo, hi, tile, y[n, g * Kg:(g + 1) * Kg])


@jit(parallel=True)
def _depthwise(x, w, b, sh, sw, pt, pl, pb, pr, dh, dw, kind, lo, hi, y):
    # x (N,C,H,W) * w (K,1,R,S), K = C*m, output channel k reads input channel k // m -> y (N,K,P,Q);
    # each channel is copied into a zero-padded plane so the inner loops need no bounds
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = y.shape[2], y.shape[3]
    m = K // C
    has_bias = b.shape[0] > 0
    for nk in numba.prange(N * K):
        n, k = nk // K, nk % K
        xp = np.zeros((H + pt + pb, W + pl + pr), np.float32)
        xp[pt:pt + H, pl:pl + W] = x[n, k // m]
        wk = w[k, 0]
        bk = b[k] if has_bias else np.float32(0.0)
        for p in range(P):
            yrow = y[n, k, p]
            if R == 3 and S == 3:
                x0, x1, x2 = xp[p * sh], xp[p * sh + dh], xp[p * sh + 2 * dh]
                for q in range(Q):
                    i = q * sw
                    yrow[q] = act1(bk + wk[0, 0] * x0[i] + wk[0, 1] * x0[i + dw] + wk[0, 2] * x0[i + 2 * dw]
                                   + wk[1, 0] * x1[i] + wk[1, 1] * x1[i + dw] + wk[1, 2] * x1[i + 2 * dw]
                                   + wk[2, 0] * x2[i] + wk[2, 1] * x2[i + dw] + wk[2, 2] * x2[i + 2 * dw],
                                   kind, lo, hi)
                continue
            yrow[:] = bk
            for r in range(R):
                xrow = xp[p * sh + r * dh]
                for s in range(S):
                    wv, off = wk[r, s], s * dw
                    for q in range(Q):
                        yrow[q] += wv * xrow[q * sw + off]
            for q in range(Q):
                yrow[q] = act1(yrow[q], kind, lo, hi)


@jit()
def _conv2d_lowrank(x, w1, w2, b, R, S, sh, sw, pt, pl, dh, dw, kind, lo, hi, tile, y):
    # x (N,C,H,W) * w1 (r,C*R*S) -> t (r,P,Q);  t * w2 (K,r) + b -> y (N,K,P,Q)
    t = np.empty((w1.shape[0], y.shape[2], y.shape[3]), np.float32)
    for n in range(x.shape[0]):
        _conv_image(x[n], w1, NO_BIAS, 0, R, S, sh, sw, pt, pl, dh, dw, 0, 0.0, 0.0, tile, t)
        _conv_image(t, w2, b, 0, 1, 1, 1, 1, 0, 0, 1, 1, kind, lo, hi, tile, y[n])


@jit()
def _conv2d_tucker2(x, w_in, w_core, w_out, b, R, S, sh, sw, pt, pl, dh, dw, kind, lo, hi, tile, y):
    # x (N,C,H,W) * w_in (r1,C) -> t1 (r1,H,W);  * w_core (r2,r1*R*S) -> t2 (r2,P,Q);
    # t2 * w_out (K,r2) + b -> y (N,K,P,Q)
    t1 = np.empty((w_in.shape[0], x.shape[2], x.shape[3]), np.float32)
    t2 = np.empty((w_core.shape[0], y.shape[2], y.shape[3]), np.float32)
    for n in range(x.shape[0]):
        _conv_image(x[n], w_in, NO_BIAS, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0.0, 0.0, tile, t1)
        _conv_image(t1, w_core, NO_BIAS, 0, R, S, sh, sw, pt, pl, dh, dw, 0, 0.0, 0.0, tile, t2)
        _conv_image(t2, w_out, b, 0, 1, 1, 1, 1, 0, 0, 1, 1, kind, lo, hi, tile, y[n])


COL_FLOATS = 1 << 18  # a transposed conv's col tile (K/g*R*S, rows*W): about an L2 cache


@jit(parallel=True)
def _col2im(col, R, S, sh, sw, pt, pl, dh, dw, h0, W, y):
    # col (K*R*S, rows*W) of input rows h0.. -> y (K,P,Q) += each column's window, scattered
    K, P, Q = y.shape
    rows = col.shape[1] // W
    for k in numba.prange(K):
        for r in range(R):
            for s in range(S):
                c = col[(k * R + r) * S + s]
                off = s * dw - pl
                lo = 0 if off >= 0 else min(W, (-off + sw - 1) // sw)  # input columns landing in [0, Q)
                hi = 0 if Q - 1 - off < 0 else min(W, (Q - 1 - off) // sw + 1)
                for i in range(rows):
                    oh = (h0 + i) * sh - pt + r * dh
                    if oh < 0 or oh >= P:
                        continue
                    yrow = y[k, oh]
                    for iw in range(lo, hi):
                        yrow[iw * sw + off] += c[i * W + iw]


@jit(parallel=True)
def _scatter_planes(x, w, b, sh, sw, pt, pl, dh, dw, y):
    # one input channel per group: x (N,C,H,W), w (C,K/C,R,S), b (K) or empty -> y (N,K,P,Q), each output
    # plane (n, k) the sum of input plane k // (K/C)'s pixels times w's window, scattered
    N, C, H, W = x.shape
    K, P, Q = y.shape[1], y.shape[2], y.shape[3]
    Kc, R, S = w.shape[1], w.shape[2], w.shape[3]
    for nk in numba.prange(N * K):
        n, k = nk // K, nk % K
        c, yk = k // Kc, y[n, k]
        yk[:, :] = b[k] if b.shape[0] > 0 else np.float32(0.0)
        for r in range(R):
            for s in range(S):
                wv, off = w[c, k % Kc, r, s], s * dw - pl
                lo = 0 if off >= 0 else min(W, (-off + sw - 1) // sw)  # input columns landing in [0, Q)
                hi = 0 if Q - 1 - off < 0 else min(W, (Q - 1 - off) // sw + 1)
                for ih in range(H):
                    oh = ih * sh - pt + r * dh
                    if 0 <= oh < P:
                        for iw in range(lo, hi):
                            yk[oh, iw * sw + off] += wv * x[n, c, ih, iw]


def _own(a):
    """a as a writable C-contiguous array (a copy only when it is not one)."""
    return a if a.flags.writeable and a.flags.c_contiguous else np.array(a)


def conv_transpose2d(x, w, b, stride, pads, output_padding, dilation, groups, act, out=None):
    # x (N,C,H,W) *ᵀ w (C,K/g,R,S) + b (K) -> y (N,K,P,Q): per image, group and tile of input rows one GEMM
    # col = w_gᵀ · x rows (numpy's BLAS), then the compiled col2im adds col's windows into y; one input channel
    # per group: a compiled scatter. (The compiled kernels take only arrays of their own, never the weights
    # as given, read-only or not: one signature each.)
    (N, C, H, W), (_, Kg, R, S) = x.shape, w.shape
    P, Q = (stride[i] * (x.shape[2 + i] - 1) + output_padding[i] + (w.shape[2 + i] - 1) * dilation[i] + 1
            - pads[i] - pads[i + 2] for i in range(2))
    K, Cg, KRS = Kg * groups, C // groups, Kg * R * S
    y = out_array(out, (N, K, P, Q))
    if Cg == 1:
        _scatter_planes(_own(x), np.array(w), np.array(bias_arg(b)), *stride, pads[0], pads[1], *dilation, y)
    else:
        y[...] = 0.0 if b is None else b.reshape(1, K, 1, 1)
        w2, rows = w.reshape(C, KRS), min(H, max(1, COL_FLOATS // (KRS * W)))
        col = np.empty(KRS * rows * W, np.float32)
        for n in range(N):
            for g in range(groups):
                xg = x[n, g * Cg:(g + 1) * Cg].reshape(Cg, H * W)
                for h0 in range(0, H, rows):
                    m = min(rows, H - h0) * W
                    c2 = col[:KRS * m].reshape(KRS, m)
                    np.dot(w2[g * Cg:(g + 1) * Cg].T, xg[:, h0 * W:h0 * W + m], out=c2)
                    _col2im(c2, R, S, *stride, pads[0], pads[1], *dilation, h0, W, y[n, g * Kg:(g + 1) * Kg])
    if act.kind:
        y2 = y.reshape(N * K, P * Q)
        finish_rows(y2, NO_BIAS, 0, *act_args(act), y2)
    return y


def _out(x, K, stride, pads, dilation, R, S, out):
    P = conv_out_size(x.shape[2], R, stride[0], pads[0], pads[2], dilation[0])
    Q = conv_out_size(x.shape[3], S, stride[1], pads[1], pads[3], dilation[1])
    return out_array(out, (x.shape[0], K, P, Q))


def _mat(w):
    return w.reshape(w.shape[0], -1)


def conv2d(x, w, b, z, stride, pads, dilation, groups, act, out=None):
    # act(x (N,C,H,W) * w (K,C/g,R,S) + b (K) [+ z (N,K,P,Q)]) -> y (N,K,P,Q); with z the activation after adding it
    K, Cg, R, S = w.shape
    y = _out(x, K, stride, pads, dilation, R, S, out)
    first = act if z is None else IDENTITY
    if Cg == 1 and groups > 1:
        _depthwise(x, w, bias_arg(b), *stride, *pads, *dilation, *act_args(first), y)
    else:
        _conv2d(x, _mat(w), bias_arg(b), R, S, *stride, pads[0], pads[1], *dilation, groups, *act_args(first),
                config.CONV_TILE, y)
    if z is not None:
        y2 = y.reshape(-1, y.shape[2] * y.shape[3])
        np.add(y2, z.reshape(y2.shape), out=y2)
        finish_rows(y2, NO_BIAS, 0, *act_args(act), y2)
    return y


def conv2d_lowrank(x, w1, w2, b, stride, pads, dilation, act, out=None):
    # x (N,C,H,W) * w1 (r,C,R,S) * w2 (K,r,1,1) + b (K) -> y (N,K,P,Q)
    R, S = w1.shape[2:]
    y = _out(x, w2.shape[0], stride, pads, dilation, R, S, out)
    _conv2d_lowrank(x, _mat(w1), _mat(w2), bias_arg(b), R, S, *stride, pads[0], pads[1], *dilation,
                    *act_args(act), config.CONV_TILE, y)
    return y


def conv2d_tucker2(x, w_in, w_core, w_out, b, stride, pads, dilation, act, out=None):
    # x (N,C,H,W) * w_in (r1,C,1,1) * w_core (r2,r1,R,S) * w_out (K,r2,1,1) + b (K) -> y (N,K,P,Q)
    R, S = w_core.shape[2:]
    y = _out(x, w_out.shape[0], stride, pads, dilation, R, S, out)
    _conv2d_tucker2(x, _mat(w_in), _mat(w_core), _mat(w_out), bias_arg(b), R, S, *stride, pads[0], pads[1],
                    *dilation, *act_args(act), config.CONV_TILE, y)
    return y
