"""Issue 15's modern models (models/modern, made by tests/models/build.py) with random He weights: imported by
deepx at batch 1, run on every usable compiled CPU backend and, where it is usable, on OpenCL (each block whose
ops it has; the rest on the CPU), every output compared with ONNX Runtime. A model deepx refuses at import (an
operator or attribute it does not support yet: a ModelError saying "support") skips with the refusal; any other
error fails. The float64 reference backend is left out (seconds per model; test_reference_vs_onnxruntime checks
it op by op)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from deepx import kernels
from deepx.errors import KernelError
from deepx.models import light
from deepx.models.graph import VIEW_OPS, ModelError
from deepx.models.onnx_import import load_onnx
from deepx.runtime import blocks as B
from deepx.runtime.executor import Executor

MODELS = sorted(light.modern())
CPU = [b for b in kernels.BACKENDS if not kernels.info(b).device and not kernels.info(b).reference]
_cache = {}


def imported(name):
    """(Graph, feeds, ONNX Runtime's outputs by name), or pytest.skip with deepx's refusal."""
    if name not in _cache:
        path = light.path(name)
        try:
            g = load_onnx(path, default_batch=1, note=lambda message: None)
        except ModelError as e:
            if "support" not in str(e):  # not a refusal ("unsupported operators: …", "… is not supported"): a bug
                raise
            _cache[name] = f"{name}: {str(e).split(': ', 1)[1]}"  # the refusal, without the cached file's path
        else:
            feeds = {n: np.random.default_rng(0).standard_normal(g.shapes[n]).astype(np.float32) for n in g.inputs}
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = 2
            sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            _cache[name] = g, feeds, dict(zip(names, sess.run(names, feeds)))
    if isinstance(_cache[name], str):
        pytest.skip(_cache[name])
    return _cache[name]


def opencl_plan(g) -> dict:
    """Every block whose ops OpenCL has on the GPU with OpenCL, the others on the CPU."""
    def has(op):
        try:
            return bool(kernels.lookup(op, "opencl"))
        except KernelError:
            return False

    cpu = kernels.host_backend()
    steps = []
    for b in B.make_blocks(g):
        proc, backend = ("gpu", "opencl") if all(has(n.op) for n in b.nodes if n.op not in VIEW_OPS) else ("cpu", cpu)
        steps.append(dict(name=b.name, home=proc, parts=[dict(processor=proc, backend=backend, channels=None)]))
    return dict(board="test", blocks=steps)


def assert_matches(ours, expected):
    """The issue's bound for every output: max |deepx - ORT| <= 1e-4 * max(1, max |ORT|)."""
    assert set(ours) == set(expected)
    for name, e in expected.items():
        assert ours[name].shape == e.shape, name
        bound = 1e-4 * max(1.0, float(np.abs(e).max()))
        assert np.abs(ours[name] - e).max() <= bound, f"{name}: {np.abs(ours[name] - e).max():.3g} > {bound:.3g}"


@pytest.mark.parametrize("backend", CPU + ["opencl"])
@pytest.mark.parametrize("name", MODELS)
def test_modern_model_matches_onnxruntime(name, backend):
    ok, why = kernels.backend_usable(backend)
    if not ok:
        pytest.skip(why)
    g, feeds, expected = imported(name)
    ex = Executor(g, opencl_plan(g)) if backend == "opencl" else Executor(g, backend=backend)
    try:
        assert_matches(ex.run(feeds), expected)
    finally:
        ex.close()


def test_structure_files_are_small_and_described():
    """Each structure file is small enough for git, and models.json's operator list is the file's."""
    for name, info in light.modern().items():
        model = onnx.load(light.path(name, "own"))
        assert len(model.SerializeToString()) < 200_000, name
        made = {"Constant", "ConstantOfShape"}  # the weights' stand-ins
        assert {n.op_type for n in model.graph.node} - made == set(info["operators"]) - made, name
        assert [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim][1:] \
            == info["input"][1:], name


def test_run_and_bench_take_a_model_name():
    from deepx.tools.commands.run import model_file

    assert model_file("efficientnet_b0") == light.path("efficientnet_b0")
    assert model_file("squeezenet") == light.path("squeezenet")
    assert model_file("net.onnx") == "net.onnx"
