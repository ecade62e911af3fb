"""Activations and broadcasting add / mul (axes merged, then one strided loop per output row)."""
import numba
import numpy as np

from .common import act1, act_args, elem_strides, jit, merged, out_array, row_offset

ADD, MUL = 0, 1


@jit(parallel=True)
def _binary(a, sa, b, sb, shape, op, kind, lo, hi, y):
    # a, b flat with element strides sa, sb over `shape` (rank MAX_RANK, 0 = broadcast) -> y flat
    inner = shape[-1]
    for row in numba.prange(y.shape[0] // inner):
        ia, ib = row_offset(row, shape, sa), row_offset(row, shape, sb)
        ja, jb = sa[-1], sb[-1]
        base = np.int64(row) * inner
        for i in range(inner):
            u, v = a[ia + i * ja], b[ib + i * jb]
            y[base + i] = act1(u + v if op == ADD else u * v, kind, lo, hi)


@jit(parallel=True)
def _activation(x, kind, lo, hi, y):
    # x flat -> act(x) -> y flat
    for i in numba.prange(x.shape[0]):
        y[i] = act1(x[i], kind, lo, hi)


def _run(op, a, b, act, out):
    shape = np.broadcast_shapes(a.shape, b.shape)
    y = out_array(out, shape)
    if y.size:
        dims, (sa, sb) = merged(shape, elem_strides(a, shape), elem_strides(b, shape))
        _binary(a.reshape(-1), sa, b.reshape(-1), sb, dims, op, *act_args(act), y.reshape(-1))
    return y


def add(a, b, act, out=None):
    # a, b broadcast (numpy rules) -> act(a + b)
    return _run(ADD, a, b, act, out)


def mul(a, b, act, out=None):
    # a, b broadcast (numpy rules) -> act(a * b)
    return _run(MUL, a, b, act, out)


def activation(x, act, out=None):
    # x (any) -> act(x)
    y = out_array(out, x.shape)
    _activation(x.reshape(-1), *act_args(act), y.reshape(-1))
    return y
