"""Train the zoo's digits models (PyTorch, the `train` extra) and write them as ONNX files.

    python -m deepx.tools.train_zoo [--out models/zoo]

Deterministic (seeded, one thread). CI never trains: the ONNX files are committed.
"""
import argparse
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
    }


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
        x = y
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *input_shape])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="deepx train_zoo")
    onnx.checker.check_model(model)
    return model


def train(name, epochs, seed=0):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    net = _nets(torch)[name]
    x_train, y_train, x_test, y_test = zoo.digits(name)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        net.train()
        for idx in np.array_split(rng.permutation(len(xt)), len(xt) // 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    return net, accuracy


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=zoo.HERE)
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args(argv)
    meta = {}
    for name, spec in zoo.MODELS.items():
        net, accuracy = train(name, args.epochs)
        onnx.save(to_onnx(name, net, spec["input"]), os.path.join(args.out, spec["file"]))
        meta[name] = dict(test_accuracy=accuracy, epochs=args.epochs, about=spec["about"])
        print(f"{name}: test accuracy {accuracy:.4f}")
    with open(os.path.join(args.out, "zoo.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
