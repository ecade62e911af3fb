"""Normalisations: local response normalisation, inference batch norm (+ activation), softmax and
log-softmax, layer, instance and group normalisation."""
from cython.parallel cimport parallel, prange
from libc.math cimport log, powf, sqrt, sqrtf
from libc.stdlib cimport free, malloc

import math

import numpy as np

from kernels.cython._common cimport LANE_PLAIN, LANE_SQUARE, NONE, PAR_MIN, ActC, affine_act, as_act, lane_sum

cdef ActC IDENT = ActC(NONE, 0.0, 0.0)


cdef void lrn_plane(const float* x, float* y, float* acc, int C, int c, Py_ssize_t HW, int size,
                    float alpha, float beta, float bias) noexcept nogil:
    # channel c of x (C,HW) -> y (HW) = x / (bias + alpha/size * sum of x² over the window)^beta
    cdef int lo = max(0, c - (size - 1) // 2), hi = min(C, c + size // 2 + 1), d
    cdef Py_ssize_t i
    cdef const float* xd
    cdef float k = alpha / size, s
    for i in range(HW):
        acc[i] = 0.0
    for d in range(lo, hi):
        xd = x + d * HW
        for i in range(HW):
            acc[i] += xd[i] * xd[i]
    xd = x + c * HW
    if beta == 0.75:  # b^-0.75 = 1 / (√b √√b): two square roots, not a pow (AlexNet's and GoogLeNet's LRN)
        for i in range(HW):
            s = sqrtf(bias + k * acc[i])
            y[i] = xd[i] / (s * sqrtf(s))
    else:
        for i in range(HW):
            y[i] = xd[i] * powf(bias + k * acc[i], -beta)


def lrn(const float[:, :, :, ::1] x, int size, float alpha, float beta, float bias, out=None):
    """x (N,C,H,W) -> y (N,C,H,W)."""
    cdef int N = x.shape[0], C = x.shape[1], nc
    cdef Py_ssize_t HW = x.shape[2] * x.shape[3]
    if out is None:
        out = np.empty((N, C, x.shape[2], x.shape[3]), np.float32)
    cdef float[:, :, :, ::1] y = out
    cdef const float* xp = &x[0, 0, 0, 0]
    cdef float* yp = &y[0, 0, 0, 0]
    cdef float* acc
    with nogil, parallel(use_threads_if=N * C * HW * size >= PAR_MIN):
        acc = <float*>malloc(HW * sizeof(float))
        for nc in prange(N * C, schedule='static'):
            lrn_plane(xp + nc // C * C * HW, yp + nc * HW, acc, C, nc % C, HW, size, alpha, beta,
                      bias)
        free(acc)
    return out


cdef class BatchNorm:
    """batchnorm of arrays read once, its per-channel multiplier and shift made once, run when called with no
    arguments (the executor binds its steps: kernels.bind)."""
    cdef tuple keep  # the arrays, alive while planned
    cdef const float* x
    cdef float* y
    cdef const float* m
    cdef const float* t
    cdef int C, NC
    cdef Py_ssize_t L
    cdef ActC act

    def __call__(self):
        cdef int nc
        for nc in prange(self.NC, nogil=True, schedule='static', use_threads_if=self.NC * self.L >= PAR_MIN):
            affine_act(self.x + nc * self.L, self.y + nc * self.L, self.L, self.m[nc % self.C], self.t[nc % self.C],
                       self.act)


def _affine(scale, bias, mean, var, double eps):
    # batchnorm's per-channel (multiplier, shift), float32
    mult = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    return mult.astype(np.float32), (bias - mean * mult).astype(np.float32)


cdef BatchNorm bn_plan(x, tuple mt, act, out):
    # x (N,C,...) -> out (None: a new array) through mt = _affine(...)
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef BatchNorm k = BatchNorm.__new__(BatchNorm)
    cdef const float[:, ::1] xv
    cdef float[:, ::1] yv
    cdef const float[::1] m = mt[0]
    cdef const float[::1] t = mt[1]
    k.C, k.NC, k.L, k.act = x.shape[1], x.shape[0] * x.shape[1] if x.size else 0, 0, as_act(act)
    k.keep = (x, out, mt)
    if k.NC:
        xv, yv = x.reshape(k.NC, -1), out.reshape(k.NC, -1)
        k.keep += (xv.base,)
        k.x, k.y, k.m, k.t, k.L = &xv[0, 0], &yv[0, 0], &m[0], &t[0], xv.shape[1]
    return k


def batchnorm(x, scale, bias, mean, var, double eps, act, out=None):
    """x (N,C,...) -> y = act((x - mean) / sqrt(var + eps) * scale + bias), per channel (C)."""
    k = bn_plan(x, _affine(scale, bias, mean, var, eps), act, out)
    k()
    return k.keep[1]


def prepare_batchnorm(scale, bias, mean, var):
    """batchnorm for these constant statistics (called like batchnorm): the multiplier and shift made once."""
    made = {}

    def run(x, scale_, bias_, mean_, var_, double eps, act, out=None):
        if not (scale_ is scale and bias_ is bias and mean_ is mean and var_ is var):
            return batchnorm(x, scale_, bias_, mean_, var_, eps, act, out)
        if eps not in made:
            made[eps] = _affine(scale, bias, mean, var, eps)
        k = bn_plan(x, made[eps], act, out)
        k()
        return k.keep[1]
    return run


def bind_batchnorm(x, scale, bias, mean, var, double eps, act, out):
    """batchnorm of x into out with these constant statistics, called with no arguments (None: x not contiguous)."""
    return bn_plan(x, _affine(scale, bias, mean, var, eps), act, out) if x.flags.c_contiguous else None


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* exp(x) for x <= 0 (a softmax's inputs less their maximum), branch-free so that loops over it vectorize
       (without trapping math: GCC then turns the clamp into a select): 2^n * p(r) with x = n ln2 + r,
       |r| <= ln2 / 2, p Taylor's degree 6 (relative error < 2e-7) */
    __attribute__((optimize("no-trapping-math"))) static inline float deepx_exp_neg(float x) {
        x = x < -87.0f ? -87.0f : x;
        float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
        float r = x - n * 0.693145752f - n * 1.42860677e-6f;
        float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f
                  + r * (0.00833333377f + r * 0.00138888892f)))));
        int32_t bits = ((int32_t)n + 127) << 23;
        float s;
        memcpy(&s, &bits, 4);
        return p * s;
    }

    /* y (n) = exp(x - top), x (n) <= top */
    __attribute__((optimize("no-trapping-math"))) static void deepx_exp_line(const float* x, float* y,
                                                                              Py_ssize_t n, float top) {
        for (Py_ssize_t i = 0; i < n; i++) y[i] = deepx_exp_neg(x[i] - top);
    }

    /* max of x (n), n >= 1, in 8 lanes */
    __attribute__((optimize("no-trapping-math"))) static float deepx_max_line(const float* x, Py_ssize_t n) {
        float t[8];
        Py_ssize_t i, n8 = n - n % 8;
        for (int j = 0; j < 8; j++) t[j] = x[0];
        for (i = 0; i < n8; i += 8)
            for (int j = 0; j < 8; j++) t[j] = x[i + j] > t[j] ? x[i + j] : t[j];
        for (i = n8; i < n; i++) t[0] = x[i] > t[0] ? x[i] : t[0];
        for (int j = 1; j < 8; j++) t[0] = t[j] > t[0] ? t[j] : t[0];
        return t[0];
    }

    /* columns [0, n) of x (L rows of stride `inner`), n <= 256 -> y normalised down each column (log_:
       log-softmax): every step is a loop along a row, so a softmax over a non-last axis vectorizes too */
    __attribute__((optimize("no-trapping-math"))) static void deepx_softmax_cols(
            const float* x, float* y, Py_ssize_t L, Py_ssize_t inner, Py_ssize_t n, int log_) {
        float m[256], s[256];
        Py_ssize_t i, j;
        for (i = 0; i < n; i++) { m[i] = x[i]; s[i] = 0.0f; }
        for (j = 1; j < L; j++)
            for (i = 0; i < n; i++) m[i] = x[j * inner + i] > m[i] ? x[j * inner + i] : m[i];
        for (j = 0; j < L; j++)
            for (i = 0; i < n; i++) {
                float e = deepx_exp_neg(x[j * inner + i] - m[i]);
                y[j * inner + i] = e;
                s[i] += e;
            }
        if (log_) {
            for (i = 0; i < n; i++) s[i] = m[i] + logf(s[i]);
            for (j = 0; j < L; j++)
                for (i = 0; i < n; i++) y[j * inner + i] = x[j * inner + i] - s[i];
        } else {
            for (i = 0; i < n; i++) s[i] = 1.0f / s[i];
            for (j = 0; j < L; j++)
                for (i = 0; i < n; i++) y[j * inner + i] *= s[i];
        }
    }
    """
    float deepx_max_line(const float* x, Py_ssize_t n) noexcept nogil
    void deepx_exp_line(const float* x, float* y, Py_ssize_t n, float top) noexcept nogil
    void deepx_softmax_cols(const float* x, float* y, Py_ssize_t L, Py_ssize_t inner, Py_ssize_t n,
                            int log_) noexcept nogil

cdef enum:
    COLS = 256  # columns per call of deepx_softmax_cols


cdef double exp_shifted(const float* x, float* y, Py_ssize_t n, float top) noexcept nogil:
    # y (n) = exp(x - top); returns their sum (one vectorizable loop, then lanes)
    deepx_exp_line(x, y, n, top)
    return lane_sum(y, n, 0.0, LANE_PLAIN)


cdef void softmax_line(const float* x, float* y, Py_ssize_t n) noexcept nogil:
    # y (n) = exp(x - max) / sum
    cdef Py_ssize_t i
    cdef float inv = 1.0 / exp_shifted(x, y, n, deepx_max_line(x, n))
    for i in range(n):
        y[i] *= inv


cdef void log_softmax_line(const float* x, float* y, Py_ssize_t n) noexcept nogil:
    # y (n) = x - max - log(sum exp(x - max)) (y holds the exps meanwhile)
    cdef Py_ssize_t i
    cdef float top = deepx_max_line(x, n)
    cdef float shift = top + log(exp_shifted(x, y, n, top))
    for i in range(n):
        y[i] = x[i] - shift


cdef void columns(const float[:, ::1] xv, float[:, ::1] yv, Py_ssize_t L, Py_ssize_t inner, bint log_):
    # each (L, inner) plane of xv normalised down its columns, COLS columns per task
    cdef Py_ssize_t chunks = (inner + COLS - 1) // COLS, k, c0
    for k in prange(xv.shape[0] * chunks, nogil=True, schedule='static',
                    use_threads_if=xv.shape[0] * inner * L >= PAR_MIN):
        c0 = k % chunks * COLS
        deepx_softmax_cols(&xv[k // chunks, c0], &yv[k // chunks, c0], L, inner, min(COLS, inner - c0), log_)


cdef class Normalise:
    """softmax or log-softmax of arrays read once along an axis, run when called with no arguments (the executor
    binds its steps: kernels.bind): its Python-level work (shapes, views) is not redone at each call, where a model's
    run has pushed numpy's code out of the caches (measured: 50-120 us a call there, 5-9 us warm)."""
    cdef const float[:, ::1] xv
    cdef float[:, ::1] yv
    cdef Py_ssize_t L, inner
    cdef bint log_
    cdef object out

    def __call__(self):
        cdef Py_ssize_t k
        if self.inner > 1:
            columns(self.xv, self.yv, self.L, self.inner, self.log_)
            return self.out
        for k in prange(self.xv.shape[0], nogil=True, schedule='static',
                        use_threads_if=self.xv.shape[0] * self.L >= PAR_MIN):
            if self.log_:
                log_softmax_line(&self.xv[k, 0], &self.yv[k, 0], self.L)
            else:
                softmax_line(&self.xv[k, 0], &self.yv[k, 0], self.L)
        return self.out


cdef Normalise normalise(x, int axis, out, bint log_):
    # x (..., L, ...) -> out (None: a new array) normalised along `axis`: rows (the last axis) one by one, else
    # columns of planes
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef Normalise k = Normalise.__new__(Normalise)
    k.L, k.inner, k.log_, k.out = x.shape[axis], math.prod(x.shape[axis + 1:]), log_, out
    k.xv, k.yv = x.reshape(-1, k.L * k.inner), out.reshape(-1, k.L * k.inner)
    return k


def softmax(x, int axis, out=None):
    """x (..., L, ...) -> y, normalised along `axis` (of length L)."""
    return normalise(x, axis, out, False)()


def log_softmax(x, int axis, out=None):
    """x (..., L, ...) -> x - log(sum exp(x)) along `axis` (of length L)."""
    return normalise(x, axis, out, True)()


def bind_softmax(x, int axis, out):
    """softmax of x into out, called with no arguments (None: x not contiguous)."""
    return normalise(x, axis, out, False) if x.flags.c_contiguous else None


def bind_log_softmax(x, int axis, out):
    """log_softmax of x into out, called with no arguments (None: x not contiguous)."""
    return normalise(x, axis, out, True) if x.flags.c_contiguous else None


cdef void moments(const float* x, Py_ssize_t n, double eps, double* mean, double* inv) noexcept nogil:
    # x (n) -> its mean and 1 / sqrt(variance + eps), two passes
    cdef double m = lane_sum(x, n, 0.0, LANE_PLAIN) / n
    mean[0] = m
    inv[0] = 1.0 / sqrt(lane_sum(x, n, <float>m, LANE_SQUARE) / n + eps)


cdef void layernorm_row(const float* x, const float* scale, const float* bias, Py_ssize_t L, double eps,
                        float* y) noexcept nogil:
    # x (L) -> y (L) = (x - mean) / sqrt(var + eps) * scale + bias (bias may be NULL)
    cdef double mean, inv
    cdef Py_ssize_t i
    cdef float m, k
    moments(x, L, eps, &mean, &inv)
    m, k = mean, inv
    if bias != NULL:
        for i in range(L):
            y[i] = (x[i] - m) * k * scale[i] + bias[i]
    else:
        for i in range(L):
            y[i] = (x[i] - m) * k * scale[i]


def layernorm(x, scale, bias, int axis, double eps, out=None):
    """x (..., L...) standardized over the axes from `axis` on, * scale (L...) + bias (L...)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef Py_ssize_t L = int(np.prod(x.shape[axis:])), o
    cdef const float[:, ::1] xv = x.reshape(-1, L)
    cdef float[:, ::1] yv = out.reshape(-1, L)
    cdef const float[::1] s = scale.reshape(L)
    cdef const float[::1] b = None if bias is None else bias.reshape(L)
    cdef const float* bp = &b[0] if b is not None else NULL
    cdef Py_ssize_t O = xv.shape[0]
    for o in prange(O, nogil=True, schedule='static', use_threads_if=O * L >= PAR_MIN):
        layernorm_row(&xv[o, 0], &s[0], bp, L, eps, &yv[o, 0])
    return out


cdef void group_row(const float* x, const float* scale, const float* bias, int CG, Py_ssize_t L, double eps,
                    float* y) noexcept nogil:
    # x (CG,L): one group standardized, channel j of it * scale[j] + bias[j]
    cdef double mean, inv
    cdef int j
    moments(x, CG * L, eps, &mean, &inv)
    for j in range(CG):
        affine_act(x + j * L, y + j * L, L, inv * scale[j], bias[j] - mean * inv * scale[j], IDENT)


def groupnorm(x, scale, bias, int groups, double eps, out=None):
    """x (N,C,...) standardized over each group of channels (and all of ...), * scale (C) + bias (C)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef int C = x.shape[1], CG = C // groups
    cdef const float[:, ::1] xv = x.reshape(x.shape[0] * groups, -1)
    cdef float[:, ::1] yv = out.reshape(x.shape[0] * groups, -1)
    cdef const float[::1] s = scale
    cdef const float[::1] b = bias
    cdef Py_ssize_t rows = xv.shape[0], L = xv.shape[1] // CG, r
    for r in prange(rows, nogil=True, schedule='static', use_threads_if=rows * L * CG >= PAR_MIN):
        group_row(&xv[r, 0], &s[r % groups * CG], &b[r % groups * CG], CG, L, eps, &yv[r, 0])
    return out


def instancenorm(x, scale, bias, double eps, out=None):
    """x (N,C,...) standardized over ... per image and channel, * scale (C) + bias (C)."""
    return groupnorm(x, scale, bias, x.shape[1], eps, out)
