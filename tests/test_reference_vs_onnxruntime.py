"""The NumPy references define the ops; they must agree with ONNX Runtime's operators."""
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from deepx import kernels
from deepx.kernels.registry import OPS

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
    "conv_transpose2d": ("ConvTranspose", lambda a: dict(strides=a["stride"], pads=_pads(a), dilations=a["dilation"],
                                                         output_padding=a["output_padding"], group=a["groups"])),
    "sub": ("Sub", lambda a: {}),
    "div": ("Div", lambda a: {}),
    "pow": ("Pow", lambda a: {}),
    "minimum": ("Min", lambda a: {}),
    "maximum": ("Max", lambda a: {}),
    "prelu": ("PRelu", lambda a: {}),
    "reduce": (lambda a: "Reduce" + REDUCE_ONNX[a["kind"]], lambda a: dict(keepdims=int(a["keepdims"]))),
    "log_softmax": ("LogSoftmax", lambda a: a),
    "layernorm": ("LayerNormalization", lambda a: dict(axis=a["axis"], epsilon=a["eps"])),
    "instancenorm": ("InstanceNormalization", lambda a: dict(epsilon=a["eps"])),
    "matmul": ("MatMul", lambda a: {}),
    "pad": ("Pad", lambda a: dict(mode=a["mode"])),
    "slice": ("Slice", lambda a: {}),
    "gather": ("Gather", lambda a: dict(axis=a["axis"])),
    "expand": ("Expand", lambda a: {}),
    "resize": ("Resize", lambda a: dict(mode=a["mode"], coordinate_transformation_mode=a["coord"],
                                        nearest_mode=a["nearest"])),
}
REDUCE_ONNX = dict(sum="Sum", mean="Mean", max="Max", min="Min", l1="L1", l2="L2", sum_square="SumSquare",
                   log_sum_exp="LogSumExp", prod="Prod")
# ops whose ONNX form takes some attributes as constant inputs
EXTRA_INPUTS = {
    "reduce": lambda a: [np.array(a["axes"], np.int64)],
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
    op_type = op_type(attrs) if callable(op_type) else op_type  # one IR op, several ONNX operators
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
    ours = kernels.run(op, "ref", *tensors, **attrs)
    if OPS[op].residual and len(tensors) == len(OPS[op].tensors):  # ONNX adds a residual by a node of its own
        tensors, residual = tensors[:-1], tensors[-1]
        assert_close(ours, run_onnxruntime(op, tensors, canon) + residual)
    else:
        assert_close(ours, run_onnxruntime(op, tensors, canon))


def _onnxruntime_graph(nodes, tensors, opset):
    """Run ONNX nodes reading in0.. and making y (float32) in ONNX Runtime."""
    names = [f"in{i}" for i in range(len(tensors))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, t.shape)
                                           for n, t in zip(names, tensors)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, tensors)))[0]


# ops whose ONNX form gives or takes bool masks: ONNX op type, whether its inputs are cast to bool first
MASKS = {"equal": ("Equal", False), "less": ("Less", False), "greater": ("Greater", False),
         "less_equal": ("LessOrEqual", False), "greater_equal": ("GreaterOrEqual", False),
         "logical_and": ("And", True), "logical_or": ("Or", True), "logical_xor": ("Xor", True)}


@pytest.mark.parametrize("op", [*MASKS, "where"])
@settings(derandomize=True, max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_masks_and_where_match_onnxruntime(op, data):
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    attrs = {k: "none" for k in attrs}
    cast = [helper.make_node("Cast", [f"in{i}"], [f"b{i}"], to=TensorProto.BOOL) for i in range(2)]
    if op == "where":
        nodes = [cast[0], helper.make_node("Where", ["b0", "in1", "in2"], ["y"])]
    else:
        op_type, logic = MASKS[op]
        ins = ["b0", "b1"] if logic else ["in0", "in1"]
        nodes = cast * logic + [helper.make_node(op_type, ins, ["m"]),
                                helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT)]
    assert_close(kernels.run(op, "ref", *tensors, **attrs), _onnxruntime_graph(nodes, tensors, 19))


# activation -> (ONNX op type, attributes, opset)
ACTIVATIONS = {
    "hardsigmoid": ("HardSigmoid", {}, 13), ("hardsigmoid", 0.25, 0.4): ("HardSigmoid", dict(alpha=0.25, beta=0.4), 13),
    "hardswish": ("HardSwish", {}, 14), ("leakyrelu", 0.1): ("LeakyRelu", dict(alpha=0.1), 13),
    "leakyrelu": ("LeakyRelu", {}, 13), ("elu", 0.7): ("Elu", dict(alpha=0.7), 13), "selu": ("Selu", {}, 13),
    ("celu", 0.5): ("Celu", dict(alpha=0.5), 13), ("thresholdedrelu", 0.3): ("ThresholdedRelu", dict(alpha=0.3), 13),
    "softplus": ("Softplus", {}, 13), "softsign": ("Softsign", {}, 13), "gelu": ("Gelu", {}, 20),
    "gelu_tanh": ("Gelu", dict(approximate="tanh"), 20), "mish": ("Mish", {}, 18), "exp": ("Exp", {}, 13),
    "log": ("Log", {}, 13), "neg": ("Neg", {}, 13), "abs": ("Abs", {}, 13), "sqrt": ("Sqrt", {}, 13),
    "reciprocal": ("Reciprocal", {}, 13), "erf": ("Erf", {}, 13), "floor": ("Floor", {}, 13), "ceil": ("Ceil", {}, 13),
    "sigmoid": ("Sigmoid", {}, 13), "tanh": ("Tanh", {}, 13),
}


@pytest.mark.parametrize("act", list(ACTIVATIONS), ids=str)
def test_activations_match_onnxruntime(act):
    op_type, attrs, opset = ACTIVATIONS[act]
    x = (np.random.default_rng(0).standard_normal((3, 50)) * 4).astype(np.float32)
    if act in ("log", "sqrt"):
        x = np.abs(x) + np.float32(0.01)
    nodes = [helper.make_node(op_type, ["in0"], ["y"], **attrs)]
    assert_close(kernels.run("activation", "ref", x, act=act), _onnxruntime_graph(nodes, [x], opset))


def test_silu_matches_onnxruntime():
    x = (np.random.default_rng(0).standard_normal((3, 50)) * 4).astype(np.float32)
    nodes = [helper.make_node("Sigmoid", ["in0"], ["s"]), helper.make_node("Mul", ["in0", "s"], ["y"])]
    assert_close(kernels.run("activation", "ref", x, act="silu"), _onnxruntime_graph(nodes, [x], 13))


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
