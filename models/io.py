"""Tensor files (.npz keyed by name, or one .npy), never unpickled; input shapes and random inputs."""
import zipfile

import numpy as np

from .graph import Graph, ModelError


def parse_input_shapes(items) -> dict:
    """['name=1,3,224,224', …] -> {name: (1, 3, 224, 224)}."""
    shapes = {}
    for item in items or []:
        name, _, dims = item.rpartition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise ModelError(f"--input-shape {item!r}: expected NAME=D1,D2,… with integer dimensions") from None
        if not name or min(shapes[name]) < 1:
            raise ModelError(f"--input-shape {item!r}: expected NAME=D1,D2,… with dimensions >= 1")
    return shapes


def read_inputs(path):
    """IN.npz as {name: array}, or IN.npy as one array (for a one-input model)."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: not a .npy or .npz file of plain arrays ({e})") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        try:
            return {k: data[k] for k in data.files}
        except ValueError as e:
            raise ModelError(f"{path}: {e}") from None


def bind_inputs(arrays, g: Graph, path="input") -> dict:
    """read_inputs' result keyed by the graph's input names."""
    if not isinstance(arrays, np.ndarray):
        return arrays
    if len(g.inputs) != 1:
        raise ModelError(f"{path}: one array given, the model has inputs {', '.join(g.inputs)}: use a .npz")
    return {g.inputs[0]: arrays}


def random_inputs(g: Graph, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(g.shapes[n], dtype=np.float32) for n in g.inputs}


def save_outputs(path, outputs: dict):
    if not str(path).endswith(".npz"):
        raise ModelError(f"{path}: outputs are written as .npz")
    np.savez(path, **outputs)
