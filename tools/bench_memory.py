"""Activation memory of one inference: deepx's arena against ONNX Runtime's, each in a fresh process.

    python -m deepx.tools.bench_memory [MODEL …]      (light model names; default resnet50 densenet121)

For each runtime the process first loads the model and prepares it (deepx: import + executor, whose arena
is allocated but not yet touched; ONNX Runtime: the session), then runs one inference; the growth of the
resident set over that inference is the memory the run itself took and keeps (activations, scratch).
"""
import json
import subprocess
import sys

CHILD = r"""
import gc, json, sys
from deepx.memory import peak_rss_bytes as peak, rss_bytes as rss
path, who = sys.argv[1], sys.argv[2]
from deepx.models import io, load
g = load.load_model(path)
feeds = io.random_inputs(g)
if who == "deepx":
    from deepx.runtime.executor import Executor
    ex = Executor(g)
    run, extra = (lambda: ex.run(feeds)), dict(arena_bytes=ex.arena_bytes, tensor_bytes=ex.tensor_bytes)
else:
    import onnxruntime as ort
    so = ort.SessionOptions(); so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    run, extra = (lambda: sess.run(None, feeds)), {}
del g
gc.collect()
before = rss()
run()
print(json.dumps(dict(run_bytes=rss() - before, peak_rss_bytes=peak(), **extra)))
"""


def measure(name: str) -> dict:
    from ..models import light

    path = light.path(name)
    out = {}
    for who in ("deepx", "onnxruntime"):
        p = subprocess.run([sys.executable, "-c", CHILD, path, who], capture_output=True, text=True, check=True)
        out[who] = json.loads(p.stdout)
    return out


def main(argv=None):
    from ..models.graph import ModelError

    names = (argv if argv is not None else sys.argv[1:]) or ["resnet50", "densenet121"]
    for name in names:
        try:
            r = measure(name)
        except ModelError as e:  # a name that is not a light model: one line, exit 2
            print(f"bench_memory: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        d, o = r["deepx"], r["onnxruntime"]
        print(f"{name}: deepx arena {d['arena_bytes'] / 1e6:.1f} MB for {d['tensor_bytes'] / 1e6:.1f} MB of tensors "
              f"({100 * d['arena_bytes'] / d['tensor_bytes']:.0f}%); resident set growth over one inference: deepx "
              f"{d['run_bytes'] / 1e6:.1f} MB, ONNX Runtime {o['run_bytes'] / 1e6:.1f} MB; peak RSS deepx "
              f"{d['peak_rss_bytes'] / 1e6:.0f} MB, ONNX Runtime {o['peak_rss_bytes'] / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
