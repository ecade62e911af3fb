"""The zoo's models reproduce their recorded test accuracy when deepx runs them."""
import json
import subprocess
import sys

import numpy as np
import pytest

from deepx import DeepxError
from deepx.models import zoo
from deepx.models.execute import run_graph
from deepx.models.onnx_import import load_onnx


@pytest.mark.parametrize("name", ["digits-dnn", "digits-cnn", "mnist-alexnet"])
def test_zoo_accuracy(name):
    """deepx reproduces the accuracy that training recorded, on the whole test split."""
    x_test, y_test = zoo.splits(name)["test"]
    b = min(500, len(y_test))  # 360 digits, 10,000 MNIST images
    g = load_onnx(zoo.path(name), {"x": (b,) + zoo.MODELS[name]["input"]})
    logits = np.concatenate([run_graph(g, {"x": x_test[i:i + b]})["logits"] for i in range(0, len(x_test), b)])
    accuracy = float((logits.argmax(1) == y_test).mean())
    assert accuracy == pytest.approx(zoo.info(name)["test_accuracy"], abs=2 / len(y_test))
    assert accuracy > (0.99 if name == "mnist-alexnet" else 0.95)


def test_zoo_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "zoo", "list"], capture_output=True, text=True)
    assert out.returncode == 0 and "digits-dnn" in out.stdout and "digits-cnn" in out.stdout
    dest = tmp_path / "dnn.onnx"
    subprocess.run([sys.executable, "-m", "deepx.tools.cli", "zoo", "export", "digits-dnn", "-o", str(dest)], check=True)
    np.save(tmp_path / "x.npy", zoo.digits("digits-dnn")[2][:5])
    run = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "run", str(dest), "--input", str(tmp_path / "x.npy"),
                          "--output", str(tmp_path / "y.npz"), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outputs"]["logits"]["shape"] == [5, 10]
    assert np.load(tmp_path / "y.npz")["logits"].shape == (5, 10)


def test_an_exported_zoo_model_runs_plans_and_packs_as_exported(tmp_path):
    """A zoo model's batch is dynamic: run, plan and pack take batch 1 with a note, no --input-shape needed."""
    dest = str(tmp_path / "dnn.onnx")
    subprocess.run([sys.executable, "-m", "deepx.tools.cli", "zoo", "export", "digits-dnn", "-o", dest], check=True)
    for command in (["run"], ["plan", "--board", "jetson-nano", "-o", str(tmp_path / "p.json")],
                    ["pack", "--board", "jetson-nano", "-o", str(tmp_path / "m.dxb")]):
        p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", command[0], dest, *command[1:]],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert f"deepx: note: {dest}: input 'x' has a dynamic batch: running batch 1 (another: " \
               "--input-shape x=N,64)" in p.stderr.splitlines()
    assert (tmp_path / "p.json").exists() and (tmp_path / "m.dxb").exists()


def test_alexnet_exports_as_the_demo_runs_it(tmp_path, capsys):
    """The README's alexnet.onnx: `deepx zoo export alexnet`, onnx's light AlexNet with random He weights."""
    from deepx.models import light
    from deepx.tools import cli

    cli.main(["zoo", "list"])
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()][-1] == ["alexnet", "input"]
    cli.main(["zoo", "export", "alexnet", "-o", str(tmp_path / "alexnet.onnx")])
    assert (tmp_path / "alexnet.onnx").read_bytes() == open(light.path("bvlc_alexnet"), "rb").read()
    with pytest.raises(DeepxError, match=r"no zoo model 'alex' \(known: digits-dnn, .*, alexnet\)"):
        zoo.path("alex")
