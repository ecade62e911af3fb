"""Peers beside ONNX Runtime (tools/peers.py, `--against mnn ncnn`): MNN and ncnn run the file deepx runs,
converted once without MNN's Python wrapper, checked against ONNX Runtime's outputs before they are timed. They
are no CI dependency: the tests that run them skip without their packages; the missing-package error, the
rewrite the converters read and the checks run always."""
import importlib.util
import os
import sys

import numpy as np
import pytest
import onnx
from onnx import TensorProto, helper, numpy_helper

from deepx.errors import DeepxError
from deepx.models import io, load
from deepx.models.onnx_export import to_onnx
from deepx.runtime.executor import Executor
from deepx.runtime.plan import file_sha256
from deepx.tools import bench_executor, bench_kernels, cli, compare, peers, perf_tables, runner
from deepx.tools.commands import run
from deepx.tools.commands.run import compare_line

INSTALLED = {"mnn": importlib.util.find_spec("MNN") is not None,
             "ncnn": importlib.util.find_spec("ncnn") is not None and importlib.util.find_spec("pnnx") is not None}
ENGINES = [pytest.param(name, marks=pytest.mark.skipif(not INSTALLED[name], reason=f"{name} is not installed "
                                                                                   f"({peers.ENGINES[name].pip})"))
           for name in peers.ENGINES]


def test_the_command_line_offers_every_engine():
    assert set(run.PEERS) == set(peers.ENGINES)


@pytest.mark.parametrize("name, module", [("mnn", "MNN"), ("ncnn", "ncnn"), ("ncnn", "pnnx")])
def test_a_missing_package_is_one_line_naming_pip_and_exit_2(monkeypatch, capsys, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import MNN` raises ImportError; find_spec("pnnx") is None
    with pytest.raises(SystemExit) as e:
        cli.main(["compare", "--models", "squeezenet", "--against", "onnxruntime", name])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepx: error: ") and "pip install" in err[0], err
    with pytest.raises(DeepxError, match="pip install"):
        peers.session(name, "unused.onnx", {"x": np.zeros((1, 4), np.float32)}, ["y"], 1)


def old_softmax(op, axis, shape, opset=11):
    """y = op(x + b) at `opset` without an axis (axis None) or with one; b an initializer also listed in
    graph.input, as older exporters wrote them."""
    b = numpy_helper.from_array(np.linspace(-1, 1, int(np.prod(shape)), dtype=np.float32).reshape(shape), "b")
    nodes = [helper.make_node("Add", ["x", "b"], ["xb"]),
             helper.make_node(op, ["xb"], ["y"], **({} if axis is None else {"axis": axis}))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "xb"],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [b])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis, shape", [(None, [1, 10, 1, 1]), (None, [1, 4, 3, 2]), (2, [1, 4, 3, 2]),
                                         (-1, [2, 5])])
def test_prepared_keeps_the_meaning_the_converters_misread(tmp_path, op, axis, shape):
    """Opset < 13 flattens from `axis` (default 1); MNN's and pnnx's converters read a missing axis as -1."""
    src, dest = str(tmp_path / "old.onnx"), str(tmp_path / "prepared.onnx")
    onnx.save(old_softmax(op, axis, shape), src)
    peers.prepared(src, dest)
    x = {"x": np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
    before, after = (bench_kernels.ort_inference_session(p, 1).run(None, x)[0] for p in (src, dest))
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    m = onnx.load(dest)
    assert [i.name for i in m.graph.input] == ["x"]
    assert [n.op_type for n in m.graph.node] == ["Add", "Flatten", op, "Shape", "Reshape"]


def test_prepared_leaves_opset_13_softmax_and_lowers_the_ir_version(tmp_path):
    src, dest = str(tmp_path / "new.onnx"), str(tmp_path / "prepared.onnx")
    model = old_softmax("Softmax", None, [1, 10, 1, 1], opset=13)
    model.ir_version = 14
    onnx.save(model, src)
    peers.prepared(src, dest)
    m = onnx.load(dest)
    assert [n.op_type for n in m.graph.node] == ["Add", "Softmax"] and m.ir_version == 7


class Offset:
    """A peer that is ONNX Runtime plus `offset` on every output (no package needed)."""

    offset, label = 0.0, "MNN"  # stands in for MNN

    def __init__(self, onnx_path, feeds, outputs, threads):
        self.session, self.outputs = bench_kernels.ort_inference_session(onnx_path, threads), outputs

    @classmethod
    def about(cls):
        return f"ONNX Runtime + {cls.offset}"

    def run(self, feeds):
        return {n: y + self.offset for n, y in zip(self.outputs, self.session.run(self.outputs, feeds))}


@pytest.fixture
def chain(tmp_path):
    """(path, graph, feeds, executor): three dense layers as an ONNX file."""
    g = bench_executor.chain(3)
    path = str(tmp_path / "chain.onnx")
    with open(path, "wb") as f:
        f.write(to_onnx(g).SerializeToString())
    ex = Executor(g)
    yield path, g, {"x": np.ones((1, 8), np.float32)}, ex
    ex.close()


def test_a_peer_is_timed_in_the_same_turns_with_its_keys(monkeypatch, chain):
    monkeypatch.setitem(peers.ENGINES, "mnn", Offset)
    r = runner.against_onnxruntime(*chain, 1, 0.01, min_runs=2, peers=["mnn"])
    assert r["mnn_ms"] > 0 and r["max_abs_diff_mnn"] == 0 and r["mnn_settings"] == "ONNX Runtime + 0.0"
    assert r["speed_vs_mnn"] == pytest.approx(r["mnn_ms"] / r["deepx_ms"])
    assert compare.rel_diff(r, "_mnn") == 0
    line = compare_line(dict(r, model="chain", variant="uncompressed"), ["mnn"])
    assert len(line.split()) == 9 + 3
    table = perf_tables.models_table([dict(r, model="chain", variant="uncompressed")], ["mnn"])
    head, rule, row = table.splitlines()
    assert "| MNN ms | vs MNN | MNN rel diff |" in head and rule == "|" + "---|" * 13 and row.count("|") == 14
    plain = perf_tables.models_table([dict(r, model="chain", variant="uncompressed")])
    assert plain.splitlines()[1] == "|" + "---|" * 10  # no peers asked for: the table as before


def test_a_peer_whose_outputs_differ_is_refused_before_timing(monkeypatch, chain):
    monkeypatch.setitem(peers.ENGINES, "ncnn", type("Off", (Offset,), {"offset": 0.5}))
    monkeypatch.setattr(bench_kernels, "median_times", lambda *a: pytest.fail("timed a wrong peer"))
    with pytest.raises(DeepxError, match=r"^ncnn: its outputs differ from ONNX Runtime's by up to 0\.5 .*not timed$"):
        runner.against_onnxruntime(*chain, 1, 0.01, min_runs=2, peers=["ncnn"])


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("model", ["digits-cnn", "squeezenet"])
def test_a_peer_converts_once_and_computes_what_onnxruntime_computes(tmp_path, monkeypatch, name, model):
    """The real conversion and run; SqueezeNet's opset-9 softmax read 1.0 everywhere before `prepared`."""
    monkeypatch.setattr(peers, "CACHE_DIR", str(tmp_path))
    path = compare.model_path(model)
    g = load.load_model(path)
    feeds = io.random_inputs(g)
    ex = Executor(g)
    try:
        r = runner.against_onnxruntime(path, g, feeds, ex, 1, 0.05, min_runs=2, peers=[name])
    finally:
        ex.close()
    assert r[f"max_abs_diff_{name}"] <= 1e-5 * max(1.0, r["max_abs_onnxruntime"])
    assert r[f"{name}_ms"] > 0 and "float32" in r[f"{name}_settings"]
    cached = [f for _, _, fs in os.walk(tmp_path / "peers") for f in fs]
    assert cached and all(f.startswith(file_sha256(path)) for f in cached), cached
    monkeypatch.setattr(peers, "prepared", lambda *a: pytest.fail("converted again"))
    outputs = [o.name for o in bench_kernels.ort_inference_session(path, 1).get_outputs()]
    peers.session(name, path, feeds, outputs, 1)



def test_the_peers_header_keeps_perf_tables_format(monkeypatch):
    monkeypatch.setattr(perf_tables, "sgemm_gflops", lambda n: (100.0, "openblas 0.3.31, Haswell kernel"))
    monkeypatch.setitem(peers.ENGINES, "mnn", Offset)
    head = perf_tables.header([1, 2], "python -m deepx.tools.perf_tables README.md --only peers", ["mnn"])
    assert perf_tables.HEADER.fullmatch(" ".join(head.split()))
    assert "; ONNX Runtime + 0.0. Regenerate" in " ".join(head.split())
    assert all(len(line) <= 120 for line in head.splitlines())
