"""RLC, runtime layer compression (after DeepX): dense and conv layers replaced by low-rank factors,
each layer's rank chosen from an estimate of the output error it costs, under one error budget.

The factorizations and their error estimates are models.lowrank's; this module runs the graph on calibration
data for the layers' inputs, then chooses: ranks for all layers together by a small integer program (scipy's
HiGHS) that removes the most FLOPs with the summed estimated error within the budget (deepx plan
--error-budget chooses them with the placement instead, for energy or latency).

Calibration data: a zoo model's training data, a given .npz, or white normal inputs. Random inputs with
natural-image statistics (1/f noise, per-channel normalised) were tried on AlexNet with random weights:
they make conv1 more compressible and fc6 less (its input fluctuates more), so white noise stays the
default; real data is what makes a trained model's layers compressible.
"""
from dataclasses import dataclass

import numpy as np

from .. import kernels
from . import lowrank
from .execute import run_batches
from .graph import Graph, ModelError, Node
from .lowrank import Candidate

MIN_SAVING = 0.1  # a factorization must remove at least this share of a layer's FLOPs
OPS = {"svd": "dense_lowrank", "channel": "conv2d_lowrank", "tucker2": "conv2d_tucker2"}  # the op of each method


@dataclass
class Layer:
    node: Node
    flops: float
    params: int
    candidates: list


def _layer(g: Graph, node: Node, x: np.ndarray, method: str, rng) -> Layer:
    """The node's candidate factorizations from its input x, with their FLOPs, parameters and estimated error."""
    w = g.constants[node.inputs[1]].astype(np.float64)
    flops, params = g.flops(node), w.size
    n_out = float(np.prod(g.shapes[node.outputs[0]][:1]))  # batch
    if node.op == "dense":
        K, M = w.shape
        cands = lowrank.svd_candidates(w, x.reshape(-1, M).T.astype(np.float64), flops / (2.0 * K * M))
    else:
        K, C, R, S = w.shape
        out_shape = g.shapes[node.outputs[0]]
        pq = n_out * out_shape[2] * out_shape[3]
        cols = lowrank.im2col(x, (R, S), node.attrs["stride"], node.attrs["pads"], node.attrs["dilation"],
                              min(8192, int(x.shape[0] * out_shape[2] * out_shape[3])), rng)
        cands = []
        if method in ("svd", "auto"):
            cands += lowrank.channel_candidates(w, cols, pq)
        if method in ("tucker2", "auto") and R * S > 1:
            cands += lowrank.tucker2_candidates(w, cols, pq, n_out * x.shape[2] * x.shape[3])
    cands = [c for c in cands if c.flops <= (1 - MIN_SAVING) * flops]
    return Layer(node, flops, params, cands)


def _allocate(layers, budget):
    """One candidate (or none) per layer: most FLOPs saved with the summed estimated error <= budget."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    options = [(i, c) for i, layer in enumerate(layers) for c in layer.candidates if c.error <= budget]
    if not options:
        return {}
    saved = np.array([layers[i].flops - c.flops for i, c in options])
    error = np.array([c.error for _, c in options])
    one_per_layer = np.zeros((len(layers), len(options)))
    for j, (i, _) in enumerate(options):
        one_per_layer[i, j] = 1
    res = milp(-saved / saved.max(), integrality=np.ones(len(options)), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(error[None], 0, budget), LinearConstraint(one_per_layer, 0, 1)])
    if res.x is None:
        raise ModelError(f"no rank allocation fits the error budget {budget} ({res.message})")
    return {options[j][0]: options[j][1] for j in np.flatnonzero(res.x > 0.5)}


def lowrank_node(node: Node, c: Candidate) -> tuple:
    """(the low-rank node that replaces `node` with candidate c, {factor name: shape})."""
    names = [f"{node.outputs[0]}/{c.method}{k}" for k in range(len(c.shapes))]
    attrs = {k: v for k, v in node.attrs.items() if k != "groups"}
    return (Node(node.name, OPS[c.method], [node.inputs[0], *names, node.inputs[2]], list(node.outputs), attrs),
            dict(zip(names, c.shapes)))


def apply(g: Graph, chosen: dict) -> Graph:
    """A copy of g with the layers in `chosen` ({node name: Candidate}) replaced by their low-rank nodes."""
    out = Graph(g.name, list(g.inputs), list(g.outputs), [], dict(g.shapes), dict(g.constants))
    for node in g.nodes:
        c = chosen.get(node.name)
        if c is None:
            out.nodes.append(node)
            continue
        low, shapes = lowrank_node(node, c)
        for name, factor in zip(shapes, c.make()):
            out.constants[name] = np.ascontiguousarray(factor, dtype=np.float32)
            out.shapes[name] = factor.shape
        out.nodes.append(low)
    out.prune()
    out.infer_shapes()
    return out


def candidates(g, calibration, method="auto", seed=0) -> list:
    """Every compressible layer with its candidates, from the layers' inputs on the calibration data."""
    nodes = [n for n in g.nodes if (n.op == "dense" or (n.op == "conv2d" and n.attrs["groups"] == 1))
             and n.inputs[1] in g.constants]
    if not nodes:
        raise ModelError(f"{g.name}: no dense or conv layer to compress")
    seen = run_batches(g, calibration, keep=[n.inputs[0] for n in nodes])
    rng = np.random.default_rng(seed)
    return [_layer(g, n, seen[n.inputs[0]], method, rng) for n in nodes]


def measured_errors(g: Graph, compressed: Graph, feeds) -> dict:
    """Each replaced layer's relative output error on `feeds`, with the layer's original input."""
    before = {n.name: n for n in g.nodes}
    changed = [n for n in compressed.nodes if n.op.endswith(("_lowrank", "_tucker2")) and n.name in before]
    seen = run_batches(g, feeds, keep=[n.inputs[0] for n in changed] + [n.outputs[0] for n in changed])
    out = {}
    for n in changed:
        args = [seen[n.inputs[0]]] + [compressed.constants[i] if i else None for i in n.inputs[1:]]
        y = kernels.run(n.op, "ref", *args, **n.attrs)
        ref = seen[n.outputs[0]]
        out[n.name] = float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30))
    return out


def compress(g: Graph, calibration: dict, error_budget: float = 0.05, method: str = "auto", seed: int = 0,
             layers=None):
    """(compressed graph, per-layer report, layers). `layers` reuses candidates()' result across budgets."""
    if error_budget < 0:
        raise ModelError(f"error budget must be >= 0, got {error_budget}")
    layers = layers or candidates(g, calibration, method, seed)
    chosen = _allocate(layers, error_budget)
    report = [layer_row(layer, chosen.get(i)) for i, layer in enumerate(layers)]
    return apply(g, {layers[i].node.name: c for i, c in chosen.items()}), report, layers


def layer_row(layer: Layer, c: Candidate | None) -> dict:
    """A layer's row in a compression report: `c` is the candidate chosen, None when the layer stays whole."""
    return dict(name=layer.node.name, op=layer.node.op, method=c.method if c else "none",
                rank=list(c.ranks) if c else None, flops_before=layer.flops, flops_after=c.flops if c else layer.flops,
                params_before=layer.params, params_after=c.params if c else layer.params,
                estimated_error=c.error if c else 0.0)


def sizes(before: Graph, after: Graph) -> dict:
    """FLOPs and parameters of a model before and after compression."""
    s0, s1 = before.summary(), after.summary()
    return dict(flops_before=s0["flops"], flops_after=s1["flops"], params_before=s0["param_bytes"] // 4,
                params_after=s1["param_bytes"] // 4)


@dataclass
class Job:
    """A model with the data to compress it: calibration inputs (fit and check), held-out inputs for
    the measured errors, and labelled test data when there is some."""

    graph: Graph  # batch 1
    calibration: dict
    held_out: dict
    labelled: tuple = None  # (inputs dict, labels)


def job(model: str, calibration_path=None, samples: int = 32, seed: int = 0, graph: Graph = None,
        input_shapes=None) -> Job:
    """A zoo model's name (its training data calibrates, its test set gives accuracy) or an ONNX file
    (`graph` if the caller loaded it; calibrated on DATA.npz, else on random normal inputs). A dynamic
    dimension of the file's inputs comes from input_shapes, else from one sample of DATA.npz."""
    from . import io, load, zoo

    if model in zoo.MODELS:
        g = load.load_model(zoo.path(model), {"x": (1,) + zoo.MODELS[model]["input"]})
        x_train, _, x_test, y_test = zoo.digits(model)
        data = {"x": x_train} if calibration_path is None else io.bind_inputs(io.read_inputs(calibration_path), g)
        return Job(g, {k: v[:512] for k, v in data.items()}, {k: v[512:640] for k, v in data.items()},
                   ({"x": x_test}, y_test))
    arrays = io.read_inputs(calibration_path) if calibration_path else None
    one = {k: v[:1] for k, v in arrays.items()} if isinstance(arrays, dict) else None if arrays is None else arrays[:1]
    g = graph or load.load_model(model, input_shapes, one)
    if calibration_path:
        data = io.bind_inputs(arrays, g, calibration_path)
        n = min(len(v) for v in data.values())
        if n < 4:
            raise ModelError(f"{calibration_path}: {n} samples; calibration needs at least 4 (fit, check, held out)")
        return Job(g, {k: v[:n - n // 4] for k, v in data.items()}, {k: v[n - n // 4:] for k, v in data.items()})
    if samples < 4:
        raise ModelError(f"{samples} calibration samples; at least 4 are needed (fit, check, held out)")
    rng = np.random.default_rng(seed)
    draw = lambda n: {k: rng.standard_normal((n,) + g.shapes[k][1:], dtype=np.float32) for k in g.inputs}  # noqa
    return Job(g, draw(samples), draw(max(2, samples // 4)))


def accuracy(g: Graph, labelled) -> float:
    feeds, labels = labelled
    logits = run_batches(g, feeds)[g.outputs[0]]
    return float((logits.argmax(axis=1) == labels).mean())


def compress_to(j: Job, error_budget=0.05, max_accuracy_loss=None, method="auto", steps=10):
    """Compress under an error budget, or, with labelled data, under an accuracy-loss limit: the
    largest budget whose measured test accuracy stays within it (bisection on a log scale)."""
    layers = candidates(j.graph, j.calibration, method, 0)
    before = accuracy(j.graph, j.labelled) if j.labelled else None
    if max_accuracy_loss is not None:
        if j.labelled is None:
            raise ModelError("--max-accuracy-loss needs labelled data: use a zoo model")
        lo, hi = 0.0, max(c.error for layer in layers for c in layer.candidates) * len(layers)
        best = compress(j.graph, j.calibration, 0.0, layers=layers)
        for _ in range(steps):
            mid = np.sqrt(max(lo, 1e-4) * hi)
            trial = compress(j.graph, j.calibration, mid, layers=layers)
            if before - accuracy(trial[0], j.labelled) <= max_accuracy_loss:
                lo, best = mid, trial
            else:
                hi = mid
        error_budget = lo
        g, layer_report, _ = best
    else:
        g, layer_report, _ = compress(j.graph, j.calibration, error_budget, layers=layers)
    measured = measured_errors(j.graph, g, j.held_out)
    for r in layer_report:
        r["measured_error"] = measured.get(r["name"])
    return g, dict(error_budget=error_budget, **sizes(j.graph, g), accuracy_before=before,
                   accuracy_after=accuracy(g, j.labelled) if j.labelled else None, layers=layer_report)
