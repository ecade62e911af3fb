"""Issue 16's figures on the trained zoo models: what RLC removes under a promise kept on validation data, measured
on test data that chose nothing (ONNX Runtime on the written file for MNIST)."""
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from deepx.models import zoo


def deepx(*args, timeout=900):
    p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def ort_accuracy(path, x, y) -> float:
    """ONNX Runtime's top-1 accuracy with the file, sample by sample (a compressed file takes batch 1)."""
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.mean([s.run(None, {"x": x[i:i + 1]})[0].argmax() == y[i] for i in range(len(y))]))


@pytest.fixture(scope="module")
def mnist_alexnet(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist") / "small.onnx"
    return out, deepx("compress", "mnist-alexnet", "--max-accuracy-loss", "0.01", "-o", out, "--json",
                      "--seconds", "1")


def test_mnist_alexnet_compresses_within_one_point_on_the_test_set(mnist_alexnet):
    out, r = mnist_alexnet
    assert r["flops_before"] / r["flops_after"] >= 3 and r["params_before"] / r["params_after"] >= 5
    assert r["limit"]["validation_loss"] <= 0.01 and "MNIST validation split" in r["data"]["validation"]
    x, y = zoo.splits("mnist-alexnet")["test"]
    before, after = ort_accuracy(zoo.path("mnist-alexnet"), x, y), ort_accuracy(out, x, y)
    assert before - after <= 0.01
    assert after == pytest.approx(r["test"]["accuracy_after"], abs=2e-4)  # deepx and ORT agree on the file
    assert r["speed"]["deepx_after_ms"] > 0 and r["speed"]["onnxruntime_after_ms"] > 0


def test_plan_with_a_promise_halves_the_energy_of_the_best_single_processor(tmp_path):
    r = deepx("plan", "mnist-alexnet", "--board", "jetson-nano", "--objective", "energy", "--max-accuracy-loss",
              "0.01", "-o", tmp_path / "plan.json", "--json")
    c = r["compression"]
    best = min(b["energy_mj"] for b in c["uncompressed"]["baselines"].values())
    assert best / r["predicted"]["energy_mj"] >= 2
    assert c["limit"]["validation_loss"] <= 0.01
    assert c["test"]["accuracy_before"] - c["test"]["accuracy_after"] <= 0.01
    x, y = zoo.splits("mnist-alexnet")["test"]
    assert ort_accuracy(zoo.path("mnist-alexnet"), x, y) - ort_accuracy(tmp_path / "plan.onnx", x, y) <= 0.01


def test_mobilenet_v2_keeps_its_agreement_promise_on_other_photographs(tmp_path):
    r = deepx("compress", "mobilenet-v2", "--max-agreement-loss", "0.02", "-o", tmp_path / "m.onnx", "--json",
              "--seconds", "0")
    assert r["limit"]["validation_loss"] <= 0.02
    assert "test photographs" in r["test"]["data"] and r["test"]["samples"] == 256
    assert r["test"]["agreement"] >= 1 - 0.02 - 0.01
