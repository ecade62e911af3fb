"""`deepx run` and `deepx bench`: a model run by the executor on this machine, timed; against ONNX Runtime."""
import numpy as np

from .. import kernels
from ..errors import DeepxError
from ..memory import peak_rss_bytes
from ..models import io, load
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
    """`deepx bench`: the command line's model, board, plan and threads against ONNX Runtime; with a second
    model, both models (before_after)."""
    if args.other:
        if args.plan or args.backend != "auto" or args.input or peers(args.against):
            raise DeepxError("deepx bench with two models times each on the host's CPU backend with random inputs, "
                             "against ONNX Runtime: --plan, --backend, --input and --against mnn|ncnn go with one "
                             "model")
        shapes = io.parse_input_shapes(args.input_shape)
        g = load.load_model(args.model, shapes)
        other = load.load_model(args.other, {n: g.shapes[n] for n in g.inputs})
        return dict(model=str(args.model), other=str(args.other),
                    **before_after(args.model, g, args.other, other, args.seconds, args.threads))
    g, feeds, ex = executor(args)
    threads = kernels.set_threads(args.threads)  # after the board, as in run
    try:
        return dict(model=str(args.model), **against_onnxruntime(str(args.model), g, feeds, ex, threads,
                                                                 args.seconds, peers=peers(args.against)))
    finally:
        ex.close()


def peers(against) -> list:
    """The peer engines among --against's runtimes (ONNX Runtime runs anyway: it is the reference)."""
    return [a for a in against if a != "onnxruntime"]


def _diff(ours: dict, theirs: dict) -> dict:
    return dict(max_abs_diff=max(float(np.abs(ours[n] - theirs[n]).max()) for n in theirs),
                max_abs_onnxruntime=max(float(np.abs(theirs[n]).max()) for n in theirs))


def against_onnxruntime(onnx_path: str, g, feeds, ex, threads: int, seconds: float, min_runs: int = 10,
                        uncompressed: str | None = None, peers=()) -> dict:
    """deepx's executor and ONNX Runtime on the same model `onnx_path` and inputs in this process, in alternating
    turns; with `uncompressed` (the model before RLC, same inputs and outputs), ONNX Runtime on that one too,
    in the same turns (keys `…_uncompressed`): the kernels' speed and the compression's gain apart; with `peers`
    (names in tools/peers.py: mnn, ncnn), each on `onnx_path` in the same turns, checked against ONNX Runtime's
    outputs first (keys `<peer>_ms`, `speed_vs_<peer>`, `max_abs_diff_<peer>`, `<peer>_settings`)."""
    from . import peers as engines
    from .bench_kernels import median_times, ort_inference_session, waiting

    paths = [onnx_path] + ([uncompressed] if uncompressed else [])
    sessions = [ort_inference_session(p, threads) for p in paths]
    names = [o.name for o in sessions[0].get_outputs() if o.name in g.outputs]
    ours = ex.run(feeds)
    ex.warm_up(feeds)
    theirs = [dict(zip(names, s.run(names, feeds))) for s in sessions]
    others = [engines.session(p, onnx_path, {i.name: feeds[i.name] for i in sessions[0].get_inputs()},
                              [o.name for o in sessions[0].get_outputs()], threads) for p in peers]
    diffs = [engines.max_abs_diff(p, e.run(feeds), theirs[0]) for p, e in zip(peers, others)]
    times = median_times([lambda: ex.run(feeds)] + [lambda s=s: s.run(names, feeds) for s in sessions]
                         + [lambda e=e: e.run(feeds) for e in others], min_runs, seconds)
    r = dict(threads=threads, deepx_ms=1e3 * times[0], onnxruntime_ms=1e3 * times[1],
             speed_vs_onnxruntime=times[1] / times[0], **_diff(ours, theirs[0]),
             deepx_threads_at_end=ex.adaptive.threads if ex.adaptive else threads,
             arena_bytes=ex.arena_bytes, tensor_bytes=ex.tensor_bytes, blocks=len(ex.blocks), waiting=waiting())
    if uncompressed:
        r.update(onnxruntime_uncompressed_ms=1e3 * times[2], speed_vs_onnxruntime_uncompressed=times[2] / times[0],
                 **{k + "_uncompressed": v for k, v in _diff(ours, theirs[1]).items()})
    for p, e, t, d in zip(peers, others, times[len(paths) + 1:], diffs):
        r.update({f"{p}_ms": 1e3 * t, f"speed_vs_{p}": t / times[0], f"max_abs_diff_{p}": d,
                  f"{p}_settings": e.about()})
    return r


def before_after(before_path, before, after_path, after, seconds: float, threads: int = 0, min_runs: int = 10) -> dict:
    """Two models with the same inputs (before and after compression) timed by deepx's executor in alternating
    turns in this process, at batch 1, each on its own graph; ONNX Runtime on both files in the same turns when
    it is installed."""
    from .bench_kernels import median_times, ort_inference_session

    feeds = io.random_inputs(before)
    threads = kernels.set_threads(threads)
    executors = [Executor(before), Executor(after)]
    try:
        runs = [lambda ex=ex: ex.run(feeds) for ex in executors]
        try:
            sessions = [ort_inference_session(str(p), threads) for p in (before_path, after_path)]
            runs += [lambda s=s: s.run(None, feeds) for s in sessions]
        except ImportError:
            pass
        times = [1e3 * t for t in median_times(runs, min_runs, seconds)]
    finally:
        for ex in executors:
            ex.close()
    r = dict(threads=threads, deepx_before_ms=times[0], deepx_after_ms=times[1], speedup=times[0] / times[1])
    if len(times) == 4:
        r.update(onnxruntime_before_ms=times[2], onnxruntime_after_ms=times[3])
    return r
