"""Small models trained on real data that ships with a dependency: scikit-learn's handwritten digits.

Input convention: pixels / 16 as float32; `digits-cnn` sees each 8×8 digit upsampled 4× by pixel
repetition to 32×32. The split is fixed (stratified, 20% test, seed 0). `tools/train_zoo.py`
reproduces the committed ONNX files.
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
}
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
