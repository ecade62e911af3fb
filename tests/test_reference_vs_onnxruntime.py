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
    "reduce": (lambda a: "Reduce" + REDUCE_ONNX[a["kind"]], lambda a: dict(keepdims=int(a["keepdims"]))),
    "log_softmax": ("LogSoftmax", lambda a: a),
    "layernorm": ("LayerNormalization", lambda a: dict(axis=a["axis"], epsilon=a["eps"])),
    "instancenorm": ("InstanceNormalization", lambda a: dict(epsilon=a["eps"])),
    "matmul": ("MatMul", lambda a: {}),
}
REDUCE_ONNX = dict(sum="Sum", mean="Mean", max="Max", min="Min", l1="L1", l2="L2", sum_square="SumSquare",
                   log_sum_exp="LogSumExp", prod="Prod")
# ops whose ONNX form takes some attributes as constant inputs
EXTRA_INPUTS = {
    "pad": lambda a: [np.array([0, 0, a["pads"][0], a["pads"][1], 0, 0, a["pads"][2], a["pads"][3]], np.int64),
                      np.array(a["value"], np.float32)],
    "reduce": lambda a: [np.array(a["axes"], np.int64)],
}


def run_onnxruntime(op, tensors, attrs):
    op_type, convert = ONNX[op]
    op_type = op_type(attrs) if callable(op_type) else op_type  # one IR op, several ONNX operators
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


@pytest.mark.parametrize("op", ["argmax", "argmin", "groupnorm"])
@settings(derandomize=True, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reference_matches_onnxruntime_beyond_one_node(op, data):
    """ArgMax / ArgMin (int64 indices, cast to float32) and GroupNormalization (per-channel scale: opset 21)."""
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    _, canon, _ = kernels.check(op, tensors, attrs)
    names = [f"in{i}" for i in range(len(tensors))]
    if op == "groupnorm":
        nodes = [helper.make_node("GroupNormalization", names, ["y"], num_groups=canon["groups"],
                                  epsilon=canon["eps"])]
    else:
        nodes = [helper.make_node("ArgMax" if op == "argmax" else "ArgMin", names, ["i"], axis=canon["axis"],
                                  keepdims=int(canon["keepdims"]), select_last_index=int(canon["select_last_index"])),
                 helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, op, [helper.make_tensor_value_info(n, TensorProto.FLOAT, t.shape)
                                          for n, t in zip(names, tensors)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21 if op == "groupnorm" else 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert_close(kernels.run(op, "ref", *tensors, **attrs), sess.run(None, dict(zip(names, tensors)))[0])
