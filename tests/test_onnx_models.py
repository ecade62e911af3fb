"""ONNX import, sequential execution and export against ONNX Runtime on the models the `onnx` package ships."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deepx.models.execute import run_graph
from deepx.models.graph import ModelError
from deepx.models.onnx_export import to_onnx
from deepx.models.onnx_import import from_onnx, load_onnx

import onnx_cases


def assert_matches(y, expected):
    """The issue's bound: max |deepx - ORT| <= 1e-4 * max(1, max |ORT|); NaN where ORT has NaN (sqrt of -1)."""
    assert y.shape == expected.shape
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(y), nan)
    y, expected = y[~nan], expected[~nan]
    assert np.abs(y - expected).max(initial=0.0) <= 1e-4 * max(1.0, float(np.abs(expected).max(initial=0.0)))


def onnxruntime(model, feeds):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@pytest.mark.parametrize("path", onnx_cases.LIGHT, ids=onnx_cases.name)
def test_light_model_bundled_output(path):
    """The models with their bundled constant weights, on the float64 reference backend.

    Those weights give every class the same logit, of order 1e9: a float32 backend that rounds one
    channel differently from another (any GEMM does) turns the expected uniform softmax one-hot. The
    float32 backends are checked on the same models with random weights below."""
    g = load_onnx(path)
    (expected,) = onnx_cases.tensors(path.replace(".onnx", "_output_0.pb"))
    x = np.random.default_rng(0).standard_normal(g.shapes[g.inputs[0]]).astype(np.float32)
    assert_matches(run_graph(g, {g.inputs[0]: x}, "ref")[g.outputs[0]], expected)


@pytest.mark.parametrize("path", onnx_cases.LIGHT, ids=onnx_cases.name)
def test_light_model_random_weights_and_export(path):
    model = onnx_cases.he_initialised(path)
    g = from_onnx(model, path)
    feeds = {g.inputs[0]: np.random.default_rng(1).standard_normal(g.shapes[g.inputs[0]]).astype(np.float32)}
    expected = onnxruntime(model, feeds)
    ours = run_graph(g, feeds)
    for name, e in zip([o.name for o in model.graph.output], expected):
        assert_matches(ours[name], e)
    exported = to_onnx(g)
    onnx.checker.check_model(exported)
    for y, e in zip(onnxruntime(exported, feeds), expected):
        assert_matches(y, e)


@pytest.mark.parametrize("path", onnx_cases.PYTORCH, ids=onnx_cases.name)
def test_pytorch_case(path):
    try:
        g = load_onnx(path)
    except ModelError as e:
        if "support" in str(e) or "float32" in str(e):
            pytest.skip(str(e).split(": ", 1)[1])
        raise
    folder = os.path.join(os.path.dirname(path), "test_data_set_0")
    inputs = onnx_cases.tensors(os.path.join(folder, "input_*.pb"))
    ours = run_graph(g, dict(zip(g.inputs, inputs)))
    for name, e in zip(g.outputs, onnx_cases.tensors(os.path.join(folder, "output_*.pb"))):
        assert_matches(ours[name], e)


def test_import_is_folded_and_fused():
    g = load_onnx([p for p in onnx_cases.LIGHT if "resnet50" in p][0])
    ops = [n.op for n in g.nodes]
    assert "batchnorm" not in ops and "activation" not in ops  # BN folded into conv, ReLUs fused
    assert sum(n.attrs.get("act", (0,))[0] != 0 for n in g.nodes) == 49  # every ReLU, after a conv or a sum
    assert g.summary()["flops"] == pytest.approx(2 * 4.1e9, rel=0.1)  # ResNet50: ~4.1 GMACs


@pytest.mark.parametrize("mutate, message", [
    (lambda p, tmp: tmp.write_bytes(open(p, "rb").read()[:1500]) and tmp, "not a valid ONNX model"),
    (lambda p, tmp: tmp.write_bytes(b"\x00garbage" * 100) and tmp, "not a valid ONNX model"),
    (lambda p, tmp: tmp.parent / "missing.onnx", "cannot read"),
])
def test_bad_files(tmp_path, mutate, message):
    path = mutate(onnx_cases.LIGHT[0], tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match=message) as err:
        load_onnx(path)
    assert str(path) in str(err.value)


def _model(nodes, inputs, outputs, inits=(), opset=13):
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "m", [vi(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [vi(n, TensorProto.FLOAT, None) for n in outputs], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("const_shape, folds", [((4, 1, 1), True), ((1, 4, 1, 1), True), ((1,), True),
                                                 ((1, 1, 6, 6), False), ((4, 6, 6), False)])
def test_per_channel_mul_add_after_conv_fold_into_it(const_shape, folds):
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    consts = {"w": rng.standard_normal((4, 3, 3, 3)), "s": rng.standard_normal(const_shape),
              "t": rng.standard_normal(const_shape)}
    model = _model([helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["m"]),
                    helper.make_node("Add", ["t", "m"], ["a"]), helper.make_node("Relu", ["a"], ["y"])],
                   [("x", [1, 3, 8, 8])], ["y"],
                   [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()])
    g = from_onnx(model)
    assert [n.op for n in g.nodes] == (["conv2d"] if folds else ["conv2d", "mul", "add"])
    x = rng.standard_normal((1, 3, 8, 8), dtype=np.float32)
    expected = onnxruntime(model, {"x": x})[0]
    np.testing.assert_allclose(run_graph(g, {"x": x})["y"], expected, rtol=1e-5, atol=1e-5)


def test_per_channel_mul_add_after_batchnorm_fold_into_it():
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(1)
    consts = {"g": rng.standard_normal(4), "b": rng.standard_normal(4), "m": rng.standard_normal(4),
              "v": rng.random(4) + 0.5, "s": rng.standard_normal((4, 1, 1)), "t": rng.standard_normal((4, 1, 1))}
    model = _model([helper.make_node("Relu", ["x"], ["r"]),
                    helper.make_node("BatchNormalization", ["r", "g", "b", "m", "v"], ["n"]),
                    helper.make_node("Mul", ["n", "s"], ["p"]), helper.make_node("Add", ["p", "t"], ["y"])],
                   [("x", [1, 4, 5, 5])], ["y"],
                   [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()])
    g = from_onnx(model)
    assert [n.op for n in g.nodes] == ["activation", "batchnorm"]
    x = rng.standard_normal((1, 4, 5, 5), dtype=np.float32)
    expected = onnxruntime(model, {"x": x})[0]
    np.testing.assert_allclose(run_graph(g, {"x": x})["y"], expected, rtol=1e-5, atol=1e-5)


def test_unsupported_operators_are_grouped_before_running():
    from onnx import helper

    nodes = [helper.make_node("NonZero", ["x"], [f"n{i}"], name=f"nz{i}") for i in range(5)]
    nodes += [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Foo", ["r"], ["f"], name="foo", domain="acme")]
    model = _model(nodes, [("x", [1, 4])], ["n0", "f"])
    with pytest.raises(ModelError, match=r"unsupported operators: NonZero x5 \(nz0, nz1, nz2, …\), "
                                         r"acme.Foo x1 \(foo\) \(the operators deepx reads: README"):
        from_onnx(model)


def test_dynamic_shape_needs_input_shape():
    from onnx import helper

    model = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["batch", 4])], ["y"])
    with pytest.raises(ModelError, match="--input-shape x=1,4"):
        from_onnx(model)
    g = from_onnx(model, input_shapes={"x": (3, 4)})
    assert g.shapes["y"] == (3, 4)
    with pytest.raises(ModelError, match="no input named z"):
        from_onnx(model, input_shapes={"x": (3, 4), "z": (1,)})


def test_a_dynamic_batch_defaults_with_a_note():
    """The command lines' default: a dynamic batch alone becomes 1, said once; other dynamic dimensions are refused."""
    from onnx import helper

    notes = []
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["batch", 4])], ["y"])
    assert from_onnx(model, "m.onnx", default_batch=1, note=notes.append).shapes["y"] == (1, 4)
    assert notes == ["m.onnx: input 'x' has a dynamic batch: running batch 1 (another: --input-shape x=N,4)"]
    assert from_onnx(model, input_shapes={"x": (3, 4)}, default_batch=1, note=notes.append).shapes["y"] == (3, 4)
    assert from_onnx(model, example=np.zeros((5, 4), np.float32), default_batch=1, note=notes.append).shapes["y"] \
        == (5, 4)
    assert len(notes) == 1
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["batch", "n"])], ["y"])
    with pytest.raises(ModelError, match="--input-shape x=1,1"):
        from_onnx(model, default_batch=1, note=notes.append)


def test_missing_initializer_names_the_node():
    from onnx import helper

    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], [("x", [1, 3, 8, 8])], ["y"])
    with pytest.raises(ModelError, match="node 'conv1' \\(Conv\\) reads 'w'"):
        from_onnx(model)


def test_wrong_inputs_at_run_time():
    from onnx import helper

    g = from_onnx(_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2, 4])], ["y"]))
    for feeds, message in [({"z": np.zeros((2, 4), np.float32)}, "no input named z"),
                           ({"x": np.zeros((2, 5), np.float32)}, "shape \\(2, 5\\)"),
                           ({"x": np.zeros((2, 4), np.int64)}, "dtype int64"), ({}, "missing")]:
        with pytest.raises(ModelError, match=message):
            run_graph(g, feeds)


def _gelu_chain(order):
    """The Erf-based Gelu of y as older exporters spell it: (nodes, constants) making z."""
    from onnx import helper

    if order[0] in ("pow", "cube"):  # the tanh form
        cube = [helper.make_node("Pow", ["y", "three"], ["y3"])] if order[0] == "pow" else \
            [helper.make_node("Mul", ["y", "y"], ["y2"]), helper.make_node("Mul", ["y2", "y"], ["y3"])]
        head = cube + [helper.make_node("Mul", ["y3", "c044"], ["k"]), helper.make_node("Add", ["y", "k"], ["i"]),
                       helper.make_node("Mul", ["i", "s2pi"], ["d"]), helper.make_node("Tanh", ["d"], ["e"]),
                       helper.make_node("Add", ["one", "e"], ["p"])]
    else:
        scale = helper.make_node("Div", ["y", "sqrt2"], ["d"]) if order[0] == "div" else \
            helper.make_node("Mul", ["rsqrt2", "y"], ["d"])
        head = [scale, helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["e", "one"], ["p"])]
    if order[1] == "half last":
        tail = [helper.make_node("Mul", ["y", "p"], ["q"]), helper.make_node("Mul", ["q", "half"], ["z"])]
    elif order[1] == "half first":
        tail = [helper.make_node("Mul", ["y", "half"], ["h"]), helper.make_node("Mul", ["h", "p"], ["z"])]
    else:
        tail = [helper.make_node("Mul", ["p", "half"], ["q"]), helper.make_node("Mul", ["q", "y"], ["z"])]
    return head + tail


@pytest.mark.parametrize("chain, act", [
    ("silu", "silu"), ("silu swapped", "silu"), ("hardswish", "hardswish"), ("relu6 hardswish", "hardswish"),
    ("relu6 hardswish, sixth first", "hardswish"),
    (("div", "half last"), "gelu"), (("mul", "half first"), "gelu"), (("div", "half middle"), "gelu"),
    (("pow", "half first"), "gelu_tanh"), (("cube", "half last"), "gelu_tanh")])
def test_spelled_out_activations_fuse_into_the_conv(chain, act):
    """Conv -> x * Sigmoid(x) / x * HardSigmoid(x) / the Erf Gelu chain imports as one conv2d with that act."""
    from onnx import helper, numpy_helper

    from deepx.kernels.common import NAMED_ACTS

    rng = np.random.default_rng(0)
    if chain in ("silu", "silu swapped"):
        mul = ["y", "s"] if chain == "silu" else ["s", "y"]
        nodes = [helper.make_node("Sigmoid", ["y"], ["s"]), helper.make_node("Mul", mul, ["z"])]
    elif chain == "hardswish":
        nodes = [helper.make_node("HardSigmoid", ["y"], ["s"], alpha=1 / 6), helper.make_node("Mul", ["y", "s"], ["z"])]
    elif str(chain).startswith("relu6 hardswish"):
        nodes = [helper.make_node("Add", ["three", "y"], ["a"]), helper.make_node("Clip", ["a", "zero", "six"], ["c"])]
        nodes += [helper.make_node("Mul", ["sixth", "c"], ["m"]), helper.make_node("Mul", ["m", "y"], ["z"])] \
            if chain.endswith("first") else [helper.make_node("Mul", ["y", "c"], ["m"]),
                                              helper.make_node("Div", ["m", "six"], ["z"])]
    else:
        nodes = _gelu_chain(chain)
    consts = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4), "sqrt2": np.array(1.4142135),
              "rsqrt2": np.array(0.70710677), "one": np.array(1.0), "half": np.array(0.5), "three": np.array(3.0),
              "zero": np.array(0.0), "six": np.array(6.0), "sixth": np.array(1 / 6), "c044": np.array(0.044715),
              "s2pi": np.array(np.sqrt(2 / np.pi))}
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"])] + nodes, [("x", [1, 3, 8, 8])], ["z"],
                   [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()])
    g = from_onnx(model)
    assert [n.op for n in g.nodes] == ["conv2d"] and g.nodes[0].attrs["act"].kind == NAMED_ACTS[act].kind
    x = rng.standard_normal((1, 3, 8, 8), dtype=np.float32) * 2
    expected = onnxruntime(model, {"x": x})[0]
    for backend in ("ref", "numba", "cython"):
        assert_matches(run_graph(g, {"x": x}, backend)["z"], expected)
    exported = to_onnx(g)
    assert_matches(onnxruntime(exported, {"x": x})[0], expected)


def test_a_gate_read_elsewhere_is_not_fused():
    from onnx import helper

    model = _model([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
                   [("x", [2, 4])], ["y", "s"])
    assert sorted(n.op for n in from_onnx(model).nodes) == ["activation", "mul"]


def test_elementwise_operators_match_onnxruntime():
    """Every new elementwise ONNX operator in one graph (opset 20), through import, run and export."""
    from onnx import helper

    n = helper.make_node
    nodes = [n("Sub", ["x", "c"], ["a1"]), n("Div", ["a1", "d"], ["a2"]), n("Pow", ["d", "x"], ["a3"]),
             n("Min", ["a1", "a2", "a3"], ["a4"]), n("Max", ["a4", "x"], ["a5"]), n("Mean", ["a5", "a1"], ["a6"]),
             n("LeakyRelu", ["a6"], ["b1"], alpha=0.2), n("Elu", ["b1"], ["b2"]), n("Selu", ["b2"], ["b3"]),
             n("PRelu", ["b3", "slope"], ["b4"]), n("Softplus", ["b4"], ["b5"]), n("Softsign", ["b5"], ["b6"]),
             n("Gelu", ["b6"], ["b7"]), n("Mish", ["b7"], ["b8"]), n("HardSwish", ["b8"], ["b9"]),
             n("HardSigmoid", ["b9"], ["c1"]), n("Exp", ["c1"], ["c2"]), n("Log", ["c2"], ["c3"]),
             n("Neg", ["c3"], ["c4"]), n("Abs", ["c4"], ["c5"]), n("Sqrt", ["c5"], ["c6"]),
             n("Reciprocal", ["c6"], ["c7"]), n("Erf", ["c7"], ["c8"]), n("Celu", ["c8"], ["c9"], alpha=0.5),
             n("Greater", ["x", "c9"], ["m1"]), n("Less", ["x", "c"], ["m2"]), n("Or", ["m1", "m2"], ["m3"]),
             n("Not", ["m3"], ["m4"]), n("Where", ["m4", "c9", "x"], ["y1"]), n("Floor", ["y1"], ["y2"]),
             n("Equal", ["x", "x"], ["m5"]), n("Where", ["m5", "y2", "c"], ["y"])]
    from onnx import numpy_helper

    rng = np.random.default_rng(2)
    consts = {"c": rng.standard_normal((1, 4, 1, 1)), "d": np.abs(rng.standard_normal(5)) + 0.5,
              "slope": rng.standard_normal((4, 1, 1))}
    model = _model(nodes, [("x", [2, 4, 3, 5])], ["y"],
                   [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()], opset=20)
    g = from_onnx(model)
    x = rng.standard_normal((2, 4, 3, 5), dtype=np.float32)
    expected = onnxruntime(model, {"x": x})[0]
    for backend in ("ref", "numba", "cython"):
        assert_matches(run_graph(g, {"x": x}, backend)["y"], expected)
    exported = to_onnx(g)
    onnx.checker.check_model(exported)
    assert_matches(onnxruntime(exported, {"x": x})[0], expected)


def test_shape_arithmetic_folds_to_ints():
    """Shape -> Gather -> Div / Mul / Sub -> Concat -> Reshape folds in int64 (Div truncating toward zero)."""
    from onnx import helper, numpy_helper

    n = helper.make_node
    ints = {"i1": np.array(1), "two": np.array(2), "neg": np.array([-13]), "three": np.array([3]),
            "nine": np.array([9]), "zero": np.array([0])}
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i1"], ["c"]), n("Div", ["c", "two"], ["h"]),
             n("Mul", ["h", "two"], ["h2"]), n("Sub", ["h2", "h"], ["h3"]), n("Div", ["neg", "three"], ["t"]),
             n("Abs", ["t"], ["t2"]), n("Unsqueeze", ["h3", "zero"], ["u"]),
             n("Concat", ["t2", "u", "nine"], ["shape"], axis=0), n("Neg", ["shape"], ["negs"]),
             n("Neg", ["negs"], ["shape2"]), n("Reshape", ["x", "shape2"], ["y"])]
    model = _model(nodes, [("x", [3, 4, 2, 3])], ["y"], [numpy_helper.from_array(v.astype(np.int64), k)
                                                        for k, v in ints.items()])
    g = from_onnx(model)
    assert g.shapes["y"] == (4, 2, 9)  # -13 / 3 = -4 in ONNX
    x = np.arange(72, dtype=np.float32).reshape(3, 4, 2, 3)
    assert_matches(run_graph(g, {"x": x})["y"], onnxruntime(model, {"x": x})[0])


@pytest.mark.parametrize("op_type, attrs, message", [
    ("Gelu", dict(approximate="fast"), "approximate='fast' is not supported"),
    ("Celu", dict(alpha=0.0), "alpha=0 is not supported"),
])
def test_unsupported_attribute_values_are_named(op_type, attrs, message):
    from onnx import helper

    model = _model([helper.make_node(op_type, ["x"], ["y"], name="n1", **attrs)], [("x", [2, 4])], ["y"], opset=20)
    with pytest.raises(ModelError, match=f"node 'n1' \\({op_type}\\): .*{message}"):
        from_onnx(model)


def _check_model(model, shapes, ops=None, backends=("auto",), seed=0):
    """Import `model`, compare deepx (on `backends`) and its export with ONNX Runtime; ops: the IR ops expected."""
    rng = np.random.default_rng(seed)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes}
    expected = onnxruntime(model, feeds)
    g = from_onnx(model)
    if ops is not None:
        assert [n.op for n in g.nodes] == ops
    for backend in backends:
        for name, e in zip(g.outputs, expected):
            assert_matches(run_graph(g, feeds, backend)[name], e)
    exported = to_onnx(g)
    onnx.checker.check_model(exported)
    for y, e in zip(onnxruntime(exported, feeds), expected):
        assert_matches(y, e)


def _backends():
    from deepx import kernels

    return [b for b in ("numba", "cython", "opencl") if kernels.backend_usable(b)[0]]


def _init(name, value):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value), name)


@pytest.mark.parametrize("square", ["Pow", "Mul"])
@pytest.mark.parametrize("affine", [0, 1, 2])
@pytest.mark.parametrize("opset", [13, 18])
def test_spelled_out_layernorm_becomes_one_node(square, affine, opset):
    from onnx import helper

    rng = np.random.default_rng(3)

    def mean(src, out):
        if opset >= 18:
            return helper.make_node("ReduceMean", [src, "axes"], [out])
        return helper.make_node("ReduceMean", [src], [out], axes=[-1])

    nodes = [mean("x", "m"), helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["p"]) if square == "Pow" else
             helper.make_node("Mul", ["d", "d"], ["p"]),
             mean("p", "v"), helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n" if affine else "y"])]
    if affine:
        nodes.append(helper.make_node("Mul", ["gamma", "n"], ["g" if affine == 2 else "y"]))
    if affine == 2:
        nodes.append(helper.make_node("Add", ["g", "beta"], ["y"]))
    inits = [_init("two", np.float32(2.0)), _init("eps", np.float32(1e-5)), _init("axes", np.array([-1])),
             _init("gamma", rng.standard_normal(16).astype(np.float32)),
             _init("beta", rng.standard_normal((1, 16)).astype(np.float32))]
    if opset < 18:  # as PyTorch writes them: Constant nodes, not initializers
        nodes = [helper.make_node("Constant", [], [t.name], value=t) for t in inits] + nodes
        inits = []
    _check_model(_model(nodes, [("x", [2, 5, 16])], ["y"], inits, opset), [("x", (2, 5, 16))], ["layernorm"],
                 _backends())


def test_layernorm_chain_with_a_second_reader_stays_apart():
    from onnx import helper

    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]), helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Mul", ["d", "d"], ["p"]), helper.make_node("ReduceMean", ["p"], ["v"], axes=[-1]),
             helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["y"])]
    from deepx.models.onnx_import import _Importer
    from deepx.models.onnx_ops.reduce import PATTERNS

    for outputs, fused in ((["y"], True), (["y", "v"], False)):  # `v` an output too: not fused
        model = _model(nodes, [("x", [2, 8])], outputs, [_init("eps", np.float32(1e-5))])
        rewritten = PATTERNS[0](_Importer(model, "m"), list(model.graph.node))
        assert [n.op_type for n in rewritten] == (["LayerNormalization"] if fused else [n.op_type for n in nodes])


@pytest.mark.parametrize("scale", [True, False])
def test_attention_block(scale):
    """softmax(Q·Kᵀ / sqrt(d))·V over (B,H,T,D) tensors: two runtime-operand MatMuls."""
    from onnx import helper

    d = 8
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["qk"]),
             helper.make_node("Mul", ["qk", "scale"], ["s"]) if scale else helper.make_node("Identity", ["qk"], ["s"]),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["y"])]
    shapes = [("q", (2, 3, 5, d)), ("k", (2, 3, 7, d)), ("v", (2, 3, 7, d))]
    model = _model(nodes, [(n, list(s)) for n, s in shapes], ["y"], [_init("scale", np.float32(1 / np.sqrt(d)))])
    _check_model(model, shapes, None, _backends())
    assert [n.op for n in from_onnx(model).nodes].count("matmul") == 2


def _one(op_type, inputs, attrs=None, inits=(), opset=13, out_cast=False):
    from onnx import TensorProto, helper

    nodes = [helper.make_node(op_type, [n for n, _ in inputs] + [i.name for i in inits], ["r" if out_cast else "y"],
                              **(attrs or {}))]
    if out_cast:
        nodes.append(helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT))
    return _model(nodes, [(n, list(s)) for n, s in inputs], ["y"], inits, opset)


REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare",
              "ReduceLogSumExp", "ReduceProd"]


@pytest.mark.parametrize("op_type", REDUCE_OPS)
@pytest.mark.parametrize("axes, keepdims", [([1], 1), ([-1, 1], 0), ([0, 2], 1), (None, 0), (None, 1)])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_import(op_type, axes, keepdims, opset):
    attrs, inits = dict(keepdims=keepdims), ()
    if axes is not None and (opset >= 18 or op_type == "ReduceSum"):
        inits = (_init("axes", np.array(axes, np.int64)),)
    elif axes is not None:
        attrs["axes"] = axes
    x = [("x", (2, 3, 4))]
    _check_model(_one(op_type, x, attrs, inits, opset), x, ["reduce"])


def test_reduce_noop_with_empty_axes():
    from onnx import helper

    model = _model([helper.make_node("ReduceMax", ["x"], ["r"], noop_with_empty_axes=1),
                    helper.make_node("Relu", ["r"], ["y"])], [("x", [2, 3])], ["y"], opset=18)
    _check_model(model, [("x", (2, 3))], ["activation"])


def test_reduce_of_constants_folds_in_their_dtype():
    from onnx import helper

    model = _model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ReduceProd", ["s"], ["n"], keepdims=1),
                    helper.make_node("Reshape", ["x", "n"], ["y"])], [("x", [2, 3, 4])], ["y"])
    g = from_onnx(model)
    assert [n.op for n in g.nodes] == ["reshape"] and g.shapes["y"] == (24,)


@pytest.mark.parametrize("op_type", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [dict(axis=1), dict(axis=-1, keepdims=0), dict(axis=0, select_last_index=1)])
def test_argmax_argmin_import(op_type, attrs):
    x = [("x", (3, 4, 5))]
    _check_model(_one(op_type, x, attrs, out_cast=True), x, [op_type.lower(), "reshape"], _backends())  # Cast: a view


@pytest.mark.parametrize("opset, axis", [(11, 1), (11, 2), (13, 1), (13, -1)])
def test_log_softmax_import(opset, axis):
    x = [("x", (2, 3, 4))]
    _check_model(_one("LogSoftmax", x, dict(axis=axis), opset=opset), x, None, _backends())


@pytest.mark.parametrize("axis, bias", [(-1, True), (1, False), (2, True)])
def test_layernorm_import(axis, bias):
    rng = np.random.default_rng(4)
    shape = (2, 3, 4, 5)
    inner = shape[axis:]
    inits = [_init("scale", rng.standard_normal(inner).astype(np.float32))]
    if bias:
        inits.append(_init("bias", rng.standard_normal(inner).astype(np.float32)))
    x = [("x", shape)]
    _check_model(_one("LayerNormalization", x, dict(axis=axis, epsilon=1e-3), inits, 17), x, ["layernorm"],
                 _backends())


def test_instancenorm_import():
    rng = np.random.default_rng(5)
    inits = [_init(n, rng.standard_normal(4).astype(np.float32)) for n in ("s", "b")]
    x = [("x", (2, 4, 3, 5))]
    _check_model(_one("InstanceNormalization", x, dict(epsilon=1e-4), inits), x, ["instancenorm"], _backends())


@pytest.mark.parametrize("opset", [18, 21])
def test_groupnorm_import(opset):
    rng = np.random.default_rng(6)
    n = 2 if opset < 21 else 6  # per group before opset 21, per channel from 21
    inits = [_init(name, rng.standard_normal(n).astype(np.float32)) for name in ("s", "b")]
    x = [("x", (2, 6, 3, 5))]
    _check_model(_one("GroupNormalization", x, dict(num_groups=2, epsilon=1e-4), inits, opset), x, ["groupnorm"],
                 _backends())


@pytest.mark.parametrize("a_shape, b_shape, const", [
    ((2, 3, 5, 4), (2, 3, 4, 6), None), ((2, 1, 5, 4), (3, 4, 6), None), ((4,), (2, 4, 3), None),
    ((2, 5, 4), (4,), None), ((5, 4), (2, 4, 3), "a"), ((3, 5, 4), (4, 6), "b"), ((4,), (4, 6), "b")])
def test_matmul_import(a_shape, b_shape, const):
    from onnx import helper

    rng = np.random.default_rng(7)
    inputs = [(n, s) for n, s in (("a", a_shape), ("b", b_shape)) if n != const]
    inits = [_init(const, rng.standard_normal(a_shape if const == "a" else b_shape).astype(np.float32))] if const \
        else []
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])], [(n, list(s)) for n, s in inputs], ["y"], inits)
    _check_model(model, inputs, None, _backends())
    assert ("dense" in [n.op for n in from_onnx(model).nodes]) == (const == "b")


@pytest.mark.parametrize("attrs, b_const, c", [
    (dict(transA=1), True, "bias"), (dict(transA=1, transB=1, alpha=0.5), True, None),
    (dict(transB=1), False, None), (dict(alpha=2.0, beta=0.5), False, "runtime"),
    (dict(transA=1, beta=3.0), True, "runtime"), (dict(alpha=0.5, beta=2.0), False, "matrix")])
def test_gemm_import(attrs, b_const, c):
    from onnx import helper

    rng = np.random.default_rng(8)
    a_shape = (4, 3) if attrs.get("transA") else (3, 4)
    b_shape = (5, 4) if attrs.get("transB") else (4, 5)
    inputs, inits, names = [("a", a_shape)], [], ["a", "b"]
    if b_const:
        inits.append(_init("b", rng.standard_normal(b_shape).astype(np.float32)))
    else:
        inputs.append(("b", b_shape))
    if c == "runtime":
        inputs.append(("c", (3, 5)))
    elif c:
        inits.append(_init("c", rng.standard_normal(5 if c == "bias" else (3, 5)).astype(np.float32)))
    names += ["c"] if c else []
    model = _model([helper.make_node("Gemm", names, ["y"], **attrs)], [(n, list(s)) for n, s in inputs], ["y"],
                   inits)
    _check_model(model, inputs, None, _backends())


@pytest.mark.parametrize("act", ["hardsigmoid", "hardswish", ("leakyrelu", 0.1), ("elu", 0.7), "selu", ("celu", 0.5),
                                 ("thresholdedrelu", 0.3), "softplus", "softsign", "gelu", "gelu_tanh", "mish", "silu",
                                 "exp", "neg", "abs", "erf", "floor", "ceil", "not", "relu6"], ids=str)
def test_every_fused_activation_exports(act):
    """An add with a fused activation exports at opset 13 (Gelu, Mish, HardSwish spelled out) and runs in ORT."""
    from deepx import kernels
    from deepx.models.graph import Graph, Node

    c = np.array([0.5, -1.0, 0.0, 2.0], np.float32)
    g = Graph("g", ["x"], ["y"], [Node("n", "add", ["x", "c"], ["y"], dict(act=kernels.check("add", (c, c), dict(
        act=act))[1]["act"]))], {"x": (3, 4), "c": (4,), "y": (3, 4)}, {"c": c})
    x = (np.random.default_rng(3).standard_normal((3, 4)) * 3).astype(np.float32)
    exported = to_onnx(g)
    onnx.checker.check_model(exported)
    assert_matches(onnxruntime(exported, {"x": x})[0], kernels.run("add", "ref", x, c, act=act))
