"""Sequential execution of a Graph through the kernel registry: the definition that planned runs (the
executor) are tested against, and the way RLC runs a model on calibration data."""
import numpy as np

from .. import kernels
from .graph import Graph, ModelError

def check_inputs(g: Graph, feeds: dict) -> dict:
    """The graph's inputs from `feeds`, as C-contiguous float32; ModelError naming what is wrong."""
    unknown = set(feeds) - set(g.inputs)
    if unknown:
        raise ModelError(f"no input named {', '.join(sorted(unknown))} (inputs: {', '.join(g.inputs)})")
    out = {}
    for name in g.inputs:
        if name not in feeds:
            raise ModelError(f"input {name!r} is missing")
        x = np.asarray(feeds[name])
        if x.dtype != np.float32:
            raise ModelError(f"input {name!r} has dtype {x.dtype}, the model takes float32")
        if tuple(x.shape) != tuple(g.shapes[name]):
            raise ModelError(f"input {name!r} has shape {tuple(x.shape)}, the model takes {tuple(g.shapes[name])}")
        out[name] = np.ascontiguousarray(x)
    return out


def run_graph(g: Graph, feeds: dict, backend: str = "auto", keep=()) -> dict:
    """{name: array} for every graph output and every tensor named in `keep`."""
    values = dict(g.constants)
    values.update(check_inputs(g, feeds))
    backend = kernels.host_backend(backend)
    for node in g.nodes:
        values[node.outputs[0]] = call_node(node, [values[n] if n else None for n in node.inputs], backend)
    return {name: values[name] for name in [*g.outputs, *keep]}


def call_node(node, args: list, backend: str):
    """One node's output from its input arrays: a view for `reshape`, else its kernel on `backend`."""
    if node.op == "reshape":
        return args[0].reshape(node.attrs["shape"])
    fn = kernels.lookup(node.op, backend)
    if node.op == "concat":
        return fn(args, **node.attrs)
    return fn(*args, *[None] * (len(kernels.OPS[node.op].tensors) - len(args)), **node.attrs)  # absent optional ones


def run_batches(g: Graph, feeds: dict, backend: str = "auto", keep=()) -> dict:
    """run_graph over inputs holding any number of samples, in chunks of the graph's batch size."""
    batch = g.shapes[g.inputs[0]][0]
    total = len(next(iter(feeds.values())))
    if total % batch:
        raise ModelError(f"{total} samples do not split into batches of {batch}")
    parts = [run_graph(g, {k: v[i:i + batch] for k, v in feeds.items()}, backend, keep)
             for i in range(0, total, batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def run_samples(g: Graph, feeds: dict, batch: int = 64) -> dict:
    """run_batches for many samples, faster: the graph copied for `batch` samples a run (Graph.with_batch) where
    its shapes follow the batch and its first sample's outputs match the original's; else sample by sample."""
    total, own = len(next(iter(feeds.values()))), g.shapes[g.inputs[0]][0]
    if total <= own or batch <= own:
        return run_batches(g, feeds)
    first = run_batches(g, {k: v[:own] for k, v in feeds.items()})
    copies, parts = {}, []
    for i in range(0, total, batch):
        n = min(batch, total - i)
        if n not in copies:
            try:
                copies[n] = g.with_batch(n)
            except ModelError:
                return run_batches(g, feeds)
        parts.append(run_graph(copies[n], {k: v[i:i + n] for k, v in feeds.items()}))
        if i == 0 and not all(np.allclose(parts[0][k][:own], first[k], rtol=1e-4, atol=1e-5) for k in first):
            return run_batches(g, feeds)  # a shape baked into the graph that the copy did not follow
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
