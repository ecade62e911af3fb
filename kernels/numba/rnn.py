"""Recurrent layers: the input projection of every step in one GEMM per direction, then per step h·rᵀ
(np.dot) per direction and the gate math of all directions, batch rows and hidden units in one parallel loop."""
import numba
import numpy as np

from .common import jit

NONE = np.zeros((0, 0, 0, 0), np.float32)  # stands for y when the op returns a state only


@jit(parallel=True)
def _project(x, w, bias, xw):
    # x (T·N,I) · w (D,G,I)ᵀ + bias (D,G) -> xw (D,T·N,G)
    D, M, G = xw.shape
    for d in range(D):
        np.dot(x, w[d].T, xw[d])
    for k in numba.prange(D * M):
        d, m = k // M, k % M
        for g in range(G):
            xw[d, m, g] += bias[d, g]


@jit()
def _time(backwards, d, s, T):
    return T - 1 - s if backwards[d] else s


@jit()
def _sigmoid(v):
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))


@jit(parallel=True)
def _lstm(xw, r, p, backwards, T, h, c, y):
    # xw (D,T·N,4H) projections with both biases, r (D,4H,H), p (D,3H) peepholes -> states h, c (D,N,H) in place,
    # every step's h into y (T,D,N,H) unless y is empty
    D, N, H = h.shape
    hr = np.empty((D, N, 4 * H), np.float32)
    for s in range(T):
        for d in range(D):
            np.dot(h[d], r[d].T, hr[d])
        for k in numba.prange(D * N * H):
            d, n, j = k // (N * H), k // H % N, k % H
            t = _time(backwards, d, s, T)
            g = xw[d, t * N + n]
            a = hr[d, n]
            i = _sigmoid(g[j] + a[j] + p[d, j] * c[d, n, j])
            f = _sigmoid(g[2 * H + j] + a[2 * H + j] + p[d, 2 * H + j] * c[d, n, j])
            cn = f * c[d, n, j] + i * np.tanh(g[3 * H + j] + a[3 * H + j])
            c[d, n, j] = cn
            h[d, n, j] = _sigmoid(g[H + j] + a[H + j] + p[d, H + j] * cn) * np.tanh(cn)
            if y.shape[0] > 0:
                y[t, d, n, j] = h[d, n, j]


@jit(parallel=True)
def _gru(xw, r, rbh, lbr, backwards, T, h, y):
    # xw (D,T·N,3H) projections (+ r's bias for z, r, and for h unless lbr), r (D,3H,H), rbh (D,H) r's bias of h
    # -> state h (D,N,H) in place, every step's h into y (T,D,N,H) unless y is empty
    D, N, H = h.shape
    hr = np.empty((D, N, 3 * H if lbr else 2 * H), np.float32)  # h·r_{z,r(,h)}ᵀ
    rh = np.empty((D, N, H), np.float32)  # unless lbr: r·h
    hn = np.empty((D, N, H), np.float32)  # unless lbr: (r·h)·r_hᵀ
    for s in range(T):
        for d in range(D):
            np.dot(h[d], r[d, :hr.shape[2]].T, hr[d])
        if not lbr:  # z into hr, r·h into rh, then (r·h)·r_hᵀ
            for k in numba.prange(D * N * H):
                d, n, j = k // (N * H), k // H % N, k % H
                g = xw[d, _time(backwards, d, s, T) * N + n]
                hr[d, n, j] = _sigmoid(g[j] + hr[d, n, j])
                rh[d, n, j] = _sigmoid(g[H + j] + hr[d, n, H + j]) * h[d, n, j]
            for d in range(D):
                np.dot(rh[d], r[d, 2 * H:].T, hn[d])
        for k in numba.prange(D * N * H):
            d, n, j = k // (N * H), k // H % N, k % H
            t = _time(backwards, d, s, T)
            g = xw[d, t * N + n]
            if lbr:
                z = _sigmoid(g[j] + hr[d, n, j])
                hh = np.tanh(g[2 * H + j] + _sigmoid(g[H + j] + hr[d, n, H + j]) * (hr[d, n, 2 * H + j] + rbh[d, j]))
            else:
                z = hr[d, n, j]
                hh = np.tanh(g[2 * H + j] + hn[d, n, j])
            h[d, n, j] = (np.float32(1.0) - z) * hh + z * h[d, n, j]
            if y.shape[0] > 0:
                y[t, d, n, j] = h[d, n, j]


@jit(parallel=True)
def _rnn(xw, r, backwards, T, h, y):
    # xw (D,T·N,H) projections with both biases, r (D,H,H) -> state h (D,N,H) in place, steps into y
    D, N, H = h.shape
    hr = np.empty((D, N, H), np.float32)
    for s in range(T):
        for d in range(D):
            np.dot(h[d], r[d].T, hr[d])
        for k in numba.prange(D * N * H):
            d, n, j = k // (N * H), k // H % N, k % H
            t = _time(backwards, d, s, T)
            h[d, n, j] = np.tanh(xw[d, t * N + n, j] + hr[d, n, j])
            if y.shape[0] > 0:
                y[t, d, n, j] = h[d, n, j]


def _setup(x, w, bias, H, h0, direction, result, out):
    """(xw projections, backwards flags, state h starting at h0, y buffer); h or y is `out` when the op returns it."""
    T, N, _ = x.shape
    D, G, _ = w.shape
    xw = np.empty((D, T * N, G), np.float32)
    _project(x.reshape(T * N, -1), w, bias, xw)
    backwards = np.array([direction == "reverse" or d == 1 for d in range(D)])
    h = out if out is not None and result == "h" else np.empty((D, N, H), np.float32)
    h[...] = 0.0 if h0 is None else h0
    y = NONE if result != "y" else (np.empty((T, D, N, H), np.float32) if out is None else out)
    return xw, backwards, h, y


def _bias(b, D, G, keep=0):
    """b (D,2G) -> w's + r's bias (D,G), r's last `keep` entries left out; zeros without b."""
    if b is None:
        return np.zeros((D, G), np.float32)
    rb = b[:, G:].copy()
    rb[:, G - keep:] = 0.0
    return b[:, :G] + rb


def lstm(x, w, r, b, h0, c0, p, direction, result, out=None):
    # x (T,N,I), w (D,4H,I), r (D,4H,H), b (D,8H), h0/c0 (D,N,H), p (D,3H) -> y (T,D,N,H) | h, c (D,N,H)
    D, G, _ = w.shape
    xw, backwards, h, y = _setup(x, w, _bias(b, D, G), G // 4, h0, direction, result, out)
    c = out if result == "c" and out is not None else np.empty_like(h)
    c[...] = 0.0 if c0 is None else c0
    _lstm(xw, r, np.zeros((D, 3 * G // 4), np.float32) if p is None else p, backwards, x.shape[0], h, c, y)
    return {"y": y, "h": h, "c": c}[result]


def gru(x, w, r, b, h0, direction, linear_before_reset, result, out=None):
    # x (T,N,I), w (D,3H,I), r (D,3H,H), b (D,6H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    D, G, _ = w.shape
    H = G // 3
    bias = _bias(b, D, G, H if linear_before_reset else 0)
    xw, backwards, h, y = _setup(x, w, bias, H, h0, direction, result, out)
    rbh = np.zeros((D, H), np.float32) if b is None else np.ascontiguousarray(b[:, 5 * H:])
    _gru(xw, r, rbh, bool(linear_before_reset), backwards, x.shape[0], h, y)
    return y if result == "y" else h


def rnn(x, w, r, b, h0, direction, result, out=None):
    # x (T,N,I), w (D,H,I), r (D,H,H), b (D,2H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    D, G, _ = w.shape
    xw, backwards, h, y = _setup(x, w, _bias(b, D, G), G, h0, direction, result, out)
    _rnn(xw, r, backwards, x.shape[0], h, y)
    return y if result == "y" else h
