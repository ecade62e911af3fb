"""Activations, broadcasting binary ops (arithmetic, min / max, comparisons and logic as 0/1, prelu) and where."""
import math

import numpy as np
from .. import common as c
from ..common import BINARY, emit
from ..spec import OpSpec, fail, parse_act


def erf(y):
    from scipy.special import erf  # imported when used: scipy.special takes a while to import

    return erf(y)


def _softplus(y):
    return np.logaddexp(0.0, y)


def _neg_part(y, f):
    # f(y) where y < 0, y elsewhere (f of the negative part only, so exp never overflows)
    return np.where(y < 0, f(np.minimum(y, 0.0)), y)


_FUNCTIONS = {
    c.CLIP: lambda y, lo, hi: np.clip(y, lo, hi),
    c.SIGMOID: lambda y, lo, hi: 0.5 * (1.0 + np.tanh(0.5 * y)),
    c.TANH: lambda y, lo, hi: np.tanh(y),
    c.HARDSIGMOID: lambda y, lo, hi: np.clip(lo * y + hi, 0.0, 1.0),
    c.HARDSWISH: lambda y, lo, hi: y * np.clip(lo * y + hi, 0.0, 1.0),
    c.LEAKYRELU: lambda y, lo, hi: np.where(y < 0, lo * y, y),
    c.ELU: lambda y, lo, hi: _neg_part(y, lambda v: lo * np.expm1(v)),
    c.SELU: lambda y, lo, hi: hi * _neg_part(y, lambda v: lo * np.expm1(v)),
    c.CELU: lambda y, lo, hi: _neg_part(y, lambda v: lo * np.expm1(v / lo)),
    c.THRESHOLDEDRELU: lambda y, lo, hi: np.where(y > lo, y, 0.0),
    c.SOFTPLUS: lambda y, lo, hi: _softplus(y),
    c.SOFTSIGN: lambda y, lo, hi: y / (1.0 + np.abs(y)),
    c.GELU: lambda y, lo, hi: 0.5 * y * (1.0 + erf(y / math.sqrt(2.0))),
    c.GELU_TANH: lambda y, lo, hi: 0.5 * y * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (y + 0.044715 * y ** 3))),
    c.MISH: lambda y, lo, hi: y * np.tanh(_softplus(y)),
    c.SILU: lambda y, lo, hi: y * 0.5 * (1.0 + np.tanh(0.5 * y)),
    c.EXP: lambda y, lo, hi: np.exp(y),
    c.LOG: lambda y, lo, hi: np.log(y),
    c.NEG: lambda y, lo, hi: -y,
    c.ABS: lambda y, lo, hi: np.abs(y),
    c.SQRT: lambda y, lo, hi: np.sqrt(y),
    c.RECIPROCAL: lambda y, lo, hi: 1.0 / y,
    c.ERF: lambda y, lo, hi: erf(y),
    c.FLOOR: lambda y, lo, hi: np.floor(y),
    c.CEIL: lambda y, lo, hi: np.ceil(y),
    c.NOT: lambda y, lo, hi: (y == 0).astype(np.float64),
}


def apply_act(y, act):
    """y (any shape) -> act(y), in float64."""
    if act.kind == c.NONE:
        return y
    with np.errstate(all="ignore"):
        return _FUNCTIONS[act.kind](y, act.lo, act.hi)


def activation(x, act, out=None):
    return emit(apply_act(x.astype(np.float64), act), out)


def _prelu(a, b):
    return np.where(a < 0, a * b, a)


_BINARY = {
    "add": np.add, "mul": np.multiply, "sub": np.subtract, "div": np.divide, "pow": np.power,
    "minimum": np.minimum, "maximum": np.maximum, "equal": np.equal, "less": np.less, "greater": np.greater,
    "less_equal": np.less_equal, "greater_equal": np.greater_equal,
    "logical_and": lambda a, b: (a != 0) & (b != 0), "logical_or": lambda a, b: (a != 0) | (b != 0),
    "logical_xor": lambda a, b: (a != 0) ^ (b != 0), "prelu": _prelu,
}


def _binary_op(name):
    fn = _BINARY[name]

    def op(a, b, act, out=None):
        # a, b broadcast (numpy rules) -> act(a `name` b), comparisons and logic as 0/1
        with np.errstate(all="ignore"):
            y = fn(a.astype(np.float64), b.astype(np.float64)).astype(np.float64)
        return emit(apply_act(y, act), out)

    op.__name__ = op.__qualname__ = name
    return op


add, mul, sub, div, pow, minimum, maximum, equal, less, greater, less_equal, greater_equal, logical_and, \
    logical_or, logical_xor, prelu = (_binary_op(n) for n in BINARY)


def where(cond, x, y, out=None):
    # cond (0/1 mask), x, y broadcast (numpy rules) -> x where cond != 0, else y
    return emit(np.where(cond != 0, x, y), out)


def _broadcast(op, t):
    try:
        return np.broadcast_shapes(*(x.shape for x in t))
    except ValueError:
        fail(op, t, "shapes do not broadcast")


def _check_binary(op, t, a):
    shape = _broadcast(op, t)
    if op == "prelu" and shape != t[0].shape:
        fail(op, t, "the slope must broadcast to x's shape (unidirectional)")
    return dict(act=parse_act(op, t, a.get("act"))), shape


def _check_where(op, t, a):
    return {}, _broadcast(op, t)


def _check_activation(op, t, a):
    return dict(act=parse_act(op, t, a.get("act"))), t[0].shape


ORDER = 4  # the family's place in kernels.OPS
SPECS = tuple(OpSpec(n, ("a", "b"), _check_binary, in_place=True, rider=True) for n in BINARY) + (
    OpSpec("activation", ("x",), _check_activation, in_place=True, rider=True),
    OpSpec("where", ("cond", "x", "y"), _check_where, in_place=True, rider=True),
)
