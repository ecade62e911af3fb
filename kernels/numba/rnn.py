"""Recurrent layers: the input projection of every step in one GEMM per direction, then the steps (h·rᵀ by
np.dot, then the gates), the two directions of a bidirectional layer side by side."""
import numba
import numpy as np

from .common import jit

NONE = np.zeros((0, 0, 0, 0), np.float32)  # stands for y when the op returns a state only


@jit(parallel=True)
def _project(x, w, bias, xw):
    # x (T·N,F) · w (D,G,F)ᵀ + bias (D,G) -> xw (D,T·N,G)
    D, M, G = xw.shape
    for d in range(D):
        np.dot(x, w[d].T, xw[d])
    for k in numba.prange(D * M):
        d, m = k // M, k % M
        for g in range(G):
            xw[d, m, g] += bias[d, g]


@jit()
def _tanh(x):
    # tanh: Eigen's rational approximation on x clamped to ±7.905 (error < 1e-6); no libm call, so the gate
    # loops vectorize
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16) * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06) * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@jit()
def _sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * _tanh(np.float32(0.5) * x)


@jit()
def _store(y, t, d, h):
    # y[t, d] = h (N,H) unless y is empty
    if y.shape[0] > 0:
        y[t, d] = h


@jit()
def _lstm_steps(xw, r, p, backwards, T, h, c, y, d):
    # one direction: xw (T·N,4H) projections with both biases, r (4H,H), p (3H) peepholes -> h, c (N,H) in place
    N, H = h.shape
    hr = np.empty((N, 4 * H), np.float32)
    for s in range(T):
        t = T - 1 - s if backwards else s
        np.dot(h, r.T, hr)
        for n in range(N):
            g, a = xw[t * N + n], hr[n]
            for j in range(H):
                i = _sigmoid(g[j] + a[j] + p[j] * c[n, j])
                f = _sigmoid(g[2 * H + j] + a[2 * H + j] + p[2 * H + j] * c[n, j])
                cn = f * c[n, j] + i * _tanh(g[3 * H + j] + a[3 * H + j])
                c[n, j] = cn
                h[n, j] = _sigmoid(g[H + j] + a[H + j] + p[H + j] * cn) * _tanh(cn)
        _store(y, t, d, h)


@jit()
def _gru_steps(xw, r, rbh, lbr, backwards, T, h, y, d):
    # one direction: xw (T·N,3H) projections (+ r's bias for z, r, and for h unless lbr), r (3H,H), rbh (H) r_h's
    # bias -> h (N,H) in place; lbr: r multiplies h·r_hᵀ + rbh, else (r·h)·r_hᵀ
    N, H = h.shape
    hr = np.empty((N, 3 * H if lbr else 2 * H), np.float32)  # h·r_{z,r(,h)}ᵀ
    rh = np.empty((N, H), np.float32)  # unless lbr: r·h
    hn = np.empty((N, H), np.float32)  # unless lbr: (r·h)·r_hᵀ
    for s in range(T):
        t = T - 1 - s if backwards else s
        np.dot(h, r[:hr.shape[1]].T, hr)
        if not lbr:  # z into hr, r·h into rh, then (r·h)·r_hᵀ
            for n in range(N):
                g = xw[t * N + n]
                for j in range(H):
                    hr[n, j] = _sigmoid(g[j] + hr[n, j])
                    rh[n, j] = _sigmoid(g[H + j] + hr[n, H + j]) * h[n, j]
            np.dot(rh, r[2 * H:].T, hn)
        for n in range(N):
            g = xw[t * N + n]
            for j in range(H):
                if lbr:
                    z = _sigmoid(g[j] + hr[n, j])
                    hh = _tanh(g[2 * H + j] + _sigmoid(g[H + j] + hr[n, H + j]) * (hr[n, 2 * H + j] + rbh[j]))
                else:
                    z = hr[n, j]
                    hh = _tanh(g[2 * H + j] + hn[n, j])
                h[n, j] = (np.float32(1.0) - z) * hh + z * h[n, j]
        _store(y, t, d, h)


@jit()
def _rnn_steps(xw, r, backwards, T, h, y, d):
    # one direction: xw (T·N,H) projections with both biases, r (H,H) -> h (N,H) in place
    N, H = h.shape
    hr = np.empty((N, H), np.float32)
    for s in range(T):
        t = T - 1 - s if backwards else s
        np.dot(h, r.T, hr)
        for n in range(N):
            for j in range(H):
                h[n, j] = _tanh(xw[t * N + n, j] + hr[n, j])
        _store(y, t, d, h)


# the directions of a bidirectional layer run side by side, one thread each
@jit(parallel=True)
def _lstm(xw, r, p, backwards, T, h, c, y):
    for d in numba.prange(h.shape[0]):
        _lstm_steps(xw[d], r[d], p[d], backwards[d], T, h[d], c[d], y, d)


@jit(parallel=True)
def _gru(xw, r, rbh, lbr, backwards, T, h, y):
    for d in numba.prange(h.shape[0]):
        _gru_steps(xw[d], r[d], rbh[d], lbr, backwards[d], T, h[d], y, d)


@jit(parallel=True)
def _rnn(xw, r, backwards, T, h, y):
    for d in numba.prange(h.shape[0]):
        _rnn_steps(xw[d], r[d], backwards[d], T, h[d], y, d)


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
    # x (T,N,F), w (D,4H,F), r (D,4H,H), b (D,8H), h0/c0 (D,N,H), p (D,3H) -> y (T,D,N,H) | h, c (D,N,H)
    D, G, _ = w.shape
    xw, backwards, h, y = _setup(x, w, _bias(b, D, G), G // 4, h0, direction, result, out)
    c = out if result == "c" and out is not None else np.empty_like(h)
    c[...] = 0.0 if c0 is None else c0
    _lstm(xw, r, np.zeros((D, 3 * G // 4), np.float32) if p is None else p, backwards, x.shape[0], h, c, y)
    return {"y": y, "h": h, "c": c}[result]


def gru(x, w, r, b, h0, direction, linear_before_reset, result, out=None):
    # x (T,N,F), w (D,3H,F), r (D,3H,H), b (D,6H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    D, G, _ = w.shape
    H = G // 3
    bias = _bias(b, D, G, H if linear_before_reset else 0)
    xw, backwards, h, y = _setup(x, w, bias, H, h0, direction, result, out)
    rbh = np.zeros((D, H), np.float32) if b is None else np.ascontiguousarray(b[:, 5 * H:])
    _gru(xw, r, rbh, bool(linear_before_reset), backwards, x.shape[0], h, y)
    return y if result == "y" else h


def rnn(x, w, r, b, h0, direction, result, out=None):
    # x (T,N,F), w (D,H,F), r (D,H,H), b (D,2H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    D, G, _ = w.shape
    xw, backwards, h, y = _setup(x, w, _bias(b, D, G), G, h0, direction, result, out)
    _rnn(xw, r, backwards, x.shape[0], h, y)
    return y if result == "y" else h
