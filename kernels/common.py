"""Pieces every backend shares: fused-activation codes, output-shape rules, the `out=` convention."""
import math
from typing import NamedTuple

import numpy as np

from ..errors import KernelError

# fused activation kinds (ints, so compiled kernels take them as they are)
NONE, CLIP, SIGMOID, TANH = 0, 1, 2, 3


class Act(NamedTuple):
    """A fused activation: CLIP keeps y in [lo, hi] (relu: [0, inf), relu6: [0, 6])."""

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
}


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
        return np.ascontiguousarray(y, dtype=np.float32)
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
