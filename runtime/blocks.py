"""Unit blocks: the pieces a plan places on processors.

A block is a layer together with the elementwise and reshape ops that ride with it (its activation,
a residual add, a flatten). A conv or dense layer whose riders work channel by channel may also be cut
by output channels into slices that run on different processors at once (as CoDL and muLayer do);
`run_block` runs a block, or the slice [lo, hi) of its output channels, on the host kernels.
"""
from collections import ChainMap
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..boards.cost import Work
from ..models.execute import call_node
from ..models.graph import VIEW_OPS, Graph

RIDERS = ("activation", "add", "mul", "batchnorm", "reshape")
CHANNEL_RIDERS = ("activation", "add", "mul", "batchnorm")  # riders that a channel slice can take along
#: per splittable op, the inputs that hold output channels on axis 0 (weights and bias)
SLICED = {"dense": (1, 2), "dense_lowrank": (2, 3), "conv2d": (1, 2), "conv2d_lowrank": (2, 3),
          "conv2d_tucker2": (3, 4)}
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
        if node.op in RIDERS and sources:
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


def _splittable_channels(g: Graph, b: Block) -> int:
    head = b.nodes[0]
    if head.op not in SLICED or head.attrs.get("groups", 1) != 1:
        return 0
    out = g.shapes[head.outputs[0]]
    chain = head.outputs[0]
    for node in b.nodes[1:]:
        if node.op not in CHANNEL_RIDERS:
            return 0
        for t in node.inputs:
            if t and t != chain and not _channel_sliceable(g.shapes[t], out):
                return 0
        chain = node.outputs[0]
    return out[1] if out[1] >= MIN_SPLIT_CHANNELS else 0


def _channel_sliceable(shape, out) -> bool:
    return len(shape) == len(out) and shape[1] in (1, out[1])


def _slice_shapes(g: Graph, b: Block, lo: int, hi: int) -> dict:
    """Shapes of the tensors that change when the block computes output channels [lo, hi) only."""
    K, over = g.shapes[b.output][1], {}
    head = b.nodes[0]
    for i in SLICED[head.op]:
        if i < len(head.inputs) and head.inputs[i]:
            s = g.shapes[head.inputs[i]]
            over[head.inputs[i]] = (hi - lo,) + tuple(s[1:])
    for node in b.nodes:
        for t in [*node.inputs[1:], *node.outputs] if node is not head else node.outputs:
            s = g.shapes.get(t) if t else None
            if s is not None and len(s) >= 2 and s[1] == K and t not in over:
                over[t] = (s[0], hi - lo) + tuple(s[2:])
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


def run_block(g: Graph, b: Block, values: dict, backend: str, lo: int | None = None, hi: int | None = None):
    """The block's output (or its output channels [lo, hi)) computed from `values` with host kernels."""
    local = {}
    K = g.shapes[b.output][1] if lo is not None else None
    sliced = set(SLICED[b.nodes[0].op]) if lo is not None else set()
    for node in b.nodes:
        args = []
        for i, t in enumerate(node.inputs):
            x = local[t] if t in local else values[t] if t else None
            if lo is not None and x is not None:
                if node is b.nodes[0] and i in sliced:
                    x = x[lo:hi]
                elif node is not b.nodes[0] and t not in local and x.ndim >= 2 and x.shape[1] == K:
                    x = x[:, lo:hi]
            args.append(x)
        if lo is not None:  # channel slices of the block's inputs are strided views
            args = [np.ascontiguousarray(a) if a is not None else None for a in args]
        local[node.outputs[0]] = call_node(node, args, backend)
    return local[b.output]
