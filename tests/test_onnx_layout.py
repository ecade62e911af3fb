"""Data-movement and Resize operators imported from ONNX, run and exported, against ONNX Runtime; the importer's
compositions (Tile, Split, DepthToSpace, SpaceToDepth) and folded shape subgraphs included."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from deepx import kernels
from deepx.models.execute import run_graph
from deepx.models.graph import ModelError
from deepx.models.onnx_export import to_onnx
from deepx.models.onnx_import import from_onnx


def _i64(*v):
    return np.array(v, np.int64)


def _f32(*v):
    return np.array(v, np.float32)


def _model(nodes, x_shape, inits, opset):
    outs = sorted({o for n in nodes for o in n.output} - {i for n in nodes for i in n.input})
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, x):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})


def _assert_matches(y, expected):
    assert y.shape == expected.shape
    assert np.abs(y - expected).max(initial=0) <= 1e-4 * max(1.0, float(np.abs(expected).max(initial=0)))


N = helper.make_node
# (id, nodes, input shape, initializers, opset, exportable to opset 13)
CASES = [
    ("tile", [N("Tile", ["x", "r"], ["y"])], (2, 3, 4), dict(r=_i64(2, 1, 3)), 19, True),
    ("split-input", [N("Split", ["x", "s"], ["a", "b"], axis=1)], (2, 5, 4), dict(s=_i64(2, 3)), 13, True),
    ("split-num-outputs", [N("Split", ["x"], ["a", "b", "c"], axis=-1, num_outputs=3)], (2, 5, 7), {}, 18, True),
    ("split-attribute", [N("Split", ["x"], ["a", "b"], axis=1, split=[1, 4])], (2, 5, 4), {}, 11, True),
    ("split-equal", [N("Split", ["x"], ["a", "b"], axis=2)], (2, 5, 4), {}, 11, True),
    ("depth-to-space-dcr", [N("DepthToSpace", ["x"], ["y"], blocksize=2, mode="DCR")], (1, 8, 3, 4), {}, 13, True),
    ("depth-to-space-crd", [N("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD")], (1, 8, 3, 4), {}, 13, True),
    ("space-to-depth", [N("SpaceToDepth", ["x"], ["y"], blocksize=2)], (1, 3, 4, 6), {}, 13, True),
    ("slice-steps", [N("Slice", ["x", "s", "e", "a", "st"], ["y"])], (3, 5, 7),
     dict(s=_i64(-1, 1), e=_i64(-2**63, 2**63 - 1), a=_i64(0, -1), st=_i64(-1, 2)), 13, True),
    ("slice-attributes", [N("Slice", ["x"], ["y"], starts=[1], ends=[100], axes=[2])], (3, 5, 7), {}, 9, True),
    ("gather", [N("Gather", ["x", "i"], ["y"], axis=1)], (3, 5, 7), dict(i=_i64(-1, 2, 0)), 13, True),
    ("gather-scalar", [N("Gather", ["x", "i"], ["y"], axis=2)], (3, 5, 7), dict(i=np.array(3, np.int64)), 13, True),
    ("expand", [N("Expand", ["x", "s"], ["y"])], (3, 1, 7), dict(s=_i64(2, 1, 4, 1)), 13, True),
    *[(f"pad-{m}", [N("Pad", ["x", "p", "v", "ax"], ["y"], mode=m)], (2, 3, 5, 6),
       dict(p=_i64(1, 2, -1, 2), v=_f32(1.5).reshape(()), ax=_i64(1, 3)), 19, True)
      for m in ("constant", "reflect", "edge", "wrap")],
    ("pad-attributes", [N("Pad", ["x"], ["y"], mode="reflect", pads=[0, 0, 1, 2, 0, 0, 2, 1])], (2, 3, 5, 6), {}, 9,
     True),
    ("shape-subgraph", [N("Shape", ["x"], ["s"], start=1, end=-1), N("Size", ["x"], ["n"]),
                        N("Unsqueeze", ["n", "z"], ["n1"]), N("Concat", ["s", "n1"], ["t"], axis=0),
                        N("Cast", ["t"], ["tf"], to=1), N("Reshape", ["x", "s2"], ["r"]), N("Add", ["r", "tf"], ["y"])],
     (2, 3, 5), dict(s2=_i64(-1, 2), z=_i64(0)), 15, True),
    ("range", [N("Range", ["a", "b", "c"], ["r"]), N("Cast", ["r"], ["rf"], to=1), N("Add", ["x", "rf"], ["y"])],
     (2, 5), dict(a=np.array(0, np.int64), b=np.array(10, np.int64), c=np.array(2, np.int64)), 13, True),
    *[(f"resize-{m}-{c}-{by}", [N("Resize", ["x", "", "sc"] if by == "scales" else ["x", "", "", "sz"], ["y"], mode=m,
                                  coordinate_transformation_mode=c)], (1, 3, 5, 6),
       dict(sc=_f32(1, 1, 2, 2)) if by == "scales" else dict(sz=_i64(1, 3, 3, 11)), 13, True)
      for m in ("nearest", "linear") for c in ("asymmetric", "half_pixel", "align_corners", "pytorch_half_pixel")
      for by in ("scales", "sizes")],
    ("resize-axes-not-larger", [N("Resize", ["x", "", "", "sz"], ["y"], mode="linear", axes=[3, 2],
                                  keep_aspect_ratio_policy="not_larger")], (1, 3, 5, 6), dict(sz=_i64(9, 20)), 18,
     False),
    ("resize-not-smaller", [N("Resize", ["x", "", "", "sz"], ["y"], mode="nearest", axes=[2, 3],
                              keep_aspect_ratio_policy="not_smaller")], (1, 3, 5, 6), dict(sz=_i64(9, 20)), 18, False),
    ("resize-10-up", [N("Resize", ["x", "sc"], ["y"], mode="nearest")], (1, 3, 5, 6), dict(sc=_f32(1, 1, 2, 1.5)), 10,
     True),
    ("resize-10-down", [N("Resize", ["x", "sc"], ["y"], mode="nearest")], (1, 3, 5, 6), dict(sc=_f32(1, 1, .5, .6)),
     10, True),
    ("resize-symmetric", [N("Resize", ["x", "", "sc"], ["y"], mode="linear",
                            coordinate_transformation_mode="half_pixel_symmetric")], (1, 2, 5, 6),
     dict(sc=_f32(1, 1, 1.5, 0.75)), 19, False),
    ("upsample-9", [N("Upsample", ["x", "sc"], ["y"], mode="linear")], (1, 3, 5, 6), dict(sc=_f32(1, 1, 2, 2)), 9,
     True),
    ("upsample-7", [N("Upsample", ["x"], ["y"], mode="nearest", scales=[1., 1., 2., 3.])], (1, 3, 5, 6), {}, 7, True),
]


def _backend(name):
    ok, why = kernels.backend_usable(name)
    return pytest.param(name, marks=pytest.mark.skipif(not ok, reason=why))


@pytest.mark.parametrize("backend", [_backend(b) for b in kernels.BACKENDS])
@pytest.mark.parametrize("nodes, shape, inits, opset, exportable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layout_operator_matches_onnxruntime(nodes, shape, inits, opset, exportable, backend):
    model = _model(nodes, shape, inits, opset)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = _ort(model, x)
    g = from_onnx(model)
    ours = run_graph(g, {"x": x}, backend)
    for name, e in zip(g.outputs, expected):
        _assert_matches(ours[name], e)
    if exportable and backend == "ref":
        exported = to_onnx(g)
        onnx.checker.check_model(exported)
        for y, e in zip(_ort(exported, x), expected):
            _assert_matches(y, e)


def test_compositions_are_views_and_transposes():
    ops = [n.op for n in from_onnx(_model(CASES[5][1], (1, 8, 3, 4), {}, 13)).nodes]
    assert ops == ["reshape", "transpose", "reshape"]


@pytest.mark.parametrize("attrs, message", [
    (dict(mode="cubic"), "mode 'cubic'"),
    (dict(coordinate_transformation_mode="tf_crop_and_resize"), "tf_crop_and_resize"),
    (dict(antialias=1), "antialias"),
])
def test_unsupported_resize_attribute_names_node_and_attribute(attrs, message):
    model = _model([N("Resize", ["x", "", "sc"], ["y"], name="up1", **attrs)], (1, 3, 5, 6),
                   dict(sc=_f32(1, 1, 2, 2)), 19)
    with pytest.raises(ModelError, match=message) as err:
        from_onnx(model)
    assert "'up1'" in str(err.value)


@pytest.mark.parametrize("gpu", [("cython", "numba"), pytest.param(("opencl",), marks=pytest.mark.skipif(
    not kernels.backend_usable("opencl")[0], reason="no OpenCL device"))])
def test_executor_runs_a_neck_of_layout_ops(gpu):
    """A YOLO-like neck (resize up, pad, slice, split, concat, tile) through the executor's arena, on
    random plans, equals the graph run."""
    from deepx.runtime.executor import Executor
    from test_executor import close, random_plan

    nodes = [N("Resize", ["x", "", "sc"], ["up"], mode="nearest"),
             N("Resize", ["x", "", "sc"], ["lin"], mode="linear"),
             N("Pad", ["up", "p"], ["pad"], mode="reflect"),
             N("Slice", ["pad", "s", "e", "ax"], ["cut"]),
             N("Split", ["cut"], ["a", "b"], axis=1, num_outputs=2),
             N("Concat", ["b", "lin", "a"], ["cat"], axis=1),
             N("Tile", ["cat", "r"], ["y"])]
    inits = dict(sc=_f32(1, 1, 2, 2), p=_i64(0, 0, 1, 1, 0, 0, 1, 1), s=_i64(1, 1), e=_i64(-1, -1),
                 ax=_i64(2, 3), r=_i64(2, 1, 1, 1))
    g = from_onnx(_model(nodes, (1, 4, 6, 5), inits, 18))
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 4, 6, 5)).astype(np.float32)}
    want = run_graph(g, feeds, "ref")
    for seed in range(3):
        ex = Executor(g, random_plan(g, np.random.default_rng(seed), gpu=gpu))
        for _ in range(2):
            close(ex.run(feeds), want)
        ex.close()
