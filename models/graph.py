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

    def with_batch(self, n: int) -> "Graph":
        """A copy that runs n samples at once: the inputs' leading dimension, and that of reshapes which kept
        the batch, set to n (ModelError where the shapes then do not check)."""
        b = self.shapes[self.inputs[0]][0]
        g = Graph(self.name, list(self.inputs), list(self.outputs), [], dict(self.shapes), self.constants)
        for name in self.inputs:
            if self.shapes[name][0] != b:
                raise ModelError(f"inputs {self.inputs} do not share a batch dimension")
            g.shapes[name] = (n,) + tuple(self.shapes[name][1:])
        for node in self.nodes:
            shape = node.attrs.get("shape") if node.op == "reshape" else None
            if shape and shape[0] == b:
                node = Node(node.name, node.op, node.inputs, node.outputs, {**node.attrs, "shape": (n, *shape[1:])})
            g.nodes.append(node)
        g.infer_shapes()
        for node in g.nodes:
            if node.op == "reshape" and np.prod(g.shapes[node.inputs[0]]) != np.prod(node.attrs["shape"]):
                raise ModelError(f"node {node.name!r}: its reshape to {node.attrs['shape']} does not follow the batch")
        return g

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
        """The node's OpSpec.flops (multiply-adds count twice; other ops one per output element); views none."""
        if node.op in VIEW_OPS:
            return 0.0
        shapes = [self.shapes[n] if n else None for n in node.inputs]
        return kernels.OPS[node.op].flops(shapes, self.shapes[node.outputs[0]], node.attrs)

    def summary(self) -> dict:
        return dict(nodes=len(self.nodes), flops=sum(self.flops(n) for n in self.nodes),
                    param_bytes=sum(v.nbytes for v in self.constants.values()))
