"""A Graph as JSON, without onnx: nodes (op, attrs, inputs, outputs), shapes, inputs, outputs and the names
of its constants (their values travel separately, e.g. in a bundle's weights.npz).

Attribute values round-trip exactly: tuples, Act activations and non-finite floats are tagged
({"tuple": [...]}, {"act": [kind, lo, hi]}, {"float": "inf"}); numpy scalars become Python scalars.
"""
import math

import numpy as np

from .. import kernels
from ..kernels.common import Act
from .graph import VIEW_OPS, Graph, ModelError, Node

FORMAT = "deepx-graph/1"


def _encode(value, where):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else {"float": repr(float(value))}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Act):
        return {"act": [value.kind, _encode(value.lo, where), _encode(value.hi, where)]}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    raise ModelError(f"{where}: cannot write a {type(value).__name__} attribute as JSON")


def _decode(value, where):
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, body), = value.items()
        if tag == "tuple" and isinstance(body, list):
            return tuple(_decode(v, where) for v in body)
        if tag == "act" and isinstance(body, list) and len(body) == 3:
            return Act(int(body[0]), float(_decode(body[1], where)), float(_decode(body[2], where)))
        if tag == "float" and body in ("inf", "-inf", "nan"):
            return float(body)
    raise ModelError(f"{where}: unknown attribute value {value!r}")


def to_json(g: Graph) -> dict:
    """The graph as a JSON-ready dict (constants by name only)."""
    nodes = [dict(name=n.name, op=n.op, inputs=list(n.inputs), outputs=list(n.outputs),
                  attrs={k: _encode(v, f"node {n.name!r} attribute {k!r}") for k, v in n.attrs.items()})
             for n in g.nodes]
    return dict(format=FORMAT, name=g.name, inputs=list(g.inputs), outputs=list(g.outputs), nodes=nodes,
                shapes={k: list(map(int, v)) for k, v in g.shapes.items()}, constants=list(g.constants))


def from_json(doc: dict, constants: dict, where="graph") -> Graph:
    """The Graph `to_json` wrote, with `constants` {name: array}; ModelError naming what does not fit.
    Every node is checked again (kernels.check) and must give the shape recorded for its output."""
    try:
        if doc.get("format") != FORMAT:
            raise ModelError(f"{where}: not a deepx graph (format {doc.get('format')!r}, expected {FORMAT!r})")
        g = Graph(name=str(doc["name"]), inputs=list(doc["inputs"]), outputs=list(doc["outputs"]),
                  shapes={k: tuple(int(d) for d in v) for k, v in doc["shapes"].items()})
        g.nodes = [Node(n["name"], n["op"], list(n["inputs"]), list(n["outputs"]),
                        {k: _decode(v, f"{where}: node {n['name']!r} attribute {k!r}") for k, v in n["attrs"].items()})
                   for n in doc["nodes"]]
        names = list(doc["constants"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{where}: malformed graph ({type(e).__name__}: {e})") from None
    if set(names) != set(constants):
        missing, extra = set(names) - set(constants), set(constants) - set(names)
        raise ModelError(f"{where}: weights do not match the graph (missing {sorted(missing)}, extra {sorted(extra)})")
    for name in names:
        if name not in g.shapes or tuple(constants[name].shape) != g.shapes[name]:
            raise ModelError(f"{where}: constant {name!r} has shape {tuple(constants[name].shape)}, "
                             f"the graph records {g.shapes.get(name)}")
    g.constants = {name: constants[name] for name in names}
    recorded = dict(g.shapes)
    known = set(g.inputs) | set(names)
    for n in g.nodes:
        if n.op not in kernels.OPS and n.op not in VIEW_OPS:
            raise ModelError(f"{where}: node {n.name!r} has unknown op {n.op!r}")
        missing = [t for t in n.inputs if t and t not in known]
        if missing or len(n.outputs) != 1:
            raise ModelError(f"{where}: node {n.name!r} reads {missing} before they are made, or has "
                             f"{len(n.outputs)} outputs")
        known.add(n.outputs[0])
    if not set(g.inputs) <= set(g.shapes) or not set(g.outputs) <= known:
        raise ModelError(f"{where}: inputs without shapes or outputs no node makes")
    try:
        g.infer_shapes()
    except ModelError as e:
        raise ModelError(f"{where}: {e}") from None
    for n in g.nodes:
        if g.shapes[n.outputs[0]] != recorded.get(n.outputs[0]):
            raise ModelError(f"{where}: node {n.name!r} makes shape {g.shapes[n.outputs[0]]}, "
                             f"the graph records {recorded.get(n.outputs[0])}")
    return g
