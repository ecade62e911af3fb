"""The nine `light` models that ship with the `onnx` package (AlexNet, ZFNet512, VGG19, ResNet50, SqueezeNet,
ShuffleNet, Inception v1 and v2, DenseNet121), and their variants with random He-initialised weights: the
models deepx is compared with ONNX Runtime on. Their own weights are constants (every class gets the same
logit), so comparisons use the random ones; the files are written once to a cache folder.

A second set, issue 15's modern models (MobileNetV3, EfficientNet-B0, a YOLOv8n-like detector, a DB text
detector, an SVTR recogniser, a CRNN, keyword spotters), ships in models/modern as structure files (every
weight a ConstantOfShape; tests/models/build.py makes them from torch code); `path` serves them the same way.
"""
import glob
import hashlib
import json
import os

import numpy as np

from ..config import CACHE_DIR
from .graph import ModelError


def folder() -> str:
    import onnx

    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


MODERN = os.path.join(os.path.dirname(__file__), "modern")


def names() -> list:
    return sorted(os.path.basename(p)[len("light_"):-len(".onnx")]
                  for p in glob.glob(os.path.join(folder(), "light_*.onnx")))


def modern() -> dict:
    """name -> what models/modern/models.json records: input shape, opset, ONNX operators, parameters."""
    with open(os.path.join(MODERN, "models.json")) as f:
        return json.load(f)


def path(name: str, weights: str = "he") -> str:
    """The model file: its own weights (`weights="own"`; a modern model's structure file), or He-initialised
    ones (written once, cached)."""
    if name in modern():
        own = os.path.join(MODERN, f"{name}.onnx")
        with open(own, "rb") as f:  # a rebuilt structure file gets a new cached model
            cached = os.path.join(CACHE_DIR, "modern", f"{name}-{hashlib.sha256(f.read()).hexdigest()[:12]}-he.onnx")
    elif name in names():
        own = os.path.join(folder(), f"light_{name}.onnx")
        cached = os.path.join(CACHE_DIR, "light", f"{name}-he.onnx")
    else:
        raise ModelError(f"no light model {name!r} (light models: {', '.join(names())}; "
                         f"modern models: {', '.join(modern())})")
    if weights == "own":
        return own
    if not os.path.exists(cached):
        import onnx

        os.makedirs(os.path.dirname(cached), exist_ok=True)
        onnx.save(he_initialised(own), cached + ".part")
        os.replace(cached + ".part", cached)
    return cached


def he_initialised(path, seed=0):
    """The model with every constant weight replaced by random He-initialised values (biases, shifts and
    means small, scales and variances near 1), and the input of a final Softmax made an output too, so
    that a saturated softmax cannot hide a difference."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs
    rng = np.random.default_rng(seed)
    g = model.graph
    role = {}
    for n in g.node:
        for i, name in enumerate(n.input):
            role.setdefault(name, (n.op_type, i))
    shapes = {t.name: tuple(numpy_helper.to_array(t)) for t in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "ConstantOfShape" and n.input[0] in shapes
              and all(a.t.data_type == onnx.TensorProto.FLOAT for a in n.attribute)}  # float weights

    def random(name, shape):
        op, i = role.get(name, ("", 0))
        if len(shape) >= 2:
            return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
        if (op, i) in (("BatchNormalization", 1), ("BatchNormalization", 4)):
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)

    for out, node in consts.items():
        g.initializer.append(numpy_helper.from_array(random(out, tuple(int(d) for d in shapes[node.input[0]])), out))
        g.node.remove(node)
    for i, t in enumerate(g.initializer):
        if t.data_type == onnx.TensorProto.FLOAT and t.name not in consts:
            g.initializer[i].CopyFrom(numpy_helper.from_array(random(t.name, tuple(t.dims)), t.name))
    for n in g.node:
        if n.op_type == "Softmax" and n.output[0] in [o.name for o in g.output]:
            g.output.append(onnx.helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None))
    return model
