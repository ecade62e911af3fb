"""RLC, runtime layer compression (after DeepX): dense and conv layers replaced by low-rank factors,
each layer's rank chosen from an estimate of the output error it costs, under one error budget.

The factorizations and their error estimates are models.lowrank's; this module runs the graph on calibration
data for the layers' inputs, then chooses: ranks for all layers together by a small integer program (scipy's
HiGHS) that removes the most FLOPs with the summed estimated error within the budget (deepx plan
--error-budget chooses them with the placement instead, for energy or latency). With a promise instead of a
budget (accuracy or top-1 agreement lost on validation data), the largest budget that keeps it (back_off).

Data (models.data): `fit` calibrates, `validation` chooses and measures, `test` reports; a zoo model's own, a
user's .npz or image folder, or white normal inputs. Random inputs with
natural-image statistics (1/f noise, per-channel normalised) were tried on AlexNet with random weights:
they make conv1 more compressible and fc6 less (its input fluctuates more), so white noise stays the
default; real data is what makes a trained model's layers compressible.
"""
import os
from dataclasses import dataclass, replace

import numpy as np

from .. import kernels
from . import data, io, lowrank
from .data import Data
from .execute import run_batches, run_samples
from .graph import Graph, ModelError, Node
from .lowrank import Candidate

MIN_SAVING = 0.1  # a factorization must remove at least this share of a layer's FLOPs
BATCH = 64  # samples a run when a model is evaluated on data
STEPS = 8  # bisection steps of the back-off to a promised accuracy or agreement
MEASURED = 256  # validation samples the layers' errors are measured on
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
    """A model with its data: `fit` calibrates the candidates, `validation` chooses and backs off the ranks and
    measures the layers' errors, `test` (data that chose nothing) gives the figures reported."""

    graph: Graph  # batch 1
    fit: Data
    validation: Data
    test: Data = None


def job(model: str, calibration=None, samples: int = 32, seed: int = 0, graph: Graph = None, input_shapes=None,
        test=None, preprocess=None) -> Job:
    """A zoo model's name (its own data: training split calibrates, validation split chooses, test split
    reports), or an ONNX file (`graph` if the caller loaded it) with `calibration` (DATA.npz, .npy or a folder
    of images with `preprocess`) split into fit, validation and, without `test` data, test parts; without
    data, random normal inputs. A dynamic dimension of the file's inputs comes from input_shapes, else from
    one sample of the data."""
    from . import load, zoo

    if model in zoo.MODELS:
        g = graph or load.load_model(zoo.path(model), {"x": (1,) + zoo.MODELS[model]["input"]})
        own = zoo.parts(model)
        fit = data.read(calibration, g, preprocess) if calibration else own["fit"]
        return Job(g, fit, own["validation"], data.read(test, g, preprocess) if test else own["test"])
    if model in zoo.RANDOM:
        model = zoo.path(model)
    one = None
    if calibration and not os.path.isdir(calibration):
        arrays = io.read_inputs(calibration)
        one = {k: v[:1] for k, v in arrays.items() if k != "labels"} if isinstance(arrays, dict) else arrays[:1]
    g = graph or load.load_model(model, input_shapes, one)
    tested = data.read(test, g, preprocess) if test else None
    if calibration:
        given = data.read(calibration, g, preprocess)
        n, q = len(given), len(given) // 4
        if q < 1:
            raise ModelError(f"{calibration}: {n} samples; calibration needs at least 4 (fit, validation, test)")
        where = f"of {given.about}"
        if tested:
            return Job(g, given.part(0, n - q, f"the first {n - q} {where}"),
                       given.part(n - q, n, f"the last {q} {where}"), tested)
        return Job(g, given.part(0, n - 2 * q, f"the first {n - 2 * q} {where}"),
                   given.part(n - 2 * q, n - q, f"samples {n - 2 * q}-{n - q - 1} {where}"),
                   given.part(n - q, n, f"the last {q} {where}"))
    if samples < 4:
        raise ModelError(f"{samples} calibration samples; at least 4 are needed (fit, validation)")
    rng = np.random.default_rng(seed)

    def draw(n, about):
        return Data({k: rng.standard_normal((n,) + g.shapes[k][1:], dtype=np.float32) for k in g.inputs}, None,
                    f"{n} random normal samples ({about})")

    return Job(g, draw(samples, "fit"), draw(max(2, samples // 4), "validation"), tested)


def outputs(g: Graph, d: Data) -> np.ndarray:
    """The graph's first output for every sample of d, run in batches of up to BATCH."""
    return run_samples(g, d.inputs, BATCH)[g.outputs[0]]


def is_classifier(y: np.ndarray) -> bool:
    """Outputs (N, classes), classes > 1: top-1 is a prediction."""
    return y.ndim == 2 and y.shape[1] > 1


def agreement_loss(reference: np.ndarray, y: np.ndarray) -> float:
    """Share of top-1 predictions that changed (classifiers), else the relative output error."""
    if is_classifier(reference):
        return float((reference.argmax(1) != y.argmax(1)).mean())
    return float(np.linalg.norm(y - reference) / max(np.linalg.norm(reference), 1e-30))


def accuracy(y: np.ndarray, labels) -> float:
    return float((y.argmax(axis=1) == labels).mean())


class Limit:
    """A promise on validation data: `accuracy` (labels needed) or `agreement` loss <= `value`."""

    def __init__(self, kind: str, value: float, g: Graph, validation: Data):
        if kind == "accuracy" and validation.labels is None:
            raise ModelError(f"--max-accuracy-loss needs labelled data: {validation.about} has no labels (give "
                             f"--calibration DATA.npz with a `labels` array, or use --max-agreement-loss)")
        self.kind, self.value, self.validation = kind, value, validation
        self.reference = outputs(g, validation)
        if kind == "accuracy" and not is_classifier(self.reference):
            raise ModelError(f"--max-accuracy-loss needs a classifier's (N, classes) output; "
                             f"{g.outputs[0]!r} is {self.reference.shape[1:]} per sample")

    def loss(self, g: Graph) -> float:
        y = outputs(g, self.validation)
        if self.kind == "accuracy":
            return accuracy(self.reference, self.validation.labels) - accuracy(y, self.validation.labels)
        return agreement_loss(self.reference, y)


def sensitivities(g: Graph, layers: list, validation: Data, samples: int = 32) -> list:
    """Per layer: how much the model's output moves per unit of the layer's estimated error (relative output
    errors), measured with one candidate near 5% error applied alone, on the first `samples` validation samples.
    A promise's back-off weighs the candidates' errors by it: an early layer's error grows on its way to the
    output, a late one's may not; 1 for a layer without candidates."""
    part = validation.part(0, min(samples, len(validation)), validation.about)
    reference, out = outputs(g, part), []
    for layer in layers:
        probes = [c for c in layer.candidates if c.error > 0]
        if not probes:
            out.append(1.0)
            continue
        c = min(probes, key=lambda c: abs(np.log(c.error / 0.05)))
        y = outputs(apply(g, {layer.node.name: c}), part)
        out.append(float(np.linalg.norm(y - reference) / max(np.linalg.norm(reference), 1e-30)) / c.error)
    return out


def weighted(layers: list, weights: list) -> list:
    """The layers with every candidate's error multiplied by its layer's weight (same order of candidates)."""
    return [Layer(layer.node, layer.flops, layer.params, [replace(c, error=c.error * w) for c in layer.candidates])
            for layer, w in zip(layers, weights)]


def back_off(trial, limit: Limit, hi: float, steps: int = STEPS):
    """The largest error budget in [0, hi] (bisection on a log scale) whose trial(budget) -> (chosen
    {layer: candidate}, compressed graph) keeps limit.loss <= limit.value: (budget, trial result, loss).
    Trials that choose the same layers and ranks are measured once."""
    seen = {}

    def measured(result):
        key = frozenset((name, c.method, c.ranks) for name, c in result[0].items())
        if key not in seen:
            seen[key] = limit.loss(result[1])
        return seen[key]

    lo, best = 0.0, trial(0.0)
    best_loss = measured(best)
    for _ in range(steps):
        mid = float(np.sqrt(max(lo, hi * 1e-4) * hi))
        result = trial(mid)
        if (loss := measured(result)) <= limit.value:
            lo, best, best_loss = mid, result, loss
        else:
            hi = mid
    return lo, best, best_loss


def figures(j: Job, g: Graph, compressed: Graph) -> dict:
    """What the compressed model keeps on the test data: accuracy before and after (labels), top-1 agreement
    or the relative output error; None without test data."""
    if j.test is None:
        return None
    before, after = outputs(g, j.test), outputs(compressed, j.test)
    out = dict(data=j.test.about, samples=len(j.test))
    if j.test.labels is not None and is_classifier(before):
        out.update(accuracy_before=accuracy(before, j.test.labels), accuracy_after=accuracy(after, j.test.labels))
    key = "agreement" if is_classifier(before) else "relative_error"
    loss = agreement_loss(before, after)
    out[key] = 1 - loss if key == "agreement" else loss
    return out


def compress_to(j: Job, error_budget=0.05, max_accuracy_loss=None, method="auto", max_agreement_loss=None,
                layers=None):
    """Compress under an error budget, or under a promise on the validation data (accuracy or agreement loss):
    the largest budget that keeps it. The report says which data each figure comes from."""
    layers = layers or candidates(j.graph, j.fit.inputs, method, 0)
    limit = None
    if max_accuracy_loss is not None or max_agreement_loss is not None:
        kind, value = ("accuracy", max_accuracy_loss) if max_accuracy_loss is not None else \
            ("agreement", max_agreement_loss)
        limit = Limit(kind, value, j.graph, j.validation)
        weights = sensitivities(j.graph, layers, j.validation)
        scaled = weighted(layers, weights)
        hi = max([c.error for layer in scaled for c in layer.candidates] or [0.0]) * len(layers)

        def trial(budget):  # the chosen candidates, as the unweighted originals
            chosen = {i: layers[i].candidates[next(k for k, x in enumerate(scaled[i].candidates) if x is c)]
                      for i, c in _allocate(scaled, budget).items()}
            return chosen, apply(j.graph, {layers[i].node.name: c for i, c in chosen.items()})

        error_budget, (chosen, g), validation_loss = back_off(trial, limit, hi)
        layer_report = [dict(layer_row(layer, chosen.get(i)), sensitivity=w)
                        for i, (layer, w) in enumerate(zip(layers, weights))]
    else:
        g, layer_report, _ = compress(j.graph, j.fit.inputs, error_budget, layers=layers)
    measured = measured_errors(j.graph, g, j.validation.part(0, MEASURED, j.validation.about).inputs)
    for r in layer_report:
        r["measured_error"] = measured.get(r["name"])
    report = dict(error_budget=error_budget, **sizes(j.graph, g), layers=layer_report,
                  data=dict(fit=j.fit.about, validation=j.validation.about, test=j.test and j.test.about))
    if limit:
        report["limit"] = dict(kind=limit.kind, value=limit.value, validation_loss=validation_loss)
    report["test"] = figures(j, j.graph, g)
    return g, report
