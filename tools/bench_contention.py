"""Benchmark: deepx with adaptive threads (runtime/contention.py), deepx with a fixed thread count, and ONNX Runtime
on one model in one process, alternating turns, medians; run it while other processes hold the cores.

    python -m deepx.tools.bench_contention MODEL [--threads N] [--seconds S]
"""
import argparse

from .. import argtypes, kernels
from ..models import io, load
from ..runtime.executor import Executor
from .bench_kernels import median_times, ort_inference_session
from .commands.run import model_file


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=model_file, help="MODEL.onnx, or a zoo, light or modern model's name")
    p.add_argument("--threads", type=argtypes.threads, default=0, help="the full count (default 0: all cores)")
    p.add_argument("--seconds", type=argtypes.positive, default=4.0, help="timing budget")
    args = p.parse_args(argv)
    g = load.load_model(args.model)
    feeds = io.random_inputs(g)
    n = kernels.set_threads(args.threads)
    adaptive, fixed = Executor(g), Executor(g, adapt=False)
    adaptive.warm_up(feeds)  # past its start-up try of one thread
    ort = ort_inference_session(args.model, n)
    t = median_times([lambda: adaptive.run(feeds), lambda: fixed.run(feeds), lambda: ort.run(None, feeds)], 10,
                     args.seconds)
    print(f"{args.model}: deepx adaptive {1e3 * t[0]:.3f} ms, deepx fixed {n} threads {1e3 * t[1]:.3f} ms, ONNX "
          f"Runtime {1e3 * t[2]:.3f} ms (medians); vs ORT adaptive {t[2] / t[0]:.2f}, fixed {t[2] / t[1]:.2f}; "
          f"adaptive runs {adaptive.adaptive.threads} thread(s) now")


if __name__ == "__main__":
    main()
