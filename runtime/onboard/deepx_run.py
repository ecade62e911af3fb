"""`deepx-run MODEL.dxb …`: the runtime on the board.

It imports numpy, scipy (BLAS) and deepx's compiled kernels, and pyopencl or pyserial only when the plan
or the meter needs them; never numba, onnx or a compiler. CPU blocks planned on a backend that compiles at
run time (numba) run on the best one that does not (the Cython kernels). The board is --board, else
$DEEPX_BOARD (set by the launcher `deepx flash` installs); a bundle packed for another board is refused.
"""
import argparse
import importlib.util
import json
import os
import sys
import sysconfig
import time

from ... import __version__, argtypes, kernels
from ...errors import DeepxError
from ...models import io
from .. import bundle
from .report import outputs_summary, print_run

def process_age_s():
    """Seconds since this process started (Linux: /proc, 10 ms resolution), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def load_cython_blas():
    """Import scipy.linalg.cython_blas, the BLAS the Cython kernels call, from its file: importing it by
    name would first run scipy.linalg's __init__, which loads all of scipy.linalg (~29 MB, ~0.25 s)."""
    if "scipy.linalg" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        return
    import scipy

    path = os.path.join(scipy.__path__[0], "linalg", "cython_blas" + sysconfig.get_config_var("EXT_SUFFIX"))
    spec = importlib.util.spec_from_file_location("scipy.linalg.cython_blas", path)
    if spec is None or not os.path.exists(path):
        return  # another layout: the kernels import it by name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module


def executor(b: bundle.Bundle):
    """The bundle's graph and plan as an Executor (kernels imported, arena laid out): blocks of a backend that
    compiles at run time run on one that does not, GPU blocks on their device backend where it runs (else on
    the CPU, with a warning)."""
    from ... import boards
    from ..executor import Executor

    load_cython_blas()
    profile = b.plan.get("board_profile")  # bundles packed before deepx carried it: the shipped profile
    board = (boards.from_text(profile, f"{b.path}: plan.json board_profile") if profile is not None
             else boards.load(b.manifest["board"]))
    no_jit = {name: kernels.host_backend(jit=False) for name in kernels.BACKENDS if kernels.info(name).jit}
    return Executor(b.graph, plan=b.plan, board=board, remap=no_jit,
                    warn=lambda msg: print(f"deepx-run: warning: {msg}", file=sys.stderr))


def run(args) -> dict:
    from ...memory import peak_rss_bytes
    from .timing import latency, timed_runs

    t = time.perf_counter()
    board = (args.board or os.environ.get("DEEPX_BOARD") or "").removeprefix("emulated:") or None
    b = bundle.load(args.bundle, board)
    g = b.graph
    feeds = io.bind_inputs(io.read_inputs(args.input), g, args.input) if args.input else io.random_inputs(g)
    ex = executor(b)
    load_s, start_s = time.perf_counter() - t, process_age_s()
    try:
        t = time.perf_counter()
        outputs = ex.run(feeds)
        first_ms = (time.perf_counter() - t) * 1e3
        times, energy = timed_runs(ex, feeds, args.repeat, args.meter, args.baseline, min_window_s=args.window,
                                   trace=args.trace)
    finally:
        ex.close()
    if args.output:
        io.save_outputs(args.output, outputs)
    return dict(bundle=b.path, board=b.manifest["board"], model=b.manifest["model"]["name"],
                runtime=dict(version=__version__, path=os.path.dirname(sys.modules["deepx"].__file__)),
                start_s=start_s, load_s=load_s, first_run_ms=first_ms,
                latency_ms=dict(latency(times), runs=len(times)) if times else None,
                peak_rss_bytes=peak_rss_bytes(), weights_bytes=b.manifest["model"]["param_bytes"],
                energy_mj_per_inference=energy and energy["energy_mj_per_inference"], meter=energy,
                outputs=outputs_summary(outputs))


def _print(r, args):
    print(f"{r['bundle']}: {r['model']} for {r['board']} (deepx-run {r['runtime']['version']})")
    start = "" if r["start_s"] is None else f"started in {r['start_s']:.2f} s, "
    print(f"{start}bundle loaded in {r['load_s']:.3f} s, first run {r['first_run_ms']:.2f} ms, "
          f"peak RSS {r['peak_rss_bytes'] / 2**20:.1f} MiB (weights {r['weights_bytes'] / 2**20:.1f} MiB)")
    print_run(r, wrote=args.output)


def parser():
    p = argparse.ArgumentParser(prog="deepx-run", description="Run a deepx bundle on this board.")
    p.add_argument("bundle", metavar="MODEL.dxb", help="a bundle made by deepx pack (and put here by deepx flash)")
    p.add_argument("--input", metavar="IN.npz", help="inputs keyed by input name (.npy for one input); "
                                                     "default: random normal inputs")
    p.add_argument("--output", metavar="OUT.npz", help="write every graph output, keyed by name")
    p.add_argument("--repeat", type=argtypes.count, default=0, help="time this many runs after the first")
    p.add_argument("--meter", metavar="SPEC", help="measure energy per inference (e.g. um25c:/dev/rfcomm0)")
    p.add_argument("--baseline", type=argtypes.seconds, default=1.0, metavar="S",
                   help="seconds of idle power measured first and subtracted (0: gross energy)")
    p.add_argument("--window", type=argtypes.seconds, default=0.0, metavar="S",
                   help="with --meter: repeat the inference for at least S seconds in the measured window")
    p.add_argument("--trace", metavar="TRACE.csv", help="with --meter: write every sample, with its window")
    p.add_argument("--board", metavar="NAME", help="this board (default: $DEEPX_BOARD); refuses bundles for others")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.add_argument("--version", action="version", version=f"deepx-run {__version__}")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        report = run(args)
    except DeepxError as e:
        print(f"deepx-run: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report, args)


if __name__ == "__main__":
    main()
