"""The executor's own cost per block: a model of N trivial blocks (dense 8 -> 8 on one sample), run by the
executor, by a bare loop over the same precomputed kernel calls, and by ONNX Runtime, in one process.

    python -m deepx.tools.bench_executor [--blocks 100] [--seconds 3] [--json]
"""
import argparse
import json

import numpy as np

from .. import kernels
from ..models.graph import Graph, Node
from ..models.onnx_export import to_onnx
from ..runtime.executor import Executor
from .bench_kernels import median_times, ort_inference_session


def chain(blocks: int, width: int = 8) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("chain", ["x"], [f"t{blocks}"], shapes={"x": (1, width)})
    for i in range(blocks):
        w, b = f"w{i}", f"b{i}"
        g.constants[w] = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        g.constants[b] = np.zeros(width, np.float32)
        g.shapes[w], g.shapes[b] = (width, width), (width,)
        g.nodes.append(Node(f"dense{i}", "dense", [f"t{i}" if i else "x", w, b], [f"t{i + 1}"],
                            dict(act=kernels.Act(0))))
    g.infer_shapes()
    return g


def bench(blocks: int = 100, seconds: float = 3.0) -> dict:
    g = chain(blocks)
    ex = Executor(g)
    feeds = {"x": np.ones((1, 8), np.float32)}
    calls = ex.calls

    def bare():
        for fn, args, kw in calls:
            fn(*args, **kw)

    sess = ort_inference_session(to_onnx(g).SerializeToString(), 1)
    ours, loop, theirs = median_times([lambda: ex.run(feeds), bare, lambda: sess.run(None, feeds)], 20, seconds)
    us = lambda s: 1e6 * s / blocks  # noqa: E731
    return dict(blocks=blocks, executor_us_per_block=us(ours), kernel_us_per_block=us(loop),
                overhead_us_per_block=us(ours - loop), onnxruntime_us_per_block=us(theirs))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m deepx.tools.bench_executor", description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", type=int, default=100)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = bench(args.blocks, args.seconds)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    print(f"{r['blocks']} trivial blocks: executor {r['executor_us_per_block']:.2f} us/block, the same kernel calls "
          f"in a bare loop {r['kernel_us_per_block']:.2f} us/block: overhead {r['overhead_us_per_block']:.2f} "
          f"us/block; ONNX Runtime {r['onnxruntime_us_per_block']:.2f} us/node")


if __name__ == "__main__":
    main()
