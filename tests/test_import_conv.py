"""ConvTranspose and 3-D Conv / pooling imported from ONNX agree with ONNX Runtime, and export back."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deepx.models.execute import run_graph
from deepx.models.graph import ModelError
from deepx.models.onnx_export import to_onnx
from deepx.models.onnx_import import from_onnx

from test_onnx_models import assert_matches, onnxruntime


def _one_node(op_type, x_shape, inits, opset=13, **attrs):
    # a model of one node reading x and the float32 initializers `inits` (name -> array), in that order
    node = helper.make_node(op_type, ["x", *inits], ["y"], **attrs)
    graph = helper.make_graph([node], op_type, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, x_shape, export=True):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    expected = onnxruntime(model, {"x": x})[0]
    g = from_onnx(model)
    for backend in ("ref", "numba", "cython"):
        assert_matches(run_graph(g, {"x": x}, backend)["y"], expected)
    if export:
        exported = to_onnx(g)
        onnx.checker.check_model(exported)
        assert_matches(onnxruntime(exported, {"x": x})[0], expected)
    return g


def _weights(*shape, bias=None):
    rng = np.random.default_rng(1)
    inits = {"w": rng.standard_normal(shape).astype(np.float32)}
    if bias:
        inits["b"] = rng.standard_normal(bias).astype(np.float32)
    return inits


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 4, 5, 6), (4, 3, 2, 2), dict(strides=[2, 2])),  # the U-Net upsampler
    ((2, 4, 5, 6), (4, 3, 4, 4), dict(strides=[2, 2], pads=[1, 1, 1, 1])),  # the DB head's
    ((1, 6, 4, 5), (6, 2, 3, 3), dict(strides=[3, 2], pads=[1, 0, 2, 1], output_padding=[2, 1], group=3)),
    ((1, 4, 4, 5), (4, 1, 3, 3), dict(strides=[2, 2], dilations=[2, 1], group=4)),  # depthwise
    ((1, 4, 5, 5), (4, 3, 3, 3), dict(strides=[2, 2], output_shape=[10, 11])),
    ((1, 4, 5, 5), (4, 3, 3, 3), dict(strides=[2, 2], output_shape=[9, 12])),  # past the full output
    ((1, 4, 5, 5), (4, 3, 3, 2), dict(strides=[2, 3], auto_pad="SAME_UPPER")),
    ((1, 4, 5, 5), (4, 3, 3, 2), dict(strides=[2, 3], auto_pad="SAME_LOWER")),
    ((1, 4, 5, 5), (4, 3, 4, 4), dict(strides=[2, 2], output_shape=[9, 10], auto_pad="SAME_UPPER")),
    ((1, 4, 5, 5), (4, 3, 3, 3), dict(strides=[2, 2], auto_pad="VALID")),
    ((2, 4, 7), (4, 3, 3), dict(strides=[2], pads=[1, 0], output_padding=[1])),  # 1-D
    ((2, 4, 7), (4, 3, 4), dict(strides=[2], output_shape=[13])),
    ((2, 4, 7), (4, 3, 3), dict(strides=[3], auto_pad="SAME_LOWER", dilations=[2])),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_matches_onnxruntime(x_shape, w_shape, attrs, bias):
    inits = _weights(*w_shape, bias=(w_shape[1] * attrs.get("group", 1),) if bias else None)
    g = _check(_one_node("ConvTranspose", x_shape, inits, **attrs), x_shape)
    assert "conv_transpose2d" in [n.op for n in g.nodes]


def test_conv_transpose_opset_7_then_relu():
    inits = _weights(4, 3, 2, 2)
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["t"], strides=[2, 2]),
             helper.make_node("Relu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 4, 3, 3))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    g = _check(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)]), (1, 4, 3, 3))
    assert [n.op for n in g.nodes][0] == "conv_transpose2d"


def test_conv_transpose_runtime_weight_refused():
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
                                            (("x", (1, 2, 3, 3)), ("w", (2, 2, 1, 1)))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(ModelError, match="runtime weight"):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((2, 4, 5, 6, 7), (6, 4, 3, 3, 2), dict(pads=[1, 0, 1, 2, 1, 0])),
    ((1, 4, 6, 5, 5), (4, 2, 2, 3, 3), dict(strides=[2, 1, 2], dilations=[2, 1, 1], group=2)),
    ((1, 3, 5, 5, 4), (3, 1, 3, 3, 3), dict(auto_pad="SAME_UPPER", group=3)),
    ((1, 3, 7, 5, 4), (2, 3, 2, 1, 1), dict(strides=[3, 1, 1], auto_pad="SAME_LOWER")),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv3d_matches_onnxruntime(x_shape, w_shape, attrs, bias):
    g = _check(_one_node("Conv", x_shape, _weights(*w_shape, bias=(w_shape[0],) if bias else None), **attrs), x_shape)
    assert "conv2d" in [n.op for n in g.nodes]


@pytest.mark.parametrize("op_type, attrs", [
    ("MaxPool", dict(kernel_shape=[2, 3, 2], strides=[2, 2, 1], pads=[1, 1, 0, 0, 1, 1])),
    ("MaxPool", dict(kernel_shape=[3, 2, 2], strides=[2, 2, 2], dilations=[2, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 3, 3], auto_pad="SAME_UPPER", strides=[2, 1, 2])),
    ("AveragePool", dict(kernel_shape=[3, 2, 3], strides=[2, 2, 2], pads=[1, 0, 1, 1, 1, 0])),
    ("AveragePool", dict(kernel_shape=[3, 2, 3], strides=[2, 2, 2], pads=[1, 0, 1, 1, 1, 0], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2], ceil_mode=1, pads=[0, 1, 1, 1, 0, 1])),
    ("AveragePool", dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2], ceil_mode=1, count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3, 3], auto_pad="SAME_LOWER", strides=[2, 2, 1])),
])
def test_pool3d_matches_onnxruntime(op_type, attrs):
    _check(_one_node(op_type, (2, 3, 7, 6, 5), {}, opset=19, **attrs), (2, 3, 7, 6, 5))


@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("x_shape", [(2, 3, 7), (2, 3, 5, 4), (2, 3, 4, 5, 3)])
def test_global_pools_of_any_rank_match_onnxruntime(op_type, x_shape):
    _check(_one_node(op_type, x_shape, {}), x_shape)


def test_unet_decoder_runs_on_the_executor_and_its_plans():
    from deepx import kernels
    from deepx.models.io import random_inputs
    from deepx.runtime.executor import Executor

    from test_executor import close, random_plan

    rng = np.random.default_rng(2)
    inits = {"w1": rng.standard_normal((8, 4, 3, 3)), "wt": rng.standard_normal((8, 6, 2, 2)),
             "bt": rng.standard_normal(6), "w2": rng.standard_normal((6, 5, 4, 4)),
             "w3": rng.standard_normal((3, 5, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("ConvTranspose", ["r", "wt", "bt"], ["u"], strides=[2, 2]),
             helper.make_node("Relu", ["u"], ["v"]),
             helper.make_node("ConvTranspose", ["v", "w2"], ["t"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["t", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "unet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 4, 6, 5))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    feeds = random_inputs(g)
    want = run_graph(g, feeds, "ref")
    close(Executor(g).run(feeds), want)
    gpu = ("opencl",) if kernels.backend_usable("opencl")[0] else ("cython", "numba")
    for seed in range(3):
        ex = Executor(g, random_plan(g, np.random.default_rng(seed), gpu))
        close(ex.run(feeds), want)
        ex.close()


CACHED_CALLS = """
import sys
import numpy as np
from deepx import kernels
x = np.ones((1, 4, 5, 6), np.float32)
for groups in (1, 4):
    w = np.ones((4, 3 if groups == 1 else 1, 2, 2), np.float32)
    w.setflags(write=sys.argv[1] == "rw")
    kernels.run("conv_transpose2d", "numba", x, w, None, stride=2, groups=groups)
"""


@pytest.mark.skipif(not __import__("deepx").kernels.backend_usable("numba")[0], reason="numba not installed")
def test_numba_conv_transpose_loads_from_the_cache_whatever_weights_it_met(tmp_path):
    """Writable weights, then read-only ones (graph constants), then each again from the cache."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for flags in ("rw", "ro", "rw", "ro"):
        p = subprocess.run([sys.executable, "-c", CACHED_CALLS, flags], env=env, capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
