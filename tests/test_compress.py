"""RLC on the zoo models: the issue's figures, the estimator against measured errors, ONNX export."""
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from deepx.models import compress, load
from deepx.models.execute import run_batches
from deepx.models.graph import ModelError
from deepx.models.onnx_export import save_onnx, to_onnx


@pytest.fixture(scope="module", params=["digits-dnn", "digits-cnn"])
def compressed(request):
    job = compress.job(request.param)
    g, report = compress.compress_to(job, error_budget=0.05)
    return request.param, job, g, report


def test_figures(compressed):
    name, _, _, r = compressed
    flops_x, params_x = r["flops_before"] / r["flops_after"], r["params_before"] / r["params_after"]
    assert r["test"]["accuracy_before"] - r["test"]["accuracy_after"] <= 0.01
    if name == "digits-dnn":
        assert flops_x >= 3 and params_x >= 3
    else:
        assert flops_x >= 2


def test_budget_and_estimates(compressed):
    _, _, _, r = compressed
    assert sum(layer["estimated_error"] for layer in r["layers"]) <= r["error_budget"] + 1e-9
    for layer in r["layers"]:
        if layer["method"] != "none" and layer["estimated_error"] > 0.005:  # within a factor 2 of what happens
            assert 0.5 <= layer["measured_error"] / layer["estimated_error"] <= 2.0, layer


def test_exported_model_runs_in_onnxruntime(compressed):
    _, job, g, _ = compressed
    x = job.test.inputs["x"][:1]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"x": x})[0]
    ours = run_batches(g, {"x": x})["logits"]
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_exported_model_imports_as_the_compressed_graph(compressed, tmp_path):
    _, job, g, _ = compressed
    save_onnx(g, tmp_path / "m.onnx")
    h = load.load_model(tmp_path / "m.onnx", {"x": g.shapes["x"]})
    ops = [n.op for n in g.nodes]
    assert [n.op for n in h.nodes] == ops and {"dense_lowrank", "conv2d_lowrank", "conv2d_tucker2"} & set(ops)
    assert [h.shapes[n.outputs[0]] for n in h.nodes] == [g.shapes[n.outputs[0]] for n in g.nodes]
    x = {"x": job.test.inputs["x"][:2]}
    np.testing.assert_array_equal(run_batches(h, x)["logits"], run_batches(g, x)["logits"])


def test_bigger_budget_compresses_more():
    job = compress.job("digits-dnn")
    layers = compress.candidates(job.graph, job.fit.inputs, "auto", 0)
    flops = [compress.compress(job.graph, job.fit.inputs, b, layers=layers)[0].summary()["flops"]
             for b in (0.0, 0.02, 0.1, 0.5)]
    assert flops[0] == job.graph.summary()["flops"] and flops == sorted(flops, reverse=True) and flops[-1] < flops[1]


def test_max_accuracy_loss_cli(tmp_path):
    out = tmp_path / "dnn.onnx"
    p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "compress", "digits-dnn", "--max-accuracy-loss",
                        "0.01", "-o", str(out), "--json", "--seconds", "0.5"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["limit"] == dict(kind="accuracy", value=0.01, validation_loss=pytest.approx(r["limit"]["validation_loss"]))
    assert r["limit"]["validation_loss"] <= 0.01 and "validation split" in r["data"]["validation"]
    assert r["test"]["accuracy_before"] - r["test"]["accuracy_after"] <= 0.02 and "test split" in r["test"]["data"]
    s = r["speed"]
    assert s["deepx_before_ms"] > 0 and s["deepx_after_ms"] > 0 and s["onnxruntime_after_ms"] > 0
    assert r["flops_before"] / r["flops_after"] >= 3 and out.stat().st_size < 0.2 * 8.7e6
    assert {"name", "method", "rank", "flops_before", "flops_after", "estimated_error", "measured_error"} <= set(
        r["layers"][0])


def test_bad_requests(tmp_path):
    job = compress.job("digits-dnn")
    with pytest.raises(ModelError, match="error budget must be >= 0"):
        compress.compress(job.graph, job.fit.inputs, -1.0)
    onnx_file = tmp_path / "m.onnx"
    import onnx

    onnx.save(to_onnx(job.graph), onnx_file)
    with pytest.raises(ModelError, match="needs labelled data"):
        compress.compress_to(compress.job(str(onnx_file), samples=8), max_accuracy_loss=0.01)
