"""Activations and broadcasting add / mul."""
import numpy as np

from ..common import CLIP, SIGMOID, TANH, emit
from ..spec import OpSpec, fail, parse_act


def apply_act(y, act):
    """y (any shape) -> act(y), in float64."""
    if act.kind == CLIP:
        return np.clip(y, act.lo, act.hi)
    if act.kind == SIGMOID:
        return 1.0 / (1.0 + np.exp(-y))
    if act.kind == TANH:
        return np.tanh(y)
    return y


def activation(x, act, out=None):
    return emit(apply_act(x.astype(np.float64), act), out)


def add(a, b, act, out=None):
    # a, b broadcast (numpy rules) -> y
    return emit(apply_act(a.astype(np.float64) + b, act), out)


def mul(a, b, act, out=None):
    return emit(apply_act(a.astype(np.float64) * b, act), out)


def _check_binary(op, t, a):
    try:
        shape = np.broadcast_shapes(t[0].shape, t[1].shape)
    except ValueError:
        fail(op, t, "shapes do not broadcast")
    return dict(act=parse_act(op, t, a.get("act"))), shape


def _check_activation(op, t, a):
    return dict(act=parse_act(op, t, a.get("act"))), t[0].shape


ORDER = 4  # the family's place in kernels.OPS
SPECS = (
    OpSpec("add", ("a", "b"), _check_binary, in_place=True, rider=True),
    OpSpec("mul", ("a", "b"), _check_binary, in_place=True, rider=True),
    OpSpec("activation", ("x",), _check_activation, in_place=True, rider=True),
)
