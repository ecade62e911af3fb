"""What an op is (`OpSpec`), and the helpers its check function shares with the other ops' checks.

Each reference module `deepx.kernels.ref.<family>` declares the `SPECS` of the ops it defines; the
registry gathers them into `kernels.OPS`. A check takes (op, tensors, attrs) and returns
(canonical attrs, output shape), or raises KernelError through `fail`.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import KernelError
from .common import CLIP, NAMED_ACTS, PARAMETRIC, Act, conv_out_size


def one_per_output(shapes, out, attrs) -> float:
    """FLOPs of an op doing one operation per output element."""
    return float(np.prod(out))


@dataclass(frozen=True)
class OpSpec:
    name: str
    tensors: tuple  # names of the tensor arguments; a trailing "?" marks an optional one (None)
    check: Callable  # (op, tensors, attrs) -> (canonical attrs, output shape)
    # (input shapes, None for an absent optional one; output shape; attrs) -> FLOPs, multiply-adds counting two
    flops: Callable = one_per_output
    # indices of the inputs holding output channels on axis 0 (weights, bias); () when the op cannot be split by them
    channel_inputs: tuple = ()
    in_place: bool = False  # the output may take the buffer of an input of the same shape that dies there
    rider: bool = False  # elementwise-ish: runs in the block of the op that made its input
    # the last tensor is an optional residual: a runtime tensor of the output's shape added before the activation
    # (the executor folds an add after the op into it)
    residual: bool = False
    family: str = ""  # the file name shared by all backends (the registry sets it from the reference module)


def _shapes(tensors):
    return ", ".join("None" if t is None else "x".join(map(str, t.shape)) or "scalar" for t in tensors)


def fail(op, tensors, why):
    raise KernelError(f"{op}: {why} (inputs {_shapes(tensors)})")


def parse_pair(op, tensors, name, value, default):
    """An int or a pair of ints (None: `default`) -> (int, int)."""
    value = default if value is None else value
    value = (value, value) if np.isscalar(value) else tuple(value)
    if len(value) != 2 or not all(isinstance(v, (int, np.integer)) for v in value):
        fail(op, tensors, f"{name} must be an int or a pair of ints, got {value}")
    return tuple(int(v) for v in value)


def parse_pads(op, tensors, pads):
    """None, one int, (vertical, horizontal) or (top, left, bottom, right) -> 4 ints >= 0."""
    pads = 0 if pads is None else pads
    if np.isscalar(pads):
        pads = (pads,) * 4
    pads = tuple(int(p) for p in pads)
    if len(pads) == 2:
        pads = pads * 2
    if len(pads) != 4:
        fail(op, tensors, f"pads must be 1, 2 or 4 ints (top, left, bottom, right), got {pads}")
    if min(pads) < 0:
        fail(op, tensors, f"negative padding {pads}")
    return pads


def parse_act(op, tensors, act):
    """A name of NAMED_ACTS (None: 'none') | (name, params...) of a PARAMETRIC kind, e.g. ('clip', lo, hi),
    ('leakyrelu', alpha) | Act -> Act."""
    if isinstance(act, Act):
        return act
    if act is None or isinstance(act, str):
        if (act or "none") not in NAMED_ACTS:
            fail(op, tensors, f"unknown activation {act!r} (one of {', '.join(NAMED_ACTS)}, clip)")
        return NAMED_ACTS[act or "none"]
    if isinstance(act, (tuple, list)) and len(act) in (2, 3) and act[0] in PARAMETRIC:
        default = NAMED_ACTS.get(act[0], Act(CLIP))
        params = [float(p) for p in act[1:]] + [default.hi] * (3 - len(act))
        if act[0] == "clip" and (len(act) != 3 or params[0] > params[1]):
            fail(op, tensors, f"clip takes (lo, hi) with lo <= hi, got {act!r}")
        if act[0] == "celu" and params[0] == 0:
            fail(op, tensors, "celu's alpha must not be 0")
        return Act(PARAMETRIC[act[0]], *params)
    fail(op, tensors, f"unknown activation {act!r}")


def parse_axis(op, tensors, axis, ndim):
    """An axis in [-ndim, ndim) -> the same axis in [0, ndim)."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        fail(op, tensors, f"axis {axis} out of range for rank {ndim}")
    return axis % ndim


def check_rank(op, tensors, name, t, ndim):
    if t.ndim != ndim:
        fail(op, tensors, f"{name} must have rank {ndim}, got shape {t.shape}")


def check_bias(op, tensors, b, k):
    """An optional bias b must be (k)."""
    if b is not None and b.shape != (k,):
        fail(op, tensors, f"bias must have shape ({k},), got {b.shape}")


def window_out(op, tensors, hw, kernel, stride, pads, dilation, ceil_mode=False):
    """(P, Q): the positions of a kernel window sliding over hw (H, W) padded by pads (top, left, bottom, right)."""
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        fail(op, tensors, f"kernel {kernel}, stride {stride} and dilation {dilation} must be >= 1")
    out = []
    for i in range(2):
        span = (kernel[i] - 1) * dilation[i] + 1
        if hw[i] + pads[i] + pads[i + 2] < span:
            fail(op, tensors, f"window {span} is larger than the padded input {hw[i] + pads[i] + pads[i + 2]}")
        out.append(conv_out_size(hw[i], kernel[i], stride[i], pads[i], pads[i + 2], dilation[i], ceil_mode))
    return tuple(out)
