"""Unit blocks: the pieces a plan places on processors.

A block is a layer together with the elementwise and reshape ops that ride with it (its activation,
a residual add, a flatten). A conv or dense layer whose riders work channel by channel may also be cut
by output channels into slices that run on different processors at once (as CoDL and muLayer do);
`slice_axis` is the one rule for what such a slice reads, for the cost model here and the executor.
"""
from collections import ChainMap
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..boards.cost import Work
from ..models.graph import VIEW_OPS, Graph

MIN_SPLIT_CHANNELS = 8


@dataclass
class Block:
    name: str
    nodes: list
    output: str = ""
    inputs: list = field(default_factory=list)  # runtime tensors read from outside the block
    channels: int = 0  # output channels a split may divide (0: not splittable)


def make_blocks(g: Graph) -> list:
    """Cut `g` into unit blocks in topological order; riders join the block that made their latest input."""
    users = g.consumers()
    blocks, made_by = [], {}
    for node in g.nodes:
        sources = [made_by[t] for t in node.inputs if t in made_by]
        if (node.op in VIEW_OPS or kernels.OPS[node.op].rider) and sources:
            b = blocks[max(sources)]
            if b.output in node.inputs and len(users[b.output]) == 1 and b.output not in g.outputs:
                b.nodes.append(node)
                b.output = node.outputs[0]
                made_by[b.output] = max(sources)
                continue
        blocks.append(Block(node.name, [node], node.outputs[0]))
        made_by[node.outputs[0]] = len(blocks) - 1
    for b in blocks:
        inside = {n.outputs[0] for n in b.nodes}
        b.inputs = list(dict.fromkeys(t for n in b.nodes for t in n.inputs
                                      if t and t not in inside and t not in g.constants))
        b.channels = _splittable_channels(g, b)
    return blocks


def lacking(b: Block, backend: str) -> list:
    """The op types of the block that `backend` has no kernel for (the registry's capability check)."""
    return sorted({n.op for n in b.nodes if n.op not in VIEW_OPS and not kernels.supports(n.op, backend)})


def _splittable_channels(g: Graph, b: Block) -> int:
    head = b.nodes[0]
    if head.op in VIEW_OPS or not kernels.OPS[head.op].channel_inputs or head.attrs.get("groups", 1) != 1:
        return 0
    out = g.shapes[head.outputs[0]]
    chain = head.outputs[0]
    for node in b.nodes[1:]:
        if node.op in VIEW_OPS or not kernels.OPS[node.op].rider:
            return 0
        for t in node.inputs:
            if t and t != chain and not _channel_sliceable(g.shapes[t], out):
                return 0
        chain = node.outputs[0]
    return out[1] if out[1] >= MIN_SPLIT_CHANNELS else 0


def _channel_sliceable(shape, out) -> bool:
    return len(shape) == len(out) and shape[1] in (1, out[1])


def slice_axis(g: Graph, b: Block, node, i: int, inside) -> int | None:
    """The axis on which input `i` of `node` is cut when block `b` computes some of its output channels only:
    0 for the head's weights and bias, 1 for a tensor of the block's K output channels from outside the
    block (a residual, a per-channel constant); None when it is read whole, or made `inside` the block
    (already cut)."""
    t = node.inputs[i]
    if not t or t in inside:
        return None
    if node is b.nodes[0]:
        return 0 if i in kernels.OPS[node.op].channel_inputs else None
    s = g.shapes[t]
    return 1 if len(s) >= 2 and s[1] == g.shapes[b.output][1] else None


def _slice_shapes(g: Graph, b: Block, lo: int, hi: int) -> dict:
    """Shapes of the tensors that change when the block computes output channels [lo, hi) only."""
    over, inside = {}, set()
    for node in b.nodes:
        for i, t in enumerate(node.inputs):
            axis = slice_axis(g, b, node, i, inside)
            if axis is not None:
                s = list(g.shapes[t])
                s[axis] = hi - lo
                over[t] = tuple(s)
        s = g.shapes[node.outputs[0]]
        if len(s) >= 2 and s[1] == g.shapes[b.output][1]:
            over[node.outputs[0]] = (s[0], hi - lo) + tuple(s[2:])
        inside.add(node.outputs[0])
    return over


def works(g: Graph, b: Block, lo: int | None = None, hi: int | None = None) -> list:
    """The kernel calls of the block (or of its channel slice [lo, hi)) as cost-model work items."""
    view = g if lo is None else Graph(g.name, [], [], shapes=ChainMap(_slice_shapes(g, b, lo, hi), g.shapes))
    out = []
    for node in b.nodes:
        if node.op in VIEW_OPS:
            continue
        nbytes = 4 * sum(int(np.prod(view.shapes[t])) for t in [*node.inputs, *node.outputs] if t)
        out.append(Work(op_type(g, node), view.flops(node), nbytes))
    return out


def op_type(g: Graph, node) -> str:
    """The cost model's op type: the kernel family, or `depthwise` for a conv with one input channel per group."""
    if node.op == "conv2d" and node.attrs.get("groups", 1) > 1 and g.shapes[node.inputs[1]][1] == 1:
        return "depthwise"
    return kernels.OPS[node.op].family


def weight_bytes(g: Graph, b: Block, lo: int | None = None, hi: int | None = None) -> int:
    shapes = g.shapes if lo is None else ChainMap(_slice_shapes(g, b, lo, hi), g.shapes)
    return 4 * sum(int(np.prod(shapes[t])) for n in b.nodes for t in n.inputs if t in g.constants)


def tensor_bytes(g: Graph, name: str) -> int:
    return 4 * int(np.prod(g.shapes[name]))
