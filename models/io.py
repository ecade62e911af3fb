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
    """IN.npz as {name: array}, or IN.npy as one array (for a one-input model); never unpickled."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror}") from None
    if not head.startswith((b"\x93NUMPY", b"PK")):  # else numpy would take it for a pickle
        raise ModelError(f"{path}: not a valid .npy or .npz file ("
                         f"{'empty' if not head else 'it starts with neither the .npy nor the zip header'})")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return data
        with data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if "allow_pickle" in str(e):
            raise ModelError(f"{path}: holds Python objects, not arrays of numbers (deepx never unpickles)") from None
        raise ModelError(f"{path}: not a valid .npy or .npz file ({type(e).__name__}: {e})") from None
    bad = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise ModelError(f"{path}: member {bad[0]!r} is not a valid .npy array")
    return arrays


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
