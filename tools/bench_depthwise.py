"""Benchmark: deepx's depthwise 3x3 convolutions (a backend's kernel) against ONNX Runtime's on MobileNetV2's
shapes, one node each, same threads, alternating turns, medians.

    python -m deepx.tools.bench_depthwise [--backend cython] [--threads 1] [--seconds 1]
"""
import argparse

import numpy as np

from .. import argtypes, kernels
from .bench_kernels import median_times, ort_inference_session

SHAPES = [(112, 32, 1), (112, 96, 2), (56, 144, 1), (56, 144, 2), (28, 192, 1), (28, 192, 2), (14, 384, 1),
          (14, 576, 1), (14, 576, 2), (7, 960, 1)]  # (input side, channels, stride) of MobileNetV2 at 224x224


def ort_depthwise(w, b, shape, stride):
    """ONNX Runtime's session on one Conv (group = channels, pads 1) + Relu."""
    from onnx import TensorProto, helper, numpy_helper

    c = w.shape[0]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=c, pads=[1] * 4, strides=[stride] * 2),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="cython", choices=[b for b in kernels.BACKENDS if b != "ref"])
    p.add_argument("--threads", type=argtypes.threads, default=1)
    p.add_argument("--seconds", type=argtypes.positive, default=1.0, help="timing budget per shape")
    args = p.parse_args(argv)
    n = kernels.set_threads(args.threads)
    rng, total = np.random.default_rng(0), np.zeros(2)
    print(f"depthwise 3x3 + relu, {args.backend} against ONNX Runtime, {n} thread(s), medians")
    for hw, c, s in SHAPES:
        x = rng.standard_normal((1, c, hw, hw), dtype=np.float32)
        w, b = rng.standard_normal((c, 1, 3, 3), dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
        checked, attrs, shape = kernels.check("conv2d", [x, w, b], dict(groups=c, pads=1, stride=s, act="relu"))
        fn, out = kernels.prepare("conv2d", args.backend, [w, b]), np.empty(shape, np.float32)
        sess = ort_inference_session(ort_depthwise(w, b, x.shape, s), n)
        fn(*checked, **attrs, out=out)
        diff = float(np.abs(out - sess.run(None, {"x": x})[0]).max())
        t = np.array(median_times([lambda: fn(*checked, **attrs, out=out), lambda: sess.run(None, {"x": x})], 20,
                                  args.seconds))
        total += t
        flops = 2 * c * (hw // s) ** 2 * 9
        print(f"{hw}x{hw}x{c} stride {s}: deepx {1e3 * t[0]:.3f} ms ({flops / t[0] / 1e9:.1f} GFLOP/s), ONNX Runtime "
              f"{1e3 * t[1]:.3f} ms ({flops / t[1] / 1e9:.1f}); vs ORT {t[1] / t[0]:.2f}; largest difference "
              f"{diff:.1e}")
    print(f"all ten: deepx {1e3 * total[0]:.3f} ms, ONNX Runtime {1e3 * total[1]:.3f} ms; vs ORT "
          f"{total[1] / total[0]:.2f}")


if __name__ == "__main__":
    main()
