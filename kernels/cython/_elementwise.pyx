"""Activations, broadcasting binary ops and where: strided loops over merged axes, row by row."""
from cython.parallel cimport prange
from libc.math cimport powf, sqrtf

import numpy as np

from deepx.kernels.common import BINARY, broadcast_plan

from kernels.cython._common cimport MAXD, NONE, PAR_MIN, ActC, affine_act, as_act, row_offset

cdef enum:
    BLOCK = 4096  # elements per parallel chunk of a flat loop

# op codes: the order of kernels.common.BINARY
cdef enum:
    ADD, MUL, SUB, DIV, POW, MIN, MAX, EQ, LT, GT, LE, GE, AND, OR, XOR, PRELU


cdef inline float pow1(float u, float v) noexcept nogil:
    # the exponents of real networks without a call to pow
    if v == 2:
        return u * u
    if v == 3:
        return u * u * u
    if v == 0.5:
        return sqrtf(u)
    if v == 1:
        return u
    return powf(u, v)


cdef inline float bin1(float u, float v, int op) noexcept nogil:
    # u `op` v; comparisons and logic as 0/1
    if op == ADD:
        return u + v
    if op == MUL:
        return u * v
    if op == SUB:
        return u - v
    if op == DIV:
        return u / v
    if op == POW:
        return pow1(u, v)
    if op == MIN:
        return u if u < v else v
    if op == MAX:
        return u if u > v else v
    if op == PRELU:
        return u if u >= 0 else u * v
    if op == EQ:
        return u == v
    if op == LT:
        return u < v
    if op == GT:
        return u > v
    if op == LE:
        return u <= v
    if op == GE:
        return u >= v
    if op == AND:
        return u != 0 and v != 0
    if op == OR:
        return u != 0 or v != 0
    return (u != 0) != (v != 0)


cdef void contiguous_row(const float* a, const float* b, float* y, Py_ssize_t n,
                         int op) noexcept nogil:
    # y (n) = a (n) `op` b (n): the common ops get loops of their own (vectorized)
    cdef Py_ssize_t i
    if op == ADD:
        for i in range(n):
            y[i] = a[i] + b[i]
    elif op == MUL:
        for i in range(n):
            y[i] = a[i] * b[i]
    elif op == SUB:
        for i in range(n):
            y[i] = a[i] - b[i]
    elif op == DIV:
        for i in range(n):
            y[i] = a[i] / b[i]
    elif op == MIN:
        for i in range(n):
            y[i] = a[i] if a[i] < b[i] else b[i]
    elif op == MAX:
        for i in range(n):
            y[i] = a[i] if a[i] > b[i] else b[i]
    else:
        for i in range(n):
            y[i] = bin1(a[i], b[i], op)


cdef void scalar_row(const float* a, float s, float* y, Py_ssize_t n, int op,
                     bint first) noexcept nogil:
    # y (n) = a (n) `op` s, or s `op` a (n) when `first` (a constant divisor or exponent:
    # real networks' Div and Pow; 1 - x, 1 / x)
    cdef Py_ssize_t i
    if first:
        if op == SUB:
            for i in range(n):
                y[i] = s - a[i]
        elif op == DIV:
            for i in range(n):
                y[i] = s / a[i]
        else:
            for i in range(n):
                y[i] = bin1(s, a[i], op)
    elif op == SUB:
        for i in range(n):
            y[i] = a[i] - s
    elif op == DIV:
        for i in range(n):
            y[i] = a[i] / s
    elif op == MIN:
        for i in range(n):
            y[i] = a[i] if a[i] < s else s
    elif op == MAX:
        for i in range(n):
            y[i] = a[i] if a[i] > s else s
    elif op == POW and s == 2:
        for i in range(n):
            y[i] = a[i] * a[i]
    elif op == POW and s == 0.5:
        for i in range(n):
            y[i] = sqrtf(a[i])
    else:
        for i in range(n):
            y[i] = bin1(a[i], s, op)


cdef void binary_row(const float* a, const float* b, float* y, Py_ssize_t n, Py_ssize_t sa,
                     Py_ssize_t sb, int op, ActC act) noexcept nogil:
    # y (n) = act(a[i*sa] `op` b[i*sb])
    cdef Py_ssize_t i
    if (op == ADD or op == MUL) and sa == 1 and sb == 0:
        affine_act(a, y, n, b[0] if op == MUL else 1.0, 0.0 if op == MUL else b[0], act)
        return
    if (op == ADD or op == MUL) and sa == 0 and sb == 1:
        affine_act(b, y, n, a[0] if op == MUL else 1.0, 0.0 if op == MUL else a[0], act)
        return
    if sa == 1 and sb == 1:
        contiguous_row(a, b, y, n, op)
    elif sa == 1 and sb == 0:
        scalar_row(a, b[0], y, n, op, False)
    elif sa == 0 and sb == 1:
        scalar_row(b, a[0], y, n, op, True)
    else:
        for i in range(n):
            y[i] = bin1(a[i * sa], b[i * sb], op)
    if act.kind != NONE:
        affine_act(y, y, n, 1.0, 0.0, act)


def _broadcast(*tensors):
    # the tensors broadcast together: (shape, merged dims, [merged element strides] per tensor), cached
    return broadcast_plan(tuple(t.shape for t in tensors), tuple(tuple(s // 4 for s in t.strides) for t in tensors),
                          MAXD, "cython")


cdef class Binary:
    """a `op` b (broadcast, numpy rules) -> act(y) of arrays planned once (merged axes and strides), run when
    called with no arguments (the executor binds its steps: kernels.bind)."""
    cdef tuple keep  # the arrays, alive while planned
    cdef Py_ssize_t shp[MAXD]
    cdef Py_ssize_t sa[MAXD]
    cdef Py_ssize_t sb[MAXD]
    cdef const float* a
    cdef const float* b
    cdef float* y
    cdef Py_ssize_t size
    cdef int op
    cdef ActC act

    def __call__(self):
        # rows of the last axis, cut in pieces of BLOCK so that a few long rows still share the threads
        cdef Py_ssize_t n = self.shp[MAXD - 1], rows = self.size // n if self.size else 0, t, r, lo
        cdef Py_ssize_t pieces = (n + BLOCK - 1) // BLOCK
        for t in prange(rows * pieces, nogil=True, schedule='static', use_threads_if=self.size >= PAR_MIN):
            r = t // pieces
            lo = t % pieces * BLOCK
            binary_row(self.a + row_offset(r, self.shp, self.sa) + lo * self.sa[MAXD - 1],
                       self.b + row_offset(r, self.shp, self.sb) + lo * self.sb[MAXD - 1], self.y + r * n + lo,
                       min(BLOCK, n - lo), self.sa[MAXD - 1], self.sb[MAXD - 1], self.op, self.act)


cdef Binary binary_plan(a, b, act, out, int op):
    # a, b broadcast -> out (None: a new contiguous array), planned
    same = a.shape == b.shape and a.flags.c_contiguous and b.flags.c_contiguous  # a residual add: one flat row
    if same:
        shape, dims, st_a = a.shape, [1] * (MAXD - 1) + [a.size], [0] * (MAXD - 1) + [1]
        st_b = st_a
    else:
        shape, dims, (st_a, st_b) = _broadcast(a, b)
    if out is None:
        out = np.empty(shape, np.float32)
    cdef Binary k = Binary.__new__(Binary)
    for d in range(MAXD):
        k.shp[d], k.sa[d], k.sb[d] = dims[d], st_a[d], st_b[d]
    k.keep, k.size, k.op, k.act = (a, b, out), out.size, op, as_act(act)
    if k.size:
        av, bv = a.reshape(-1), b.reshape(-1)
        k.keep += (av, bv)
        k.a, k.b, k.y = _ptr(av), _ptr(bv), _ptr(out.reshape(-1))
    return k


cdef float* _ptr(x) except NULL:
    # the data of a contiguous float32 array (a constant operand may be read-only: it is only read)
    cdef const float[::1] v = x
    return <float*>&v[0]


def _binary_op(name):
    cdef int code = BINARY.index(name)

    def op(a, b, act, out=None):
        k = binary_plan(a, b, act, out, code)
        k()
        return k.keep[2]

    def bind(a, b, act, out):
        return binary_plan(a, b, act, out, code) if a.flags.c_contiguous and b.flags.c_contiguous else None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"a {name} b (broadcast) -> act(y)."
    bind.__name__ = bind.__qualname__ = f"bind_{name}"
    bind.__doc__ = f"{name} of these arrays into out, called with no arguments (None: not contiguous)."
    return op, bind


_binary = [_binary_op(n) for n in BINARY]
add, mul, sub, div, pow, minimum, maximum, equal, less, greater, less_equal, greater_equal, \
    logical_and, logical_or, logical_xor, prelu = [op for op, _ in _binary]
bind_add, bind_mul, bind_sub, bind_div, bind_pow, bind_minimum, bind_maximum, bind_equal, bind_less, bind_greater, \
    bind_less_equal, bind_greater_equal, bind_logical_and, bind_logical_or, bind_logical_xor, bind_prelu = \
    [bind for _, bind in _binary]


def where(cond, x, y, out=None):
    """cond (0/1), x, y broadcast (numpy rules) -> x where cond != 0, else y."""
    shape, dims, st = _broadcast(cond, x, y)
    if out is None:
        out = np.empty(shape, np.float32)
    if out.size == 0:
        return out
    cdef Py_ssize_t shp[MAXD]
    cdef Py_ssize_t s[3][MAXD]
    for d in range(MAXD):
        shp[d] = dims[d]
        for k in range(3):
            s[k][d] = st[k][d]
    cdef const float[::1] cv = cond.reshape(-1)
    cdef const float[::1] xv = x.reshape(-1)
    cdef const float[::1] yv = y.reshape(-1)
    cdef float[::1] ov = out.reshape(-1)
    cdef Py_ssize_t n = shp[MAXD - 1], rows = ov.shape[0] // n, r, i
    cdef const float* cp
    cdef const float* xp
    cdef const float* yp
    for r in prange(rows, nogil=True, schedule='static', use_threads_if=rows * n >= PAR_MIN):
        cp = &cv[0] + row_offset(r, shp, s[0])
        xp = &xv[0] + row_offset(r, shp, s[1])
        yp = &yv[0] + row_offset(r, shp, s[2])
        for i in range(n):
            ov[r * n + i] = (xp[i * s[1][MAXD - 1]] if cp[i * s[0][MAXD - 1]] != 0
                             else yp[i * s[2][MAXD - 1]])
    return out


def activation(x, act, out=None):
    """x (any) -> act(x)."""
    if out is None:
        out = np.empty(x.shape, np.float32)
    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef Py_ssize_t n = xv.shape[0], blocks = (n + BLOCK - 1) // BLOCK, k
    cdef ActC a = as_act(act)
    for k in prange(blocks, nogil=True, schedule='static', use_threads_if=n >= PAR_MIN):
        affine_act(&xv[k * BLOCK], &yv[k * BLOCK], min(BLOCK, n - k * BLOCK), 1.0, 0.0, a)
    return out
