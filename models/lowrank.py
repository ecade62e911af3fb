"""Low-rank factorizations of dense and conv weights, each with an estimate of the relative output error it
costs on calibration inputs (the maths of RLC; models.compress chooses among them).

- dense: y = W x  ->  U (V x), from the SVD of the layer's output on calibration inputs (the rank-r
  factorization that keeps most of what the layer really computes: W_r = U_r U_rᵀ W);
- conv, channel decomposition: the same on W reshaped (K, C·R·S) and the layer's im2col columns:
  a k×k conv to r channels, then a 1×1 conv to K;
- conv, Tucker-2: HOSVD of the kernel along its output and input channels, refined by HOOI:
  1×1 to r1, k×k to r2, 1×1 to K.
The SVD ones are fitted on one half of the calibration columns and their error measured on the other half;
Tucker-2 is fitted on the weights alone and its error measured on all the columns.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import eigh

from ..kernels.common import conv_out_size

RANK_STEPS = 24  # candidate ranks per layer and method


@dataclass
class Candidate:
    method: str  # "svd" (dense), "channel", "tucker2"
    ranks: tuple
    flops: float
    params: int
    error: float  # estimated relative output error
    shapes: tuple  # the factors' shapes, in the low-rank op's input order
    make: object = field(repr=False, default=None)  # () -> list of factor arrays


def im2col(x, kernel, stride, pads, dilation, columns, rng):
    """A random sample of im2col columns of x (N,C,H,W): (C·R·S, columns)."""
    (N, C, H, W), (R, S) = x.shape, kernel
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = stride, pads, dilation
    P, Q = conv_out_size(H, R, sh, pt, pb, dh), conv_out_size(W, S, sw, pl, pr, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, p, q = (rng.integers(0, m, columns) for m in (N, P, Q))
    rows = p[:, None] * sh + np.arange(R)[None] * dh  # (columns, R)
    cols = q[:, None] * sw + np.arange(S)[None] * dw  # (columns, S)
    patches = xp[n[:, None, None, None], np.arange(C)[None, :, None, None], rows[:, None, :, None],
                 cols[:, None, None, :]]  # (columns, C, R, S)
    return patches.reshape(columns, -1).T.astype(np.float64)


def _ranks(full):
    """Candidate ranks 1 … full, denser at small ranks."""
    return sorted({max(1, int(round(r))) for r in np.geomspace(1, full, RANK_STEPS)})


def _output_svd(w2d, x_cols):
    """[(r, error, U_r)] for the candidate ranks r of W (K,M) ≈ U_r (U_rᵀ W): U from the SVD of the layer's
    output W·X on the first half of the calibration columns x_cols (M, n), each rank's error measured on the
    other half."""
    half = x_cols.shape[1] // 2
    fit, check = x_cols[:, :half], x_cols[:, half:]
    u, _, _ = np.linalg.svd(w2d @ fit, full_matrices=False)  # (K, min(K, n))
    y = w2d @ check
    energy = float((y * y).sum())
    kept = np.cumsum(((u.T @ y) ** 2).sum(axis=1))  # output energy inside the first r directions
    out = []
    for r in _ranks(u.shape[1]):
        error = float(np.sqrt(max(energy - kept[r - 1], 0.0) / energy)) if energy > 0 else 0.0
        out.append((r, error, u[:, :r]))
    return out


def svd_candidates(w, x_cols, rows):
    """dense w (K,M) -> v (r,M), u (K,r), from input columns x_cols (M, n); `rows`: rows of x per inference."""
    K, M = w.shape
    out = []
    for r, error, ur in _output_svd(w, x_cols):
        def make(ur=ur):
            return [ur.T @ w, ur]

        out.append(Candidate("svd", (r,), 2.0 * rows * r * (M + K), r * (M + K), error, ((r, M), (K, r)), make))
    return out


def channel_candidates(w, x_cols, pq):
    """conv w (K,C,R,S) -> w1 (r,C,R,S), w2 (K,r,1,1), from im2col columns x_cols (C·R·S, n); `pq`: output
    pixels per inference."""
    K, C, R, S = w.shape
    w2d = w.reshape(K, -1)  # (K, C·R·S)
    out = []
    for r, error, ur in _output_svd(w2d, x_cols):
        def make(ur=ur):
            return [(ur.T @ w2d).reshape(-1, C, R, S), ur[:, :, None, None]]

        out.append(Candidate("channel", (r,), 2.0 * pq * r * (C * R * S + K), r * (C * R * S + K), error,
                             ((r, C, R, S), (K, r, 1, 1)), make))
    return out


def _leading(m, r):
    """The r leading left singular vectors of m (rows, cols), from the eigenvectors of m mᵀ."""
    n = m.shape[0]
    return eigh(m @ m.T, subset_by_index=[n - r, n - 1])[1][:, ::-1]


def _tucker2(w, r1, r2, hosvd=None, iterations=3):
    """HOSVD of w (K,C,R,S) along K and C, refined by HOOI: (u_out (K,r2), core (r2,r1,R,S), u_in (C,r1)).
    `hosvd`: every leading vector of both unfoldings, (K,K) and (C,C), when the caller has them."""
    K, C = w.shape[:2]
    e_out, e_in = hosvd or (_leading(w.reshape(K, -1), r2), _leading(w.transpose(1, 0, 2, 3).reshape(C, -1), r1))
    u_out, u_in = e_out[:, :r2], e_in[:, :r1]
    for _ in range(iterations):
        u_out = _leading(np.tensordot(w, u_in, ([1], [0])).reshape(K, -1), r2)  # w ×_C u_in: (K,R,S,r1)
        u_in = _leading(np.tensordot(w, u_out, ([0], [0])).reshape(C, -1), r1)  # w ×_K u_out: (C,R,S,r2)
    core = np.tensordot(np.tensordot(u_out, w, ([0], [0])), u_in, ([1], [0]))  # (r2,R,S,r1)
    return u_out, core.transpose(0, 3, 1, 2), u_in


def tucker2_candidates(w, x_cols, pq, in_pixels):
    """conv w (K,C,R,S) -> w_in (r1,C,1,1), w_core (r2,r1,R,S), w_out (K,r2,1,1) at ranks (r1, r2) in
    proportion to (C, K), fitted on the weights alone; the error is measured on all the im2col columns x_cols
    (C·R·S, n). `pq`, `in_pixels`: output and input pixels per inference."""
    K, C, R, S = w.shape
    x = x_cols.reshape(C, R * S, -1)  # (C, R·S, n)
    y = w.reshape(K, -1) @ x_cols
    energy = float((y * y).sum())
    hosvd = _leading(w.reshape(K, -1), K), _leading(w.transpose(1, 0, 2, 3).reshape(C, -1), C)
    out = []
    for frac in np.geomspace(1 / min(K, C), 1, RANK_STEPS // 2):
        r1, r2 = max(1, int(round(C * frac))), max(1, int(round(K * frac)))
        if r1 == C and r2 == K:
            continue
        u_out, core, u_in = _tucker2(w, r1, r2, hosvd)
        z = np.tensordot(u_in, x, ([0], [0])).reshape(r1 * R * S, -1)  # 1×1 to r1: (r1·R·S, n)
        d = y - u_out @ (core.reshape(r2, -1) @ z)
        error = float(np.sqrt((d * d).sum() / energy)) if energy > 0 else 0.0

        def make(u_out=u_out, core=core, u_in=u_in):
            return [u_in.T[:, :, None, None], core, u_out[:, :, None, None]]

        flops = 2.0 * (in_pixels * C * r1 + pq * r2 * (r1 * R * S + K))
        out.append(Candidate("tucker2", (r1, r2), flops, r1 * C + r2 * r1 * R * S + K * r2, error,
                             ((r1, C, 1, 1), (r2, r1, R, S), (K, r2, 1, 1)), make))
    return out
