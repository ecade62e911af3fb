"""The graph IR: nodes are kernel ops (deepx.kernels.OPS) or `reshape`; every tensor has a static shape.

Constants (weights) are tensors too: `Graph.constants` holds their values, `Graph.shapes` every
tensor's shape. Nodes are kept in a topological order.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..errors import DeepxError

VIEW_OPS = ("reshape",)  # no compute: the output is the input with another shape


class ModelError(DeepxError):
    """A model that cannot be imported, checked or run: the message names the file, node or tensor."""


@dataclass
class Node:
    name: str
    op: str
    inputs: list  # tensor names; "" for an absent optional input
    outputs: list
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    inputs: list  # names of the runtime inputs
    outputs: list
    nodes: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)  # tensor name -> shape tuple
    constants: dict = field(default_factory=dict)  # tensor name -> float32 array

    def tensor(self, name):
        """A constant's value, or an uninitialised stand-in of the tensor's shape (for shape checks)."""
        if not name:
            return None
        if name in self.constants:
            return self.constants[name]
        return np.empty(self.shapes[name], np.float32)  # untouched pages: no real memory

    def node_output_shape(self, node: Node) -> tuple:
        if node.op == "reshape":
            return tuple(node.attrs["shape"])
        tensors = [self.tensor(n) for n in node.inputs]
        if node.op == "concat":
            tensors = [tensors]
        return kernels.check(node.op, tensors, node.attrs)[2]

    def infer_shapes(self):
        """Check every node and record the shape of every tensor it makes."""
        for node in self.nodes:
            try:
                self.shapes[node.outputs[0]] = self.node_output_shape(node)
            except DeepxError as e:
                raise ModelError(f"node {node.name!r}: {e}") from None

    def toposort(self):
        """Order nodes so that each comes after the producers of its inputs."""
        producer = {o: n for n in self.nodes for o in n.outputs}
        order, state = [], {}

        def visit(node):
            if state.get(id(node)) == "done":
                return
            if state.get(id(node)) == "open":
                raise ModelError(f"graph {self.name!r} has a cycle through node {node.name!r}")
            state[id(node)] = "open"
            for name in node.inputs:
                if name in producer:
                    visit(producer[name])
            state[id(node)] = "done"
            order.append(node)

        for node in self.nodes:
            visit(node)
        self.nodes = order

    def consumers(self) -> dict:
        """tensor name -> nodes that read it."""
        users = {}
        for node in self.nodes:
            for name in node.inputs:
                users.setdefault(name, []).append(node)
        return users

    def prune(self):
        """Drop nodes whose outputs nobody reads, and constants no node reads."""
        needed = set(self.outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(o in needed for o in node.outputs):
                kept.append(node)
                needed.update(node.inputs)
        self.nodes = kept[::-1]
        self.constants = {k: v for k, v in self.constants.items() if k in needed}

    def flops(self, node: Node) -> float:
        """Multiply-adds count twice; other ops one per output element, views none."""
        out = self.shapes[node.outputs[0]]
        x, w = self.shapes[node.inputs[0]], [self.shapes[n] for n in node.inputs[1:] if n]
        size = float(np.prod(out))
        if node.op == "conv2d":
            return 2.0 * size * float(np.prod(w[0][1:]))
        if node.op == "dense":
            return 2.0 * size * w[0][1]
        if node.op == "dense_lowrank":  # x (N,M) v (r,M) u (K,r)
            return 2.0 * x[0] * w[0][0] * (w[0][1] + w[1][0])
        pixels = float(out[0] * out[2] * out[3]) if len(out) == 4 else 0.0
        if node.op == "conv2d_lowrank":  # w1 (r,C,R,S) w2 (K,r,1,1)
            return 2.0 * pixels * w[0][0] * (float(np.prod(w[0][1:])) + w[1][0])
        if node.op == "conv2d_tucker2":  # w_in (r1,C,1,1) w_core (r2,r1,R,S) w_out (K,r2,1,1)
            return 2.0 * (float(np.prod(x)) * w[0][0] + pixels * w[1][0] * (float(np.prod(w[1][1:])) + w[2][0]))
        return 0.0 if node.op in VIEW_OPS else size

    def summary(self) -> dict:
        return dict(nodes=len(self.nodes), flops=sum(self.flops(n) for n in self.nodes),
                    param_bytes=sum(v.nbytes for v in self.constants.values()))
