"""The ONNX models and test cases that ship with the `onnx` package, and He-initialised variants."""
import glob
import os

import numpy as np
import onnx
from onnx import numpy_helper

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
LIGHT = sorted(glob.glob(os.path.join(DATA, "light", "light_*.onnx")))
PYTORCH = sorted(glob.glob(os.path.join(DATA, "pytorch-converted", "*", "model.onnx"))
                 + glob.glob(os.path.join(DATA, "pytorch-operator", "*", "model.onnx")))


def name(path):
    return os.path.basename(path)[len("light_"):-len(".onnx")] if "light_" in path else path.split(os.sep)[-2]


def tensors(pattern):
    return [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(pattern))]


def he_initialised(path, seed=0):
    """The model with every constant weight replaced by random He-initialised values (biases, shifts and
    means small, scales and variances near 1), and the input of a final Softmax made an output too, so
    that a saturated softmax cannot hide a difference."""
    model = onnx.load(path)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be graph inputs
    rng = np.random.default_rng(seed)
    g = model.graph
    role = {}
    for n in g.node:
        for i, name in enumerate(n.input):
            role.setdefault(name, (n.op_type, i))
    consts = {n.output[0]: n for n in g.node if n.op_type == "ConstantOfShape"}
    shapes = {t.name: tuple(numpy_helper.to_array(t)) for t in g.initializer}

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
