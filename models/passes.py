"""Graph passes over the IR, run after import, each rewriting a Graph in place: batchnorm and per-channel
mul / add folded into the conv2d (or batchnorm) before them, activations fused into their producer, chains of
bias- and activation-free layers fused into low-rank ops."""
import numpy as np

from ..kernels.common import BINARY, IDENTITY
from .graph import Graph, Node

# ops with an `act` attribute: an activation after one of them can join it
FUSABLE = ("conv2d", "dense", "dense_lowrank", "conv2d_lowrank", "conv2d_tucker2", "conv_transpose2d",
           "batchnorm") + BINARY


def _foldable(g: Graph, name: str, users, producer, ops=("conv2d",)):
    """The node (of one of `ops`) that makes tensor `name`, when a following per-channel op can fold into it:
    no activation, `name` read by one node only and not a graph output."""
    node = producer.get(name)
    if node is None or node.op not in ops or node.attrs["act"] != IDENTITY or len(users[name]) != 1 \
            or name in g.outputs:
        return None
    return node


def _take_over(g: Graph, node, tail, constants: dict):
    """node takes over tail's outputs and activation, with its constant inputs replaced by `constants`
    (input index -> float64 array) under new names."""
    for i, value in constants.items():
        name = f"{tail.outputs[0]}/folded{i}"
        g.constants[name], g.shapes[name] = value.astype(np.float32), value.shape
        node.inputs[i] = name
    node.attrs["act"] = tail.attrs["act"]
    node.outputs = tail.outputs
    g.nodes.remove(tail)


def _fold_into_conv(g: Graph, conv, tail, scale, shift):
    """conv2d -> tail (y * scale + shift per output channel, float64 (K,)) becomes one conv2d with scaled
    weights and bias that takes over tail's outputs and activation."""
    w = g.constants[conv.inputs[1]].astype(np.float64) * scale[:, None, None, None]
    b0 = g.constants[conv.inputs[2]].astype(np.float64) if conv.inputs[2] else 0.0
    _take_over(g, conv, tail, {1: w, 2: b0 * scale + shift})


def fold_batchnorm(g: Graph):
    """conv2d -> batchnorm (its only reader) becomes one conv2d with scaled weights and bias."""
    users, producer = g.consumers(), {n.outputs[0]: n for n in g.nodes}
    for bn in [n for n in g.nodes if n.op == "batchnorm"]:
        conv = _foldable(g, bn.inputs[0], users, producer)
        if conv is None:
            continue
        scale, bias, mean, var = (g.constants[n].astype(np.float64) for n in bn.inputs[1:5])
        s = scale / np.sqrt(var + bn.attrs["eps"])
        _fold_into_conv(g, conv, bn, s, bias - mean * s)
        producer[conv.outputs[0]] = conv


def _per_channel(c: np.ndarray, k: int):
    """A constant that broadcasts against an (N, k, H, W) tensor along its channels only, as (k,) float64;
    else None."""
    if c.ndim > 4:
        return None
    shape = (1,) * (4 - c.ndim) + c.shape
    if shape[0] != 1 or shape[2:] != (1, 1) or shape[1] not in (1, k):
        return None
    return np.broadcast_to(c.reshape(-1).astype(np.float64), (k,))


def fold_channel_affine(g: Graph):
    """conv2d or batchnorm -> mul or add by a per-channel constant (its only reader; e.g. the scale and shift
    after each BatchNormalization of Inception v2 and DenseNet121) folds into that node's weights, repeatedly."""
    users, producer = g.consumers(), {n.outputs[0]: n for n in g.nodes}
    for node in [n for n in g.nodes if n.op in ("mul", "add")]:
        consts = [i for i in node.inputs if i in g.constants]
        if len(consts) != 1 or len(node.inputs) != 2:
            continue
        x = node.inputs[1 - node.inputs.index(consts[0])]
        src = _foldable(g, x, users, producer, ("conv2d", "batchnorm"))
        if src is None or g.shapes[node.outputs[0]] != g.shapes[x] or len(g.shapes[x]) != 4:
            continue
        k = g.shapes[x][1]
        c = _per_channel(g.constants[consts[0]], k)
        if c is None:
            continue
        scale, shift = (c, np.zeros(k)) if node.op == "mul" else (np.ones(k), c)
        if src.op == "conv2d":
            _fold_into_conv(g, src, node, scale, shift)
        else:  # batchnorm's gamma and beta
            gamma, beta = (g.constants[i].astype(np.float64) for i in src.inputs[1:3])
            _take_over(g, src, node, {1: gamma * scale, 2: beta * scale + shift})
        producer[src.outputs[0]] = src  # its output is the tail's, read by the same nodes: users stays right


def fuse_activations(g: Graph):
    """An activation whose input only it reads, made by a node with a fusable activation, joins that node."""
    users, producer = g.consumers(), {n.outputs[0]: n for n in g.nodes}
    for act in [n for n in g.nodes if n.op == "activation"]:
        src = producer.get(act.inputs[0])
        if src is None or src.op not in FUSABLE or src.attrs.get("act") != IDENTITY \
                or len(users[src.outputs[0]]) != 1 or src.outputs[0] in g.outputs:
            continue
        src.attrs["act"] = act.attrs["act"]
        src.outputs = act.outputs
        producer[src.outputs[0]] = src
        g.nodes.remove(act)


def fuse_lowrank(g: Graph):
    """Bias- and activation-free layers feeding one layer each (what `deepx compress` exports) become its
    low-rank ops: dense -> dense is dense_lowrank, conv -> 1x1 conv conv2d_lowrank, 1x1 -> conv -> 1x1
    conv2d_tucker2."""
    users, producer = g.consumers(), {n.outputs[0]: n for n in g.nodes}

    def feeder(node, op):
        src = producer.get(node.inputs[0])
        if src is None or src.op != op or src.inputs[2] or src.attrs["act"] != IDENTITY \
                or src.attrs.get("groups", 1) != 1 or len(users[src.outputs[0]]) != 1 or src.outputs[0] in g.outputs:
            return None
        return src

    def pointwise(n):
        return g.shapes[n.inputs[1]][2:] == (1, 1) and n.attrs["stride"] == (1, 1) and n.attrs["pads"] == (0,) * 4

    fused = []
    for node in g.nodes:
        if node.op == "dense" and (src := feeder(node, "dense")):
            node.op, node.inputs = "dense_lowrank", [*src.inputs[:2], *node.inputs[1:]]
            fused.append(src)
        elif node.op == "conv2d" and node.attrs["groups"] == 1 and pointwise(node) and (src := feeder(node, "conv2d")):
            first = feeder(src, "conv2d")
            head = [src] if first is None or not pointwise(first) else [first, src]
            node.op = "conv2d_lowrank" if len(head) == 1 else "conv2d_tucker2"
            node.inputs = [head[0].inputs[0], *(n.inputs[1] for n in head), *node.inputs[1:]]
            node.attrs = {**{k: v for k, v in src.attrs.items() if k != "groups"}, "act": node.attrs["act"]}
            fused += head
    g.nodes = [n for n in g.nodes if all(n is not f for f in fused)]


# folds first: they need their conv2d or batchnorm free of a fused activation
def pointwise_on_a_pixel_as_dense(g: Graph):
    """A 1x1 conv2d (stride 1, no padding, one group) of an (N,C,1,1) tensor, as squeeze-and-excitation blocks
    have, is a matrix-vector product: reshape (N,C) -> dense -> reshape (N,K,1,1), without the conv's set-up."""
    for i, node in enumerate(list(g.nodes)):
        x, w = node.inputs[0], node.inputs[1] if node.op == "conv2d" else ""
        if node.op != "conv2d" or g.shapes[x][2:] != (1, 1) or g.shapes[w][2:] != (1, 1) \
                or node.attrs["groups"] != 1 or node.attrs["stride"] != (1, 1) or node.attrs["pads"] != (0,) * 4:
            continue
        (n, c), k, y = g.shapes[x][:2], g.shapes[w][0], node.outputs[0]
        flat, w2, y2 = f"{y}/flat", f"{y}/w_dense", f"{y}/dense"
        g.constants[w2] = g.constants[w].reshape(k, c)
        g.shapes.update({flat: (n, c), w2: (k, c), y2: (n, k)})
        at = g.nodes.index(node)
        g.nodes[at:at + 1] = [Node(flat, "reshape", [x], [flat], dict(shape=(n, c))),
                              Node(node.name, "dense", [flat, w2, node.inputs[2]], [y2], dict(act=node.attrs["act"])),
                              Node(y, "reshape", [y2], [y], dict(shape=(n, k, 1, 1)))]


PASSES = (fold_batchnorm, fold_channel_affine, fuse_activations, fuse_lowrank, pointwise_on_a_pixel_as_dense)


def run(g: Graph):
    """Every pass, in place."""
    for p in PASSES:
        p(g)
