"""Static memory arenas: tensors with known lifetimes packed into one buffer per memory space.

`plan` places each tensor at an offset so that tensors alive at the same step never overlap
(greedy by size, as TFLite's arena planner does: the largest first, each at the lowest offset that fits
between the tensors already placed whose lifetimes overlap its own). Host arenas are numpy arrays; a device
arena is whatever the device backend's `arena` makes (one OpenCL buffer). Views of either are made once and
reused by every run.
"""
from dataclasses import dataclass

import numpy as np

from deepx.memory import empty_huge

ALIGN = 16  # floats (64 bytes): a cache line, and enough for any vector load


@dataclass(frozen=True)
class Item:
    id: int
    size: int  # floats
    first: int  # first step that writes or reads it
    last: int  # last step that reads it


@dataclass
class Layout:
    offsets: dict  # item id -> offset in floats
    size: int  # floats


def plan(items) -> Layout:
    """Offsets for `items` such that items alive at once never share memory."""
    placed, offsets, size = [], {}, 0
    for it in sorted(items, key=lambda i: (-i.size, i.first, i.id)):
        busy = sorted((offsets[p.id], offsets[p.id] + p.size) for p in placed
                      if p.first <= it.last and it.first <= p.last)
        at = 0
        for lo, hi in busy:
            if at + it.size <= lo:
                break
            at = max(at, _align(hi))
        offsets[it.id] = at
        placed.append(it)
        size = max(size, at + it.size)
    return Layout(offsets, _align(size))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def host_arena(size: int) -> np.ndarray:
    """`size` floats starting on a page boundary (so an OpenCL device can use the memory in place), on huge pages
    where Linux has them (deepx.memory.empty_huge)."""
    return empty_huge(size)


def view(arena: np.ndarray, offset: int, shape) -> np.ndarray:
    """The tensor of `shape` at `offset` floats into a host arena."""
    return arena[offset:offset + int(np.prod(shape))].reshape(shape)
