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
    "pad": ("Pad", lambda a: {}),
}
# ops whose ONNX form takes some attributes as constant inputs
EXTRA_INPUTS = {
    "pad": lambda a: [np.array([0, 0, a["pads"][0], a["pads"][1], 0, 0, a["pads"][2], a["pads"][3]], np.int64),
                      np.array(a["value"], np.float32)],
}


def run_onnxruntime(op, tensors, attrs):
    op_type, convert = ONNX[op]
    if op == "concat":
        tensors = tensors[0]
    tensors = [t for t in tensors if t is not None] + EXTRA_INPUTS.get(op, lambda a: [])(attrs)
    names = [f"in{i}" for i in range(len(tensors))]
    node = helper.make_node(op_type, names, ["y"], **convert(attrs))
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


# recurrent ops: ONNX inputs X, W, R, B, sequence_lens, initial_h, initial_c, P (absent ones ""), and the op's
# `result` is one of the outputs Y, Y_h, Y_c
RECURRENT = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def run_onnxruntime_recurrent(op, tensors, attrs):
    x, w, r, b, *states = tensors
    feeds = dict(zip(["x", "w", "r", "b", "h0", "c0", "p"], [x, w, r, b, *states]))
    names = [n if feeds.get(n) is not None else "" for n in ("x", "w", "r", "b", "", "h0", "c0", "p")]
    while not names[-1]:
        names.pop()
    outputs = [""] * ("y", "h", "c").index(attrs["result"]) + ["out"]
    extra = dict(linear_before_reset=int(attrs["linear_before_reset"])) if op == "gru" else {}
    node = helper.make_node(RECURRENT[op], names, outputs, direction=attrs["direction"], hidden_size=r.shape[2],
                            **extra)
    feeds = {n: t for n, t in feeds.items() if t is not None}
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(n, TensorProto.FLOAT, t.shape)
                                           for n, t in feeds.items()],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("op", list(RECURRENT))
@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_recurrent_reference_matches_onnxruntime(op, data):
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    _, canon, _ = kernels.check(op, tensors, attrs)
    assert_close(kernels.run(op, "ref", *tensors, **attrs), run_onnxruntime_recurrent(op, tensors, canon))
