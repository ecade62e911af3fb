"""The ONNX models and test cases that ship with the `onnx` package, and He-initialised variants."""
import glob
import os

import onnx
from onnx import numpy_helper

from deepx.models.light import he_initialised  # noqa: F401  (the tests' random-weight variants)

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
LIGHT = sorted(glob.glob(os.path.join(DATA, "light", "light_*.onnx")))
PYTORCH = sorted(glob.glob(os.path.join(DATA, "pytorch-converted", "*", "model.onnx"))
                 + glob.glob(os.path.join(DATA, "pytorch-operator", "*", "model.onnx")))


def name(path):
    return os.path.basename(path)[len("light_"):-len(".onnx")] if "light_" in path else path.split(os.sep)[-2]


def tensors(pattern):
    return [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(pattern))]
