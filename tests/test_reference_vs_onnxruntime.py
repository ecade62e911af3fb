"""The NumPy references define the ops; they must agree with ONNX Runtime's operators."""
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from deepx import kernels

import kernel_cases
from test_kernels import assert_close


def _pads(a):
    t, left, b, r = a["pads"] if isinstance(a["pads"], tuple) else (a["pads"],) * 4
    return [t, left, b, r]


# op -> (ONNX op type, ONNX attributes from our attrs); tensors map to inputs in order
ONNX = {
    "dense": ("Gemm", lambda a: dict(transB=1)),
    "conv2d": ("Conv", lambda a: dict(strides=a["stride"], pads=_pads(a), dilations=a["dilation"],
                                      group=a["groups"])),
    "maxpool2d": ("MaxPool", lambda a: dict(kernel_shape=a["kernel"], strides=a["stride"], pads=_pads(a),
                                            dilations=a["dilation"], ceil_mode=int(a["ceil_mode"]))),
    "avgpool2d": ("AveragePool", lambda a: dict(kernel_shape=a["kernel"], strides=a["stride"], pads=_pads(a),
                                                ceil_mode=int(a["ceil_mode"]),
                                                count_include_pad=int(a["count_include_pad"]))),
    "global_avgpool": ("GlobalAveragePool", lambda a: {}),
    "lrn": ("LRN", lambda a: a),
    "batchnorm": ("BatchNormalization", lambda a: dict(epsilon=a["eps"])),
    "softmax": ("Softmax", lambda a: a),
    "add": ("Add", lambda a: {}),
    "mul": ("Mul", lambda a: {}),
    "concat": ("Concat", lambda a: a),
    "transpose": ("Transpose", lambda a: a),
    "pad": ("Pad", lambda a: dict(mode=a["mode"])),
    "slice": ("Slice", lambda a: {}),
    "gather": ("Gather", lambda a: dict(axis=a["axis"])),
    "expand": ("Expand", lambda a: {}),
    "resize": ("Resize", lambda a: dict(mode=a["mode"], coordinate_transformation_mode=a["coord"],
                                        nearest_mode=a["nearest"])),
}
# ops whose ONNX form takes some attributes as constant inputs
EXTRA_INPUTS = {
    "pad": lambda a: [np.array(a["pads"], np.int64), np.array(a["value"], np.float32)],
    "slice": lambda a: [np.array(a[k], np.int64) for k in ("starts", "ends")]
    + [np.arange(len(a["steps"]), dtype=np.int64), np.array(a["steps"], np.int64)],
    "gather": lambda a: [np.array(a["indices"], np.int64).reshape(a["shape"])],
    "expand": lambda a: [np.array(a["shape"], np.int64)],
    # no roi, no scales: the sizes (the cases' scales are sizes / input shape)
    "resize": lambda a: [None, None, np.array(a["sizes"], np.int64)],
}


def run_onnxruntime(op, tensors, attrs):
    op_type, convert = ONNX[op]
    if op == "concat":
        tensors = tensors[0]
    tensors = [t for t in tensors if t is not None] + EXTRA_INPUTS.get(op, lambda a: [])(attrs)  # None: absent
    names = ["" if t is None else f"in{i}" for i, t in enumerate(tensors)]
    node = helper.make_node(op_type, names, ["y"], **convert(attrs))
    names, tensors = zip(*[(n, t) for n, t in zip(names, tensors) if t is not None])
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(t.dtype),
                                                                         t.shape) for n, t in zip(names, tensors)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, tensors)))[0]


@pytest.mark.parametrize("op", list(ONNX))
@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reference_matches_onnxruntime(op, data):
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    assume(op != "lrn" or attrs["size"] % 2)  # ONNX Runtime takes odd sizes only
    if "act" in attrs:
        attrs = dict(attrs, act="none")  # ONNX has no fused activation
    if op == "dense" and tensors[2] is None:
        tensors = tensors[:2]
    _, canon, _ = kernels.check(op, tensors, attrs)
    canon.pop("act", None)
    assert_close(kernels.run(op, "ref", *tensors, **attrs), run_onnxruntime(op, tensors, canon))
