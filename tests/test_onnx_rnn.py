"""ONNX LSTM / GRU / RNN import (and export) against ONNX Runtime: a CRNN head, every output, layouts, refusals."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deepx.models.execute import run_graph
from deepx.models.graph import ModelError
from deepx.models.onnx_export import to_onnx
from deepx.models.onnx_import import from_onnx

from test_onnx_models import _model, assert_matches, onnxruntime

RNG = np.random.default_rng(7)


def _init(name, *shape, scale=0.5):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def _check(model, feeds, export=True, expected=None):
    """deepx's outputs (every graph output) match ONNX Runtime's (or `expected`), and so do those of its export."""
    expected = onnxruntime(model, feeds) if expected is None else expected
    g = from_onnx(model)
    ours = run_graph(g, feeds)
    for o, e in zip(model.graph.output, expected):
        assert_matches(ours[o.name], e)
    if export:
        exported = to_onnx(g)
        onnx.checker.check_model(exported)
        for y, e in zip(onnxruntime(exported, feeds), expected):
            assert_matches(y, e)
    return g


def _check_layouts(build, inputs, layout):
    """build(layout) -> model over `inputs` [(name, shape for layout 0)] with outputs Y, Y_h (, Y_c). ONNX
    Runtime computes layout 0 only: the batch-first model is checked against it on transposed tensors."""
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, s in inputs}
    if not layout:
        return _check(build(0), feeds)
    expected = onnxruntime(build(0), feeds)
    expected = [e.transpose(2, 0, 1, 3) if e.ndim == 4 else e.transpose(1, 0, 2) for e in expected]
    feeds = {n: t.transpose(1, 0, 2) for n, t in feeds.items()}  # x (N,T,F), states (N,D,H)
    return _check(build(1), feeds, expected=expected)  # exported: layout 0 between transposes


def test_crnn_head_with_a_bidirectional_lstm():
    # x (1,1,8,16) -conv-> (1,4,8,16) -> (1,32,16) -> (T=16,N=1,F=32) -BiLSTM-> (16,2,1,6) -> (16,12) -gemm-> (16,5)
    H = 6
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["cr"]),
        helper.make_node("Reshape", ["cr", "s1"], ["f"]),
        helper.make_node("Transpose", ["f"], ["seq"], perm=[2, 0, 1]),
        helper.make_node("LSTM", ["seq", "w", "r", "b"], ["y"], direction="bidirectional", hidden_size=H),
        helper.make_node("Transpose", ["y"], ["yt"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["yt", "s2"], ["feat"]),
        helper.make_node("Gemm", ["feat", "gw", "gb"], ["logits"], transB=1),
    ]
    inits = [_init("cw", 4, 1, 3, 3), _init("cb", 4), numpy_helper.from_array(np.array([1, 32, 16], np.int64), "s1"),
             _init("w", 2, 4 * H, 32, scale=0.2), _init("r", 2, 4 * H, H), _init("b", 2, 8 * H),
             numpy_helper.from_array(np.array([16, 2 * H], np.int64), "s2"), _init("gw", 5, 2 * H), _init("gb", 5)]
    model = _model(nodes, [("x", (1, 1, 8, 16))], ["logits"], inits)
    g = _check(model, {"x": RNG.standard_normal((1, 1, 8, 16)).astype(np.float32)})
    assert [n.op for n in g.nodes].count("lstm") == 1


@pytest.mark.parametrize("layout", [0, 1])
def test_lstm_every_output_with_runtime_states_and_peepholes(layout):
    T, N, F, H = 5, 3, 4, 7
    inits = [_init("w", 2, 4 * H, F), _init("r", 2, 4 * H, H), _init("b", 2, 8 * H), _init("p", 2, 3 * H)]

    def build(layout):
        node = helper.make_node("LSTM", ["x", "w", "r", "b", "", "h0", "c0", "p"], ["y", "yh", "yc"],
                                direction="bidirectional", hidden_size=H, layout=layout)
        inputs = [(n, s[1::-1] + s[2:] if layout else s) for n, s in (("x", (T, N, F)), ("h0", (2, N, H)),
                                                                      ("c0", (2, N, H)))]
        return _model([node], inputs, ["y", "yh", "yc"], inits, opset=14)

    g = _check_layouts(build, [("x", (T, N, F)), ("h0", (2, N, H)), ("c0", (2, N, H))], layout)
    assert [n.attrs["result"] for n in g.nodes if n.op == "lstm"] == ["y", "c"]  # Y_h gathered from Y


@pytest.mark.parametrize("op, attrs", [
    ("GRU", dict(direction="forward", linear_before_reset=0)),
    ("GRU", dict(direction="bidirectional", linear_before_reset=1)),
    ("GRU", dict(direction="reverse", linear_before_reset=1, layout=1)),
    ("GRU", dict(direction="bidirectional", linear_before_reset=0, layout=1)),
    ("RNN", dict(direction="bidirectional")),
    ("RNN", dict(direction="reverse", layout=1)),
])
def test_gru_and_rnn_outputs(op, attrs):
    T, N, F, H, G = 6, 2, 5, 4, 3 if op == "GRU" else 1
    D = 2 if attrs["direction"] == "bidirectional" else 1
    seq = numpy_helper.from_array(np.full(N, T, np.int32), "seq")  # constant and all T: accepted
    inits = [_init("w", D, G * H, F), _init("r", D, G * H, H), _init("b", D, 2 * G * H), seq]

    def build(layout):
        node = helper.make_node(op, ["x", "w", "r", "b", "seq", "h0"], ["y", "yh"], hidden_size=H,
                                **dict(attrs, layout=layout))
        inputs = [("x", (N, T, F) if layout else (T, N, F)), ("h0", (N, D, H) if layout else (D, N, H))]
        return _model([node], inputs, ["y", "yh"], inits, opset=14)

    g = _check_layouts(build, [("x", (T, N, F)), ("h0", (D, N, H))], attrs.get("layout", 0))
    assert [n.op for n in g.nodes].count(op.lower()) == 1  # Y_h gathered from Y


@pytest.mark.parametrize("outputs", [["y", "yh", "yc"], ["", "", "yc"]])
def test_only_the_outputs_read_are_computed(outputs):
    T, N, F, H = 4, 1, 3, 5
    node = helper.make_node("LSTM", ["x", "w", "r"], outputs, hidden_size=H)
    model = _model([node], [("x", (T, N, F))], ["yc"], [_init("w", 1, 4 * H, F), _init("r", 1, 4 * H, H)])
    g = _check(model, {"x": RNG.standard_normal((T, N, F)).astype(np.float32)})
    assert [(n.op, n.attrs["result"]) for n in g.nodes if n.op == "lstm"] == [("lstm", "c")]


@pytest.mark.parametrize("attrs, extra, message", [
    (dict(clip=3.0), {}, "clip"),
    (dict(activations=["Sigmoid", "Relu", "Tanh"]), {}, "activations"),
    (dict(input_forget=1), {}, "input_forget"),
    (dict(hidden_size=4), {}, "hidden_size"),
    ({}, dict(seq=np.array([3, 2], np.int32)), "sequence_lens"),
    ({}, dict(seq="runtime"), "sequence_lens"),
])
def test_unsupported_attributes_are_refused_by_name(attrs, extra, message):
    T, N, F, H = 3, 2, 3, 5
    ins, inputs, inits = ["x", "w", "r", "", ""], [("x", (T, N, F))], [_init("w", 1, 4 * H, F), _init("r", 1, 4 * H, H)]
    if "seq" in extra:
        ins[4] = "seq"
        if isinstance(extra["seq"], str):
            inputs.append(("seq", (N,)))
        else:
            inits.append(numpy_helper.from_array(extra["seq"], "seq"))
    node = helper.make_node("LSTM", ins, ["y"], name="rnn1", **dict(dict(hidden_size=H), **attrs))
    model = _model([node], inputs, ["y"], inits)
    if message == "sequence_lens" and isinstance(extra.get("seq"), str):
        model.graph.input[1].type.tensor_type.elem_type = TensorProto.FLOAT  # a runtime (float) sequence_lens
    with pytest.raises(ModelError, match=message) as err:
        from_onnx(model)
    assert "rnn1" in str(err.value)


def _onnx_node_cases():
    from onnx.backend.test.case.node import collect_testcases

    return [c for op in ("LSTM", "GRU", "RNN") for c in collect_testcases(op)]


@pytest.mark.parametrize("case", _onnx_node_cases(), ids=lambda c: c.name)
def test_onnx_node_cases(case):
    """ONNX's own LSTM / GRU / RNN test cases (weights as runtime inputs; sequence_lens made a constant)."""
    model, (inputs, expected) = onnx.ModelProto(), case.data_sets[0]
    model.CopyFrom(case.model)
    feeds = {}
    for vi, value in zip(list(model.graph.input), inputs):
        if value.dtype == np.float32:
            feeds[vi.name] = value
        else:
            model.graph.input.remove(vi)
            model.graph.initializer.append(numpy_helper.from_array(value, vi.name))
    g = from_onnx(model, case.name)
    ours = run_graph(g, feeds)
    for name, e in zip(g.outputs, expected):
        assert_matches(ours[name], e)


@pytest.mark.parametrize("op, T, N, H, attrs", [
    ("lstm", 3, 4, 128, dict(direction="bidirectional")),  # directions side by side
    ("lstm", 3, 4, 128, dict(direction="reverse")),  # each step's h·rᵀ and gates shared by the threads
    ("gru", 2, 8, 128, dict(direction="forward", linear_before_reset=False)),
    ("gru", 2, 8, 128, dict(direction="bidirectional", linear_before_reset=True)),
    ("rnn", 2, 16, 128, dict(direction="forward")),
])
def test_large_layers_take_the_parallel_paths(op, T, N, H, attrs):
    from deepx import kernels

    G, D, F = dict(lstm=4, gru=3, rnn=1)[op], 2 if attrs["direction"] == "bidirectional" else 1, 64
    tensors = [RNG.standard_normal(s).astype(np.float32) * 0.3 for s in
               ((T, N, F), (D, G * H, F), (D, G * H, H), (D, 2 * G * H), (D, N, H))]
    for result in ("y", "h"):
        expected = kernels.run(op, "ref", *tensors, result=result, **attrs)
        for backend in ("cython", "numba"):
            if kernels.backend_usable(backend)[0]:
                assert_matches(kernels.run(op, backend, *tensors, result=result, **attrs), expected)
