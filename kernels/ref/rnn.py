"""Recurrent layers (ONNX LSTM, GRU, RNN with their default activations), sequence-major.

x (T,N,F); w (D,G·H,F), r (D,G·H,H), b (D,2·G·H) = [Wb, Rb]; h0, c0 (D,N,H); D = 2 for `bidirectional`.
Gates in ONNX order: LSTM i, o, f, c (peepholes p (D,3H): i, o, f); GRU z, r, h; RNN one.
`result` picks what the op returns: y (T,D,N,H) every step's hidden state, h or c (D,N,H) the last.
"""
import numpy as np

from ..common import emit
from ..spec import OpSpec, check_rank, fail

DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _steps(direction, d, T):
    """The time steps direction d of a layer visits, in order."""
    backwards = direction == "reverse" or (direction == "bidirectional" and d == 1)
    return range(T - 1, -1, -1) if backwards else range(T)


def _state(s, D, N, H):
    return np.zeros((D, N, H)) if s is None else s.astype(np.float64)


def _pick(y, h, c, result):
    return {"y": y, "h": h, "c": c}[result]


def lstm(x, w, r, b, h0, c0, p, direction, result, out=None):
    # x (T,N,F), w (D,4H,F), r (D,4H,H), b (D,8H), h0/c0 (D,N,H), p (D,3H) -> y (T,D,N,H) | h, c (D,N,H)
    T, N, _ = x.shape
    D, H = w.shape[0], r.shape[2]
    x = x.astype(np.float64)
    b = np.zeros((D, 8 * H)) if b is None else b.astype(np.float64)
    p = np.zeros((D, 3 * H)) if p is None else p.astype(np.float64)
    y, h, c = np.zeros((T, D, N, H)), _state(h0, D, N, H), _state(c0, D, N, H)
    for d in range(D):
        for t in _steps(direction, d, T):
            g = x[t] @ w[d].T.astype(np.float64) + h[d] @ r[d].T.astype(np.float64) + b[d, :4 * H] + b[d, 4 * H:]
            gi, go, gf, gc = (g[:, k * H:(k + 1) * H] for k in range(4))
            i = _sigmoid(gi + p[d, :H] * c[d])
            f = _sigmoid(gf + p[d, 2 * H:] * c[d])
            c[d] = f * c[d] + i * np.tanh(gc)
            h[d] = _sigmoid(go + p[d, H:2 * H] * c[d]) * np.tanh(c[d])
            y[t, d] = h[d]
    return emit(_pick(y, h, c, result), out)


def gru(x, w, r, b, h0, direction, linear_before_reset, result, out=None):
    # x (T,N,F), w (D,3H,F), r (D,3H,H), b (D,6H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    T, N, _ = x.shape
    D, H = w.shape[0], r.shape[2]
    x = x.astype(np.float64)
    b = np.zeros((D, 6 * H)) if b is None else b.astype(np.float64)
    y, h = np.zeros((T, D, N, H)), _state(h0, D, N, H)
    for d in range(D):
        wd, rd = w[d].astype(np.float64), r[d].astype(np.float64)
        wb, rb = b[d, :3 * H], b[d, 3 * H:]
        for t in _steps(direction, d, T):
            gx = x[t] @ wd.T + wb
            z = _sigmoid(gx[:, :H] + h[d] @ rd[:H].T + rb[:H])
            rr = _sigmoid(gx[:, H:2 * H] + h[d] @ rd[H:2 * H].T + rb[H:2 * H])
            if linear_before_reset:
                hh = np.tanh(gx[:, 2 * H:] + rr * (h[d] @ rd[2 * H:].T + rb[2 * H:]))
            else:
                hh = np.tanh(gx[:, 2 * H:] + (rr * h[d]) @ rd[2 * H:].T + rb[2 * H:])
            h[d] = (1.0 - z) * hh + z * h[d]
            y[t, d] = h[d]
    return emit(_pick(y, h, None, result), out)


def rnn(x, w, r, b, h0, direction, result, out=None):
    # x (T,N,F), w (D,H,F), r (D,H,H), b (D,2H), h0 (D,N,H) -> y (T,D,N,H) | h (D,N,H)
    T, N, _ = x.shape
    D, H = w.shape[0], r.shape[2]
    x = x.astype(np.float64)
    b = np.zeros((D, 2 * H)) if b is None else b.astype(np.float64)
    y, h = np.zeros((T, D, N, H)), _state(h0, D, N, H)
    for d in range(D):
        for t in _steps(direction, d, T):
            h[d] = np.tanh(x[t] @ w[d].T.astype(np.float64) + h[d] @ r[d].T.astype(np.float64) + b[d, :H] + b[d, H:])
            y[t, d] = h[d]
    return emit(_pick(y, h, None, result), out)


def _check_shape(op, t, name, a, shape):
    if a is not None and a.shape != shape:
        fail(op, t, f"{name} must have shape {shape}, got {a.shape}")


def _check_recurrent(op, t, a, results):
    """Shapes of x, w, r, b, h0 (, c0, p) and the attributes shared by the recurrent ops."""
    x, w, r = t[:3]
    for name, m in (("x", x), ("w", w), ("r", r)):
        check_rank(op, t, name, m, 3)
    direction = a.get("direction", "forward")
    if direction not in DIRECTIONS:
        fail(op, t, f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    T, N, F = x.shape
    D, G = DIRECTIONS[direction], GATES[op]
    H = r.shape[2]
    if min(T, N, H) < 1:
        fail(op, t, "empty sequence, batch or hidden size")
    _check_shape(op, t, "w", w, (D, G * H, F))
    _check_shape(op, t, "r", r, (D, G * H, H))
    _check_shape(op, t, "b", t[3], (D, 2 * G * H))
    for name, s in zip(("h0", "c0"), t[4:6]):
        _check_shape(op, t, name, s, (D, N, H))
    if op == "lstm":
        _check_shape(op, t, "p", t[6], (D, 3 * H))
    result = a.get("result", "y")
    if result not in results:
        fail(op, t, f"result must be one of {', '.join(results)}, got {result!r}")
    return dict(direction=direction, result=result), ((T, D, N, H) if result == "y" else (D, N, H))


def _check_lstm(op, t, a):
    return _check_recurrent(op, t, a, ("y", "h", "c"))


def _check_gru(op, t, a):
    attrs, shape = _check_recurrent(op, t, a, ("y", "h"))
    return dict(attrs, linear_before_reset=bool(a.get("linear_before_reset", False))), shape


def _check_rnn(op, t, a):
    return _check_recurrent(op, t, a, ("y", "h"))


def _recurrent_flops(gates, pointwise):
    """FLOPs of the whole recurrence: x·wᵀ and h·rᵀ every step (multiply-adds count two) + `pointwise`
    operations per hidden unit and step."""
    def flops(shapes, out, attrs):
        (T, N, F), (D, _, _), (_, _, H) = shapes[:3]
        return float(T * D * N * (2.0 * gates * H * (F + H) + pointwise * H))
    return flops


ORDER = 6  # the family's place in kernels.OPS
SPECS = (
    OpSpec("lstm", ("x", "w", "r", "b?", "h0?", "c0?", "p?"), _check_lstm, _recurrent_flops(4, 12)),
    OpSpec("gru", ("x", "w", "r", "b?", "h0?"), _check_gru, _recurrent_flops(3, 10)),
    OpSpec("rnn", ("x", "w", "r", "b?", "h0?"), _check_rnn, _recurrent_flops(1, 2)),
)
