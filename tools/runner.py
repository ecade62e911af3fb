"""`deepx run` and `deepx bench`: a model run by the executor on this machine, timed; against ONNX Runtime."""
import numpy as np

from .. import kernels
from ..memory import peak_rss_bytes
from ..models import load
from ..runtime.calibrate import load_board
from ..runtime.executor import Executor
from ..runtime.onboard.timing import latency, timed_runs
from ..runtime.plan import file_sha256, load_plan, make_plan


def executor(args):
    """(Graph, feeds, Executor) for a command line: --plan, else a latency plan made here for --board; with
    --backend other than auto, every block on the CPU with that backend."""
    g, feeds = load.model_and_inputs(args.model, args.input, args.input_shape)
    board = load_board(args.board)
    if args.backend != "auto":
        plan = None
    elif args.plan:
        plan = load_plan(args.plan, file_sha256(args.model))
    else:
        plan = make_plan(g, file_sha256(args.model), board, "latency")
    return g, feeds, Executor(g, plan, board if plan else None, args.backend)


def run(args) -> dict:
    """Warm up, time --repeat runs, optionally measure energy; the report `deepx run --json` prints."""
    g, feeds, ex = executor(args)
    kernels.set_threads(args.threads)  # after the board: a first-use calibration of `host` sets its own
    try:
        for _ in range(max(1, args.warmup)):
            outputs = ex.run(feeds)
        times, energy = timed_runs(ex, feeds, args.repeat, args.meter, args.baseline)
        prof = ex.profile(feeds, max(1, min(args.repeat, 10))) if args.profile else None
    finally:
        ex.close()
    return dict(model=str(args.model), board=args.board, backend=args.backend, outputs=outputs,
                inputs={n: list(feeds[n].shape) for n in g.inputs},
                latency_ms=latency(times) if times else None, peak_rss_bytes=peak_rss_bytes(),
                arena_bytes=ex.arena_bytes, tensor_bytes=ex.tensor_bytes,
                energy_mj_per_inference=energy and energy["energy_mj_per_inference"], meter=energy,
                profile=prof, **g.summary())


def bench(args) -> dict:
    """`deepx bench`: the command line's model, board, plan and threads against ONNX Runtime."""
    g, feeds, ex = executor(args)
    threads = kernels.set_threads(args.threads)  # after the board, as in run
    try:
        return dict(model=str(args.model), **against_onnxruntime(str(args.model), g, feeds, ex, threads,
                                                                 args.seconds))
    finally:
        ex.close()


def _diff(ours: dict, theirs: dict) -> dict:
    return dict(max_abs_diff=max(float(np.abs(ours[n] - theirs[n]).max()) for n in theirs),
                max_abs_onnxruntime=max(float(np.abs(theirs[n]).max()) for n in theirs))


def against_onnxruntime(onnx_path: str, g, feeds, ex, threads: int, seconds: float, min_runs: int = 10,
                        uncompressed: str | None = None) -> dict:
    """deepx's executor and ONNX Runtime on the same model `onnx_path` and inputs in this process, in alternating
    turns; with `uncompressed` (the model before RLC, same inputs and outputs), ONNX Runtime on that one too,
    in the same turns (keys `…_uncompressed`): the kernels' speed and the compression's gain apart."""
    from .bench_kernels import median_times, ort_inference_session, waiting

    paths = [onnx_path] + ([uncompressed] if uncompressed else [])
    sessions = [ort_inference_session(p, threads) for p in paths]
    names = [o.name for o in sessions[0].get_outputs() if o.name in g.outputs]
    ours = ex.run(feeds)
    theirs = [dict(zip(names, s.run(names, feeds))) for s in sessions]
    times = median_times([lambda: ex.run(feeds)] + [lambda s=s: s.run(names, feeds) for s in sessions],
                         min_runs, seconds)
    r = dict(threads=threads, deepx_ms=1e3 * times[0], onnxruntime_ms=1e3 * times[1],
             speed_vs_onnxruntime=times[1] / times[0], **_diff(ours, theirs[0]),
             arena_bytes=ex.arena_bytes, tensor_bytes=ex.tensor_bytes, blocks=len(ex.blocks), waiting=waiting())
    if uncompressed:
        r.update(onnxruntime_uncompressed_ms=1e3 * times[2], speed_vs_onnxruntime_uncompressed=times[2] / times[0],
                 **{k + "_uncompressed": v for k, v in _diff(ours, theirs[1]).items()})
    return r
