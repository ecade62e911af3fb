"""`deepx demo`: the whole pipeline on each model, one table in the style of the DeepX paper.

For each model: RLC and placement together under a promise kept on validation data (`deepx plan
--max-accuracy-loss` for the labelled zoo models, `--max-agreement-loss` for MobileNetV2 on photographs), the
figures on test data that chose nothing, `deepx pack`, `deepx flash` to a board folder, then the flashed
`deepx-run` runs the bundle while a UM25C is read over a pseudo-terminal. On the emulated board the meter
reads the board's modelled power (the plan's inference replayed back to back on its virtual clock, in real
time), while deepx-run computes at host speed; its energy per inference (the meter's mean power over
deepx-run's window x the board's modelled latency per inference) is the model replayed, not a measurement: it
equals the cost model's energy when the meter, its wire format and the energy accounting work. With `--meter`
the board is real: deepx-run's own energy per inference (above the idle baseline) is the measured figure.
"""
import contextlib
import functools
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from ..errors import DeepxError

MODELS = ("mnist-alexnet", "mobilenet-v2", "digits-dnn", "digits-cnn", "alexnet")
DEFAULT_MODELS = MODELS[:2]
PLACEMENT_ONLY = ("alexnet",)  # random weights: nothing learned for RLC to keep
STEPS = ("plan", "test", "pack", "flash", "run")


class DemoError(DeepxError):
    pass


@functools.cache
def _model(name: str):
    """(ONNX path, input shapes, graph, compress.Job or None, RLC candidates or None), once per model whatever
    the boards."""
    from ..models import compress, load, zoo

    path, shapes = zoo.path(name), {"x": (1,) + zoo.MODELS[name]["input"]} if name in zoo.MODELS else None
    g = load.load_model(path, shapes)
    if name in PLACEMENT_ONLY:
        return path, shapes, g, None, None
    job = compress.job(name, graph=g)
    return path, shapes, g, job, compress.candidates(g, job.fit.inputs)


def promise(name: str, args) -> tuple | None:
    """The RLC promise of a model: (kind, loss) kept on its validation data; None: placement only."""
    from ..models import zoo

    if name in PLACEMENT_ONLY:
        return None
    return ("agreement", args.max_agreement_loss) if "preprocess" in zoo.MODELS[name] else \
        ("accuracy", args.max_accuracy_loss)


def _run_on_board(command: list, timeout_s: float = 300) -> dict:
    try:
        r = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DemoError(f"{command[0]}: {e}") from None
    if r.returncode:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise DemoError(f"deepx-run failed on the board ({r.returncode}): {last}")
    return json.loads(r.stdout)


def demo_model(name: str, board_name: str, workdir: str, limit: tuple | None, meter: str | None, dest: str,
               window_s: float, step, python: str = sys.executable) -> dict:
    """Every step for one model; `step(label)` reports progress. Returns the table's figures."""
    from .. import boards
    from ..models import io, load
    from ..runtime import bundle
    from ..runtime.emulate import run_plan
    from ..runtime.plan import file_sha256, make_plan, save_plan
    from .flash import flash
    from ..runtime.joint_plan import plan_with_rlc
    from .meter_emulators import make

    board = boards.load(board_name)
    tag = f"{name}-{board.name}"
    onnx_path, shapes, g, job, layers = _model(name)
    plan_path = os.path.join(workdir, f"{tag}.json")
    if limit:
        step(f"{name}: compress + plan for {board.name}")
        small_path = os.path.join(workdir, f"{tag}.onnx")
        plan = plan_with_rlc(onnx_path, g, board, 0.0, small_path, layers=layers, limit=limit, job=job)
        small = load.load_model(small_path, shapes)
    else:
        step(f"{name}: plan for {board.name} (placement only)")
        small_path, small = onnx_path, g
        plan = make_plan(g, file_sha256(onnx_path), board, "energy")
    save_plan(plan, plan_path)

    step(f"{name}: figures on test data")
    test = plan.get("compression", {}).get("test")
    step(f"{name}: pack")
    dxb = os.path.join(workdir, f"{tag}.dxb")
    bundle.pack(small, plan, file_sha256(small_path), board.name, dxb, profile=board.text)

    step(f"{name}: flash to {dest}")
    flashed = flash(dxb, board.name, dest, python, say=lambda _: None)

    step(f"{name}: deepx-run on the board, meter over a pty")
    trace = os.path.join(workdir, f"{tag}-trace.csv")
    args = ["--repeat", "5", "--window", f"{window_s:g}", "--json"]
    emu = None
    if meter:  # a real board: deepx-run measures energy above the idle baseline itself
        report = _run_on_board(["sh", "-c", f"{flashed['command']} --meter {shlex.quote(meter)} " + " ".join(args)])
        modelled_ms = plan["predicted"]["latency_ms"]
        meter_mj = report["energy_mj_per_inference"]
    else:
        _, emu = run_plan(small, plan, io.random_inputs(small), board)
        um = make("um25c", emu.power_source())
        port = um.start()
        try:
            report = _run_on_board([os.path.join(dest, "deepx-run"), flashed["bundle"], "--meter", f"um25c:{port}",
                                    "--baseline", "0", "--trace", trace] + args)
        finally:
            um.unplug()
        modelled_ms = emu.now_ms
        meter_mj = report["meter"]["mean_w"] * modelled_ms
    c = plan.get("compression")
    params = g.summary()["param_bytes"] / 4
    return dict(model=name, board=board.name, limit=limit, test=test, plan=plan["predicted"], data=c and c["data"],
                uncompressed=c["uncompressed"]["predicted"] if c else None,
                baselines=c["uncompressed"]["baselines"] if c else plan["baselines"],
                weights_mib=(c["params_before"] * 4 / 2**20, c["params_after"] * 4 / 2**20) if c else
                (params * 4 / 2**20,) * 2, budget=c["error_budget"] if c else None,
                flops=(c["flops_before"], c["flops_after"]) if c else (g.summary()["flops"],) * 2,
                modelled_ms=modelled_ms,
                modelled_mj=emu.energy_mj() if emu else plan["predicted"]["energy_mj"] - board.idle_w * modelled_ms,
                meter_mj=meter_mj, meter=report["meter"], host_ms=report["meter"]["latency_ms"],
                peak_rss_mib=report["peak_rss_bytes"] / 2**20, trace=None if meter else trace)


def _pct(a):
    return "—" if a is None else f"{100 * a:.1f}%"


def _test_cells(r: dict) -> tuple:
    """(uncompressed, compressed) cells of the test column: accuracy, else top-1 agreement with the uncompressed
    model, else nothing (placement only)."""
    t = r["test"]
    if not t:
        return "—", "—"
    if "accuracy_before" in t:
        return _pct(t["accuracy_before"]), _pct(t["accuracy_after"])
    return "—", f"agrees {_pct(t['agreement'])}" if "agreement" in t else f"rel. err {t['relative_error']:.3g}"


def _configuration(r: dict) -> str:
    if not r["limit"]:
        return "deepx plan (placement only: random weights)"
    kind, value = r["limit"]
    return f"deepx: RLC ({kind} loss <= {100 * value:g}%, budget {r['budget']:.3g}) + plan"


def table(results: list) -> str:
    """The paper-style table (baselines against the deepx plan, per model and board), then how it was measured,
    or, with an emulated meter, that its figure is the model replayed."""
    emulated = any(r["trace"] for r in results)
    lines = [f"| model | board | configuration | latency ms | energy mJ | {METER_COLUMN[emulated]} | weights MiB "
             "| on test data |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        a0, a1 = _test_cells(r)
        w0, w1 = r["weights_mib"]
        rows = [(f"{p.upper()} only, uncompressed", b, w0, a0) for p, b in r["baselines"].items()]
        if r["uncompressed"]:
            rows.append(("deepx plan, uncompressed", r["uncompressed"], w0, a0))
        rows.append((_configuration(r), r["plan"], w1, a1))
        for i, (label, p, w, a) in enumerate(rows):
            meter = f"{r['meter_mj']:.3f}" if i == len(rows) - 1 else ""
            lines.append(f"| {r['model']} | {r['board']} | {label} | {p['latency_ms']:.3f} | {p['energy_mj']:.3f} "
                         f"| {meter} | {w:.2f} | {a} |")
    lines += ["", "latency ms, energy mJ: per inference, the board's cost model. " + (
        "emulated meter mJ: a UM25C emulator reads the emulated board's modelled power (the plan's inference "
        "replayed), its mean power over deepx-run's window x the modelled latency per inference; not a "
        "measurement: it can only equal the model's energy, and checks the meter plumbing and the energy accounting"
        if emulated else "measured mJ: deepx-run's energy per inference above idle, by the meter"), ""]
    lines += [_summary(r) for r in results]
    lines += [f"- {m}: ranks chosen on {d['validation']}; on test data: {d['test']}" for m, d in
              {r["model"]: r["data"] for r in results if r["data"]}.items()]
    if any(r["model"] in PLACEMENT_ONLY for r in results):
        lines.append("AlexNet has random (He) weights: a placement-only example (nothing learned for RLC to keep; "
                     "README, Known limits)")
    return "\n".join(lines)


METER_COLUMN = {True: "emulated meter mJ (model replayed)", False: "measured mJ"}


def _summary(r: dict) -> str:
    """One model's closing line: the meter's figure against the model, the gain, and deepx-run's own time."""
    best = min(r["baselines"].items(), key=lambda kv: kv[1]["energy_mj"])
    m, off = r["meter"], 100 * (r["meter_mj"] / r["modelled_mj"] - 1)
    if r["trace"]:
        meter = (f"emulated meter (model replayed) {m['mean_w']:.3f} W over {m['samples']} samples x "
                 f"{r['modelled_ms']:.3f} ms = {r['meter_mj']:.3f} mJ, the model's {r['modelled_mj']:.3f} read back "
                 f"({off:+.1f}%: the meter plumbing and energy accounting work)")
    else:
        meter = f"measured {r['meter_mj']:.3f} mJ above idle against the model's {r['modelled_mj']:.3f}, {off:+.1f}%"
    h = r["host_ms"]
    busy = (" (p90 >> min: other processes held cores while the kernels' OpenMP threads waited for them)"
            if h["p90"] > 3 * h["min"] + 0.1 else "")
    where = "this host (its CPU, not the board's)" if r["trace"] else "the board"
    return (f"- {r['model']} on {r['board']}: {meter}; deepx {best[1]['energy_mj'] / r['plan']['energy_mj']:.2f}x "
            f"less energy than the best single processor uncompressed ({best[0]}); FLOPs {r['flops'][0] / 1e6:.1f}M "
            f"-> {r['flops'][1] / 1e6:.1f}M; deepx-run on {where}: median {h['median']:.2f} ms, p90 {h['p90']:.2f}, "
            f"min {h['min']:.2f} over the {h['runs']} runs in the metered window{busy}; "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB")


def plot(results: list, workdir: str) -> str:
    """One PNG of the power traces one after another, each model's inference window shaded, with the modelled
    mean power per inference dashed (the 10 Hz samples alias the replayed inferences)."""
    from ..runtime.power import read_trace

    merged = os.path.join(workdir, "demo-trace.csv")
    offset = 0.0
    with open(merged, "w") as f:
        f.write("time_s,power_w,window,modelled_w\n")
        for r in results:
            t = read_trace(r["trace"])
            name = f"{r['model']} on {r['board']}"
            model_w = r["modelled_mj"] / r["modelled_ms"]  # the replayed inference's mean power
            for ts, p, w in zip(t.time_s, t.power_w, t.window):
                f.write(f"{offset + ts:.6f},{p:.6g},{name if w else ''},{model_w:.6g}\n")
            offset += (t.time_s[-1] if t.time_s else 0.0) + 0.5
    png = os.path.join(workdir, "demo-power.png")
    r = subprocess.run([sys.executable, "-m", "deepx.tools.power_cli", "plot", merged, "-o", png],
                       capture_output=True, text=True)
    if r.returncode:
        raise DemoError((r.stderr.strip().splitlines() or [f"deepx-power plot failed ({r.returncode})"])[-1])
    return png


def _copy_here(path: str) -> str:
    """The file copied to the current folder (the temporary work folder goes at the end)."""
    try:
        return shutil.copy(path, os.path.basename(path))
    except OSError as e:
        raise DemoError(f"{os.path.basename(path)}: cannot write in {os.getcwd()}: {e.strerror} (--workdir DIR "
                        "keeps it there)") from None


@contextlib.contextmanager
def _progress(total: int):
    """Yields step(label), called as each step begins: a bar on a terminal, else one plain line per step on stderr
    (tqdm would print nothing there)."""
    if not sys.stderr.isatty():
        begun = itertools.count(1)
        yield lambda label: print(f"deepx demo: [{next(begun)}/{total}] {label}", file=sys.stderr, flush=True)
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="demo", file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} [{elapsed}]") as bar:
        begun = itertools.count()

        def step(label):
            bar.update(next(begun) - bar.n)  # the steps begun before this one are done
            bar.set_description_str(label)

        yield step
        bar.update(bar.total - bar.n)
        bar.set_description_str("done")


def run(args) -> int:
    """The demo; its temporary work folder is removed at the end, also after a failure, unless --workdir or --keep
    (the power trace PNG is then copied to the current folder)."""
    from .. import boards as profiles

    models = args.models or list(DEFAULT_MODELS)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise DemoError(f"--models {' '.join(unknown)}: expected some of {', '.join(MODELS)}")
    boards = args.board.split(",")
    real = args.meter is not None
    if real and (not args.to or len(boards) > 1):
        raise DemoError("--meter measures one real board: give one --board NAME and --to ssh://user@host/path")
    for board in boards:
        profiles.load(board)  # an unknown board fails now, before any work
    keep = bool(args.workdir or args.keep)
    workdir = args.workdir or tempfile.mkdtemp(prefix="deepx-demo-")
    try:
        _run_in(args, models, boards, workdir, keep)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _run_in(args, models: list, boards: list, workdir: str, keep: bool):
    """Every model on every board in `workdir`; prints the table, the power trace and the work folder."""
    real = args.meter is not None
    os.makedirs(workdir, exist_ok=True)
    if real:
        print(f"deepx demo: steps plan, test and pack run here; flash and deepx-run need the board at {args.to} "
              f"and the meter {args.meter}", file=sys.stderr)
    t0 = time.perf_counter()
    results = []
    with _progress(len(models) * len(boards) * len(STEPS)) as step:
        for name in models:
            for board in boards:
                results.append(demo_model(name, board, workdir, promise(name, args), args.meter,
                                          args.to or os.path.join(workdir, f"board-{board}"), args.window, step,
                                          args.python or ("python3" if real else sys.executable)))
    print(table(results))
    if not real:
        png = plot(results, workdir)
        print(f"power trace: {png if keep else _copy_here(png)}")
    print(f"work folder: {workdir if keep else 'removed (--keep or --workdir DIR keeps it)'}; "
          f"{time.perf_counter() - t0:.0f} s")
