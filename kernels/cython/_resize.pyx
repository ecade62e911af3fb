"""Resize: nearest through the take kernel of _layout, linear as a blend of precomputed taps
(kernels.ref.resize)."""
from cython.parallel cimport prange

import numpy as np

from deepx.kernels.cython._layout import take
from deepx.kernels.ref.resize import nearest_plan, resize_plan

from kernels.cython._common cimport PAR_MIN


cdef void linear_row(const float* r0, const float* r1, float a, const long long* w0, const long long* w1,
                     const float* ww, float* y, Py_ssize_t Q) noexcept nogil:
    # y (Q) = rows r0, r1 blended by a, each read at columns w0 / w1 blended by ww
    cdef Py_ssize_t q
    cdef float t0, t1, c
    for q in range(Q):
        c = ww[q]
        t0 = r0[w0[q]] + c * (r0[w1[q]] - r0[w0[q]])
        t1 = r1[w0[q]] + c * (r1[w1[q]] - r1[w0[q]])
        y[q] = t0 + a * (t1 - t0)


def resize(x, sizes, scales, mode, coord, nearest, out=None):
    """x (d0..dn) -> y (sizes): nearest on any axes, linear on the last two."""
    if out is None:
        out = np.empty(sizes, np.float32)
    if mode == "nearest":
        return take(x, nearest_plan(x.shape, sizes, scales, coord, nearest), 0.0, out)
    (h0, h1, hw), (w0, w1, ww) = resize_plan(x.shape, sizes, scales, mode, coord, nearest)
    cdef const long long[::1] vh0 = h0, vh1 = h1, vw0 = w0, vw1 = w1
    cdef const float[::1] vhw = hw, vww = ww
    shape = (-1, x.shape[x.ndim - 2] if x.ndim > 1 else 1, x.shape[x.ndim - 1])  # (wraparound is off)
    cdef const float[:, :, ::1] xv = x.reshape(shape)
    cdef float[:, :, ::1] yv = out.reshape(-1, len(h0), len(w0))
    cdef Py_ssize_t B = xv.shape[0], P = yv.shape[1], Q = yv.shape[2], bp, b, p
    for bp in prange(B * P, nogil=True, schedule='static', use_threads_if=B * P * Q >= PAR_MIN):
        b, p = bp // P, bp % P
        linear_row(&xv[b, vh0[p], 0], &xv[b, vh1[p], 0], vhw[p], &vw0[0], &vw1[0], &vww[0], &yv[b, p, 0], Q)
    return out
