"""Pieces every backend shares: fused-activation codes, output-shape rules, the `out=` convention."""
import functools
import math
from typing import NamedTuple

import numpy as np

from ..errors import KernelError

# fused activation kinds (ints, so compiled kernels take them as they are)
NONE, CLIP, SIGMOID, TANH = 0, 1, 2, 3
HARDSIGMOID, HARDSWISH, LEAKYRELU, ELU, SELU, CELU, THRESHOLDEDRELU = 4, 5, 6, 7, 8, 9, 10
SOFTPLUS, SOFTSIGN, GELU, GELU_TANH, MISH, SILU = 11, 12, 13, 14, 15, 16
EXP, LOG, NEG, ABS, SQRT, RECIPROCAL, ERF, FLOOR, CEIL, NOT = 17, 18, 19, 20, 21, 22, 23, 24, 25, 26


class Act(NamedTuple):
    """A fused activation y = f(v); lo and hi are the kind's parameters (unused ones stay -inf, inf):
    CLIP keeps v in [lo, hi] (relu: [0, inf), relu6: [0, 6]); HARDSIGMOID max(0, min(1, lo*v + hi)) and
    HARDSWISH v * hardsigmoid(v) (alpha lo, beta hi); LEAKYRELU v < 0: lo*v; ELU v < 0: lo*(exp(v) - 1);
    SELU hi * (v > 0 ? v : lo*(exp(v) - 1)); CELU max(0, v) + min(0, lo*(exp(v/lo) - 1));
    THRESHOLDEDRELU v > lo ? v : 0; the rest have none: SIGMOID, TANH, SOFTPLUS log(1 + exp(v)),
    SOFTSIGN v / (1 + |v|), GELU (erf form), GELU_TANH (tanh form), MISH v * tanh(softplus(v)),
    SILU v * sigmoid(v), EXP, LOG, NEG, ABS, SQRT, RECIPROCAL, ERF, FLOOR, CEIL, NOT (v == 0: 1, else 0)."""

    kind: int = NONE
    lo: float = -math.inf
    hi: float = math.inf


IDENTITY = Act()
NAMED_ACTS = {
    "none": IDENTITY,
    "relu": Act(CLIP, 0.0, math.inf),
    "relu6": Act(CLIP, 0.0, 6.0),
    "sigmoid": Act(SIGMOID),
    "tanh": Act(TANH),
    "hardsigmoid": Act(HARDSIGMOID, 0.2, 0.5),
    "hardswish": Act(HARDSWISH, 1.0 / 6.0, 0.5),
    "leakyrelu": Act(LEAKYRELU, 0.01),
    "elu": Act(ELU, 1.0),
    "selu": Act(SELU, 1.6732632423543772, 1.0507009873554805),
    "celu": Act(CELU, 1.0),
    "thresholdedrelu": Act(THRESHOLDEDRELU, 1.0),
    "softplus": Act(SOFTPLUS),
    "softsign": Act(SOFTSIGN),
    "gelu": Act(GELU),
    "gelu_tanh": Act(GELU_TANH),
    "mish": Act(MISH),
    "silu": Act(SILU),
    "exp": Act(EXP),
    "log": Act(LOG),
    "neg": Act(NEG),
    "abs": Act(ABS),
    "sqrt": Act(SQRT),
    "reciprocal": Act(RECIPROCAL),
    "erf": Act(ERF),
    "floor": Act(FLOOR),
    "ceil": Act(CEIL),
    "not": Act(NOT),
}
# broadcasting binary ops, in the order of their op codes in the compiled kernels (comparisons and logic give 0/1)
BINARY = ("add", "mul", "sub", "div", "pow", "minimum", "maximum", "equal", "less", "greater", "less_equal",
          "greater_equal", "logical_and", "logical_or", "logical_xor", "prelu")
# kinds whose parameters a name followed by numbers sets: ("leakyrelu", 0.1), ("selu", alpha, gamma), ("clip", lo, hi)
PARAMETRIC = {"clip": CLIP, "hardsigmoid": HARDSIGMOID, "hardswish": HARDSWISH, "leakyrelu": LEAKYRELU,
              "elu": ELU, "selu": SELU, "celu": CELU, "thresholdedrelu": THRESHOLDEDRELU}


def binary_kernels(run) -> tuple:
    """One kernel per op of BINARY, in its order, each `op(a, b, act, out=None)` = run(its code, a, b, act, out)."""
    def kernel(code, name):
        def op(a, b, act, out=None):
            # a, b broadcast (numpy rules) -> act(a `name` b)
            return run(code, a, b, act, out)

        op.__name__ = op.__qualname__ = name
        return op

    return tuple(kernel(code, name) for code, name in enumerate(BINARY))


def conv_out_size(size: int, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int,
                  ceil_mode: bool = False) -> int:
    """Output length of a conv/pool window sliding over `size` (PyTorch/ONNX Runtime rule)."""
    span = size + pad_begin + pad_end - ((k - 1) * dilation + 1)
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window would start inside the end padding
    return out


def emit(y: np.ndarray, out):
    """Return `y` as float32, written into `out` when the caller gave a buffer."""
    if out is None:
        return np.ascontiguousarray(y, dtype=np.float32).reshape(np.shape(y))  # a 0-d y stays 0-d
    out[...] = y
    return out


def merge_axes(shape, strides, rank: int, backend: str):
    """Drop size-1 axes and merge axes contiguous in every operand, then pad on the left to `rank`.

    shape (d), strides: per operand, (d) element strides (0 on a broadcast axis)
    -> (shape (rank), [strides (rank)] per operand); KernelError past `rank` merged axes.
    """
    merged = []
    for i, n in enumerate(shape):
        st = [s[i] for s in strides]
        if n == 1:
            continue
        if merged and all(ps == s * n for ps, s in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * n, st)
        else:
            merged.append((n, st))
    if len(merged) > rank:
        raise KernelError(f"{backend} strided kernels take at most {rank} merged axes, got shape {tuple(shape)}")
    merged = [(1, [0] * len(strides))] * (rank - len(merged)) + merged
    return [n for n, _ in merged], [[st[k] for _, st in merged] for k in range(len(strides))]


@functools.lru_cache(maxsize=1024)
def broadcast_shape(*shapes) -> tuple:
    """np.broadcast_shapes, cached per shapes: numpy's costs 30 µs a call when its code has left the caches, as it
    has between a model's steps (two 4-D shapes, measured)."""
    return np.broadcast_shapes(*shapes)


@functools.lru_cache(maxsize=1024)
def broadcast_plan(shapes: tuple, strides: tuple, rank: int, backend: str):
    """Operands of `shapes` and element `strides` broadcast together (numpy rules), cached per shapes and strides:
    (the broadcast shape, its merged dims (rank), [merged element strides (rank)] per operand), as `merge_axes`."""
    shape = broadcast_shape(*shapes)
    el = [[0] * (len(shape) - len(s)) + [0 if n == 1 else k for n, k in zip(s, ks)] for s, ks in zip(shapes, strides)]
    return (shape, *merge_axes(shape, el, rank, backend))
