"""`deepx …`: the command line. A user mistake prints one line and exits with 2, no traceback."""
import argparse
import json
import sys

from .. import kernels
from ..errors import DeepxError


def _bench_kernels(args):
    from tqdm import tqdm

    from . import bench_kernels

    rows = bench_kernels.bench(threads=args.threads, batch=args.batch, layers=args.layers,
                               backends=args.backends, budget_s=args.seconds,
                               progress=lambda xs: tqdm(xs, desc="bench-kernels", unit="case", file=sys.stderr,
                                                        disable=args.json and not sys.stderr.isatty()))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    head = f"{'layer':22} {'op':15} {'rank':11} {'backend':7} {'ms':>8} {'GFLOP/s':>8} {'%sgemm':>7} " \
           f"{'ORT ms':>8} {'vs ORT':>7} {'lowrank':>8} {'/mult':>6}"
    print(f"deepx bench-kernels: batch {args.batch}, {rows[0]['threads']} threads; vs ORT = ORT time / deepx time;"
          " lowrank = speedup over the full layer / FLOP reduction; /mult = the same over the reduction in"
          " multiplications the kernels do (Winograd 3x3 convs: 4 per output and channel pair, not 9)")
    print(head)
    print("-" * len(head))
    for r in rows:
        low = f"{r['lowrank_efficiency']:8.2f} {r['lowrank_efficiency_per_mult']:6.2f}" if "rank" in r else ""
        print(f"{r['layer']:22} {r['op']:15} {r.get('rank', ''):11} {r['backend']:7} {r['ms']:8.3f} "
              f"{r['gflops']:8.1f} {100 * r['sgemm_fraction']:6.0f}% {r['onnxruntime_ms']:8.3f} "
              f"{r['speed_vs_onnxruntime']:7.2f} {low}")
    s = bench_kernels.summary(rows)
    print()
    for key, value in s.items():
        print(f"{key}: {'n/a' if value is None else f'{value:.2f}'}")


def _run(args):
    from ..models import io
    from ..runtime.onboard.report import print_run
    from . import runner

    r = runner.run(args)
    outputs = r.pop("outputs")
    if args.output:
        io.save_outputs(args.output, outputs)
    r["outputs"] = {n: dict(shape=list(y.shape), min=float(y.min()), max=float(y.max())) for n, y in outputs.items()}
    if args.json:
        print(json.dumps(r, indent=1))
        return
    memory = (f"memory: arena {r['arena_bytes'] / 1e6:.2f} MB for {r['tensor_bytes'] / 1e6:.2f} MB of tensors, "
              f"peak RSS {r['peak_rss_bytes'] / 1e6:.1f} MB")
    print_run(r, args.repeat, args.board, gaps=True, after_outputs=_profile_table(r["profile"]),
              after_latency=[memory], wrote=args.output)


def _profile_table(rows) -> list:
    """`deepx run --profile`'s lines: a header, then one line per block (none without rows)."""
    if not rows:
        return []
    return [f"{'block':16} {'ops':28} {'processor':9} {'backend':14} {'ms':>9} {'share':>6}"] + [
        f"{p['block'][:16]:16} {p['ops'][:28]:28} {p['processor']:9} {p['backend']:14} {p['ms']:9.3f} "
        f"{100 * p['share']:5.1f}%" for p in rows]


def _bench(args):
    from . import runner

    r = runner.bench(args)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    print(f"{args.model}: deepx {r['deepx_ms']:.3f} ms, ONNX Runtime {r['onnxruntime_ms']:.3f} ms (medians, "
          f"{r['threads']} threads): speed vs ONNX Runtime {r['speed_vs_onnxruntime']:.2f}; largest output "
          f"difference {r['max_abs_diff']:.3g} (outputs up to {r['max_abs_onnxruntime']:.3g})")


def _compare(args):
    from tqdm import tqdm

    from . import compare

    rows = []
    head = f"{'model':14} {'variant':12} {'thr':>3} {'deepx ms':>9} {'ORT ms':>9} {'vs ORT':>6} {'rel diff':>9} " \
           f"{'arena MB':>8} {'tensors MB':>10}"
    if not args.json:
        print("deepx compare: deepx against ONNX Runtime, same process, alternating runs (medians); vs ORT = ORT time"
              " / deepx time; rel diff = largest output difference / max(1, largest output); rlc rows: deepx runs the"
              " compressed model, ORT the uncompressed one")
        print(head)
    for r in compare.rows(args.models, args.threads, args.seconds, args.rlc,
                          lambda xs: tqdm(xs, desc="compare", unit="model", file=sys.stderr, leave=False)):
        rows.append(r)
        if not args.json:
            tqdm.write(f"{r['model']:14} {r['variant']:12} {r['threads']:3} {r['deepx_ms']:9.2f} "
                       f"{r['onnxruntime_ms']:9.2f} {r['speed_vs_onnxruntime']:6.2f} "
                       f"{r['max_abs_diff'] / max(1.0, r['max_abs_onnxruntime']):9.2g} "
                       f"{r['arena_bytes'] / 1e6:8.1f} {r['tensor_bytes'] / 1e6:10.1f}", file=sys.stdout)
    if args.json:
        print(json.dumps(rows, indent=1))


def _zoo(args):
    from ..models import zoo

    if args.zoo_command == "export":
        zoo.export(args.name, args.output)
        print(f"wrote {args.output}")
        return
    for name, spec in zoo.MODELS.items():
        info = zoo.info(name)
        print(f"{name:12} input (N, {', '.join(map(str, spec['input']))})  test accuracy "
              f"{100 * info['test_accuracy']:.1f}%  {spec['about']}")


def _compress(args):
    from ..models import compress
    from ..models.onnx_export import save_onnx

    job = compress.job(args.model, args.calibration, args.samples)
    g, report = compress.compress_to(job, args.error_budget, args.max_accuracy_loss, args.method)
    save_onnx(g, args.output)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    _print_compression(report)
    if report["accuracy_before"] is not None:
        print(f"test accuracy {100 * report['accuracy_before']:.2f}% → {100 * report['accuracy_after']:.2f}%")
    print(f"wrote {args.output}")


def _print_compression(report):
    print(f"{'layer':16} {'method':8} {'rank':9} {'MFLOPs':>15} {'params':>17} {'est. err':>8} {'meas. err':>9}")
    for r in report["layers"]:
        rank = ",".join(map(str, r["rank"])) if r["rank"] else "-"
        flops = f"{r['flops_before'] / 1e6:7.2f}→{r['flops_after'] / 1e6:<7.2f}"
        print(f"{r['name'][:16]:16} {r['method']:8} {rank:9} {flops} "
              f"{r['params_before']:8}→{r['params_after']:<8} {r['estimated_error']:8.3f} "
              f"{'' if r['measured_error'] is None else format(r['measured_error'], '9.3f')}")
    f0, f1, p0, p1 = (report[k] for k in ("flops_before", "flops_after", "params_before", "params_after"))
    print(f"FLOPs {f0 / 1e6:.2f}M → {f1 / 1e6:.2f}M ({f0 / f1:.2f}× fewer), parameters {p0} → {p1} "
          f"({p0 / p1:.2f}× fewer), error budget {report['error_budget']:.3g}")


def _boards(args):
    import os

    from .. import boards

    if args.boards_command == "show":
        b = boards.load(args.name)
        print(f"{b.name}: {b.about}")
        print(f"  memory {b.memory_mb:g} MB{' shared by CPU and GPU' if b.shared_memory else ''}, idle {b.idle_w:g} W, "
              f"hand-over {b.transfer_us:g} us + {b.transfer_gbps:g} GB/s at +{b.transfer_w:g} W")
        for p in b.processors:
            print(f"  {p.id:4} {p.kind}: {p.cores} cores @ {p.clock_ghz:g} GHz, {p.peak_gflops:g} GFLOP/s fp32, "
                  f"{p.bandwidth_gbps:g} GB/s, launch {p.launch_us:g} us, active +{p.active_w:g} W, "
                  f"memory {p.memory_mb:g} MB")
            print(f"       backends {', '.join(f'{k} x{v:g}' for k, v in p.backends.items())}; efficiency "
                  f"{', '.join(f'{k} {v:g}' for k, v in p.efficiency.items())}")
        print(f"  profile: {b.path}")
        return
    host = boards.profile.host_path()
    if not os.path.exists(host):
        print(f"{'host':18} this machine, not calibrated yet: `deepx calibrate` writes {host} (deepx run / plan "
              "measure a quick CPU-only one on first use)")
    for name in ([boards.profile.HOST] if os.path.exists(host) else []) + boards.names():
        b = boards.load(name)
        procs = " + ".join(f"{p.id} {p.peak_gflops:g} GFLOP/s" for p in b.processors)
        print(f"{name:18} {procs:34} idle {b.idle_w:g} W  {b.about}")


def _calibrate(args):
    import os
    import tomllib

    from tqdm import tqdm

    from .. import boards
    from ..runtime import calibrate

    path = args.output or boards.profile.host_path()
    name = boards.profile.HOST if args.output is None else os.path.basename(path).removesuffix(".toml")
    calibrate.write("", path)  # fail before measuring, not after
    r = calibrate.calibrate(args.seconds, args.threads, meter=args.meter or "",
                            progress=lambda total: tqdm(total=total, desc="calibrate", unit="step", file=sys.stderr,
                                                        disable=args.json and not sys.stderr.isatty()))
    options = [f"-o {path}", f"--seconds {args.seconds:g}", args.threads and f"--threads {args.threads}",
               args.meter and f"--meter {args.meter}"]
    text = calibrate.render(r, " ".join(["deepx calibrate", *filter(None, options)]), name)
    calibrate.write(text, path)
    board = boards.load(path)
    if args.json:
        print(json.dumps(dict(path=path, seconds=r.seconds, profile=tomllib.loads(text), microbenchmarks=r.rows),
                         indent=1))
        return
    for p in board.processors:
        print(f"{p.id} ({p.kind}, {p.cores} cores): {p.peak_gflops:g} GFLOP/s, {p.bandwidth_gbps:g} GB/s, launch "
              f"{p.launch_us:g} us; backends {', '.join(f'{k} x{v:g}' for k, v in p.backends.items())}")
        print(f"  efficiency {', '.join(f'{k} {v:g}' for k, v in p.efficiency.items())}")
    print(f"measured in {r.seconds:.1f} s; wrote {path} (board {name!r}: deepx plan MODEL --board "
          f"{name if args.output is None else path})")


def _plan(args):
    import time
    from pathlib import Path

    from ..models import io, load
    from ..runtime import planner
    from ..runtime.calibrate import load_board
    from ..runtime.plan import file_sha256, make_plan, save_plan

    if args.error_budget is None and (args.calibration or args.compressed_output):
        raise planner.PlanError("--calibration and --compressed-output go with --error-budget")
    t = time.perf_counter()
    board = load_board(args.board)
    g = load.load_model(args.model, io.parse_input_shapes(args.input_shape))
    load_s = time.perf_counter() - t
    if args.error_budget is None:
        plan = make_plan(g, file_sha256(args.model), board, args.objective, args.deadline_ms, args.memory_mb,
                         planner.PLANNERS[args.planner]())
    else:
        from ..runtime.joint_plan import plan_with_rlc

        plan = plan_with_rlc(args.model, g, board, args.error_budget,
                             args.compressed_output or Path(args.output).with_suffix(".onnx"), args.objective,
                             args.deadline_ms, args.memory_mb, planner.PLANNERS[args.planner](), args.calibration,
                             args.samples, args.method)
    save_plan(plan, args.output)
    if args.json:
        print(json.dumps({k: v for k, v in plan.items() if k != "format"}, indent=1))
        return
    if "compression" in plan:
        _print_compression(plan["compression"])
        print()
    print(f"{'block':16} {'processor':9} {'backend':15} {'ms':>9} {'mJ':>9}")
    for b in plan["blocks"]:
        share = "/".join(str(p["channels"][1] - p["channels"][0]) for p in b["parts"]) if len(b["parts"]) > 1 else ""
        print(f"{b['name'][:16]:16} {b['processor']:9} {b['backend']:15} {b['ms']:9.3f} {b['mj']:9.3f} {share}")
    p = plan["predicted"]
    print(f"predicted on {board.name}: {p['latency_ms']:.2f} ms, {p['energy_mj']:.1f} mJ per inference "
          f"(objective {args.objective})")
    for pid, base in plan["baselines"].items():
        print(f"  all on {pid}: {base['latency_ms']:.2f} ms, {base['energy_mj']:.1f} mJ")
    if "compression" in plan:
        c, key = plan["compression"], "latency_ms" if args.objective == "latency" else "energy_mj"
        best = min(c["uncompressed"]["baselines"].items(), key=lambda kv: kv[1][key])
        unit = "ms" if args.objective == "latency" else "mJ"
        plain = c["uncompressed"]["predicted"]
        print(f"uncompressed: {f'best plan {plain[key]:.1f} {unit}' if plain else 'no plan meets the limits'}, "
              f"best single processor {best[1][key]:.1f} {unit} (all on {best[0]}): the compressed plan is "
              f"{best[1][key] / p[key]:.2f}× lower; wrote {c['output']}")
    print(f"planned in {plan['solve_s']:.3f} s (model loaded in {load_s:.2f} s); wrote {args.output}")


def _emulate(args):
    from ..models import io, load
    from ..runtime.calibrate import load_board
    from ..runtime.emulate import run_plan
    from ..runtime.plan import file_sha256, load_plan

    plan = load_plan(args.plan, file_sha256(args.model))
    board = load_board(args.board or plan["board"])
    g, feeds = load.model_and_inputs(args.model, args.input, args.input_shape)
    outputs, emu = run_plan(g, plan, feeds, board)
    if args.output:
        io.save_outputs(args.output, outputs)
    busy = {who: sum(b - a for a, b in spans) for who, spans in emu.activity().items()}
    report = dict(board=board.name, latency_ms=emu.now_ms, energy_mj=emu.energy_mj(), predicted=plan["predicted"],
                  busy_ms=busy, outputs={n: list(y.shape) for n, y in outputs.items()})
    if args.json:
        print(json.dumps(report, indent=1))
        return
    p = plan["predicted"]
    print(f"emulated {board.name}: {emu.now_ms:.3f} ms, {emu.energy_mj():.2f} mJ per inference "
          f"(plan predicted {p['latency_ms']:.3f} ms, {p['energy_mj']:.2f} mJ)")
    print("busy: " + ", ".join(f"{who} {ms:.3f} ms" for who, ms in busy.items()))
    if args.output:
        print(f"wrote {args.output}")


def _pack(args):
    from ..models import io, load
    from ..runtime import bundle
    from ..runtime.calibrate import load_board
    from ..runtime.plan import file_sha256, load_plan, make_plan

    board = load_board(args.board)
    g = load.load_model(args.model, io.parse_input_shapes(args.input_shape))
    sha = file_sha256(args.model)
    plan = load_plan(args.plan, sha) if args.plan else make_plan(g, sha, board, args.objective)
    m = bundle.pack(g, plan, sha, board.name, args.output, profile=board.text)
    p = m["plan"]
    print(f"wrote {args.output}: {g.name} for {board.name}, {m['model']['param_bytes'] / 2**20:.1f} MiB of weights, "
          f"plan {'from ' + args.plan if args.plan else 'made now'} ({p['blocks']} blocks on "
          f"{', '.join(p['backends'])}; predicted {p['predicted']['latency_ms']:.2f} ms, "
          f"{p['predicted']['energy_mj']:.1f} mJ)")


def _flash(args):
    from .flash import flash

    r = flash(args.bundle, args.board, args.to, args.python, args.ssh_config, args.timeout)
    print(f"flashed {r['bundle']} ({r['bytes'] / 2**20:.1f} MiB, sha256 {r['sha256'][:12]}… verified on the board)")
    print(f"run it with: {r['command']}")


def _demo(args):
    from .demo import run

    run(args)


def _executor_args(p):
    p.add_argument("model", help="MODEL.onnx")
    p.add_argument("--board", default="host", metavar="NAME",
                   help="the board whose plan runs here (default: host, this machine as calibrated)")
    p.add_argument("--plan", metavar="PLAN.json", help="a plan made by deepx plan (default: a latency plan "
                                                      "made now for --board)")
    p.add_argument("--backend", default="auto", choices=["auto", *kernels.BACKENDS],
                   help="auto: the plan's; else every block with this backend")
    p.add_argument("--input", metavar="IN.npz", help="inputs keyed by input name (.npy for one input); "
                                                     "default: random normal inputs")
    p.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    p.add_argument("--threads", type=int, default=0, help="threads for every library (default: all cores)")


def parser():
    p = argparse.ArgumentParser(prog="deepx", description="Run trained deep models on single-board computers.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench-kernels", help="time conv2d/dense kernels against numpy sgemm and ONNX Runtime")
    b.add_argument("--threads", type=int, default=0, help="threads for every library (default: all cores)")
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--layers", nargs="+", metavar="NAME", help="only layers whose name contains one of these")
    b.add_argument("--backends", nargs="+", choices=[b for b in kernels.BACKENDS if not kernels.info(b).reference],
                   help="default: every usable CPU one; opencl is timed with upload + compute + download")
    b.add_argument("--seconds", type=float, default=1.0, help="timing budget per case and backend")
    b.add_argument("--json", action="store_true", help="print a JSON list of rows")
    b.set_defaults(func=_bench_kernels)

    r = sub.add_parser("run", help="run a model (ONNX) on this machine by a plan")
    _executor_args(r)
    r.add_argument("--output", metavar="OUT.npz", help="write every graph output, keyed by name")
    r.add_argument("--repeat", type=int, default=0, help="time this many runs after the warm-up")
    r.add_argument("--warmup", type=int, default=1, help="untimed runs first (compiles, warms caches)")
    r.add_argument("--profile", action="store_true", help="print a table of blocks: processor, backend, ms, share")
    r.add_argument("--meter", metavar="SPEC", help="measure energy per inference with this meter "
                                                   "(e.g. um25c:/dev/rfcomm0; see deepx-power)")
    r.add_argument("--baseline", type=float, default=1.0, metavar="S",
                   help="seconds of idle power measured first and subtracted (0: report gross energy)")
    r.add_argument("--json", action="store_true", help="print a JSON report")
    r.set_defaults(func=_run)

    bn = sub.add_parser("bench", help="time a model against ONNX Runtime in the same process")
    _executor_args(bn)
    bn.add_argument("--against", choices=["onnxruntime"], default="onnxruntime")
    bn.add_argument("--seconds", type=float, default=5.0, help="timing budget (at least 10 runs each)")
    bn.add_argument("--json", action="store_true")
    bn.set_defaults(func=_bench)

    cp = sub.add_parser("compare", help="deepx against ONNX Runtime on onnx's light models (the README's table)")
    cp.add_argument("--models", nargs="+", metavar="NAME", help="default: all nine light models")
    cp.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    cp.add_argument("--rlc", type=float, nargs="?", const=0.05, metavar="BUDGET",
                    help="also AlexNet and VGG19 compressed at this error budget (default 0.05)")
    cp.add_argument("--seconds", type=float, default=3.0, help="timing budget per model and thread count")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(func=_compare)

    c = sub.add_parser("compress", help="RLC: low-rank factorize dense/conv layers under an error budget")
    c.add_argument("model", help="MODEL.onnx, or a zoo model's name (calibrated on its training data, "
                                 "accuracy on its test set)")
    c.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    budget = c.add_mutually_exclusive_group()
    budget.add_argument("--error-budget", type=float, default=0.05,
                        help="summed estimated relative output error of the layers (default 0.05)")
    budget.add_argument("--max-accuracy-loss", type=float, metavar="A",
                        help="largest test-accuracy loss (a fraction, e.g. 0.01); needs labelled data (zoo)")
    c.add_argument("--calibration", metavar="DATA.npz", help="calibration inputs keyed by input name "
                                                             "(default: zoo training data, else random)")
    c.add_argument("--samples", type=int, default=32, help="random calibration samples when no data is given")
    c.add_argument("--method", choices=["svd", "tucker2", "auto"], default="auto",
                   help="conv factorization: svd (channel decomposition), tucker2, or the better per layer")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_compress)

    z = sub.add_parser("zoo", help="small trained models (scikit-learn's digits)")
    zsub = z.add_subparsers(dest="zoo_command", required=True)
    zsub.add_parser("list", help="the models, their inputs and test accuracy")
    e = zsub.add_parser("export", help="write a zoo model as ONNX")
    e.add_argument("name")
    e.add_argument("-o", "--output", required=True, metavar="FILE.onnx")
    z.set_defaults(func=_zoo)

    bd = sub.add_parser("boards", help="the board profiles: list them, or show one")
    bsub = bd.add_subparsers(dest="boards_command")
    show = bsub.add_parser("show", help="print one board's profile")
    show.add_argument("name", help="a board name, or a profile FILE.toml")
    bd.set_defaults(func=_boards)

    ca = sub.add_parser("calibrate", help="measure this machine into a board profile (the `host` board)")
    ca.add_argument("-o", "--output", metavar="FILE.toml", help="where to write it (default: the host profile, "
                                                                 "$DEEPX_HOST_PROFILE or ~/.config/deepx/host.toml)")
    ca.add_argument("--seconds", type=float, default=20.0, help="measuring time, compilation aside (default 20)")
    ca.add_argument("--threads", type=int, default=0, help="threads for every library (default: all cores)")
    ca.add_argument("--meter", metavar="SPEC", help="measure idle and active watts with this meter "
                                                    "(e.g. um25c:/dev/rfcomm0, jetson; see deepx-power)")
    ca.add_argument("--json", action="store_true", help="print the profile and the micro-benchmarks as JSON")
    ca.set_defaults(func=_calibrate)

    pl = sub.add_parser("plan", help="DAD: place the model's unit blocks on a board's CPU and GPU")
    pl.add_argument("model", help="MODEL.onnx")
    pl.add_argument("--board", required=True, metavar="NAME", help="a board (deepx boards), emulated:NAME, "
                                                                   "or a profile FILE.toml")
    pl.add_argument("--objective", choices=["energy", "latency"], default="energy")
    pl.add_argument("--deadline-ms", type=float, metavar="X", help="latency limit per inference")
    pl.add_argument("--memory-mb", type=float, metavar="M", help="memory limit per processor")
    pl.add_argument("--planner", choices=["milp", "exhaustive"], default="milp",
                    help="exhaustive: the reference, for <= 12 blocks")
    pl.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    pl.add_argument("--error-budget", type=float, metavar="E", help="also compress layers (RLC), chosen with the "
                                                                    "placement, summed estimated error <= E")
    pl.add_argument("--calibration", metavar="DATA.npz", help="with --error-budget: calibration inputs "
                                                              "(default: random normal)")
    pl.add_argument("--samples", type=int, default=32, help="random calibration samples when no data is given")
    pl.add_argument("--method", choices=["svd", "tucker2", "auto"], default="auto", help="conv factorization")
    pl.add_argument("--compressed-output", metavar="M.onnx", help="with --error-budget: where the compressed "
                                                                  "model goes (default: PLAN.onnx beside the plan)")
    pl.add_argument("-o", "--output", required=True, metavar="PLAN.json")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.set_defaults(func=_plan)

    em = sub.add_parser("emulate", help="run a plan on an emulated board: real outputs, modelled time and energy")
    em.add_argument("model", help="MODEL.onnx (the one the plan was made for)")
    em.add_argument("--plan", required=True, metavar="PLAN.json")
    em.add_argument("--board", metavar="emulated:NAME", help="default: the plan's board")
    em.add_argument("--input", metavar="IN.npz", help="inputs keyed by input name; default: random normal inputs")
    em.add_argument("--output", metavar="OUT.npz", help="write every graph output, keyed by name")
    em.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    em.add_argument("--json", action="store_true")
    em.set_defaults(func=_emulate)

    pk = sub.add_parser("pack", help="bundle a model, its weights and its plan for a board into one file")
    pk.add_argument("model", help="MODEL.onnx")
    pk.add_argument("--board", required=True, metavar="NAME", help="the board it will run on (deepx boards)")
    pk.add_argument("--plan", metavar="PLAN.json", help="a plan made by deepx plan (default: made now)")
    pk.add_argument("--objective", choices=["energy", "latency"], default="energy", help="when the plan is made now")
    pk.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    pk.add_argument("-o", "--output", required=True, metavar="MODEL.dxb")
    pk.set_defaults(func=_pack)

    fl = sub.add_parser("flash", help="put a bundle on a board (a folder, or ssh://user@host[:port]/path) "
                                      "with the runtime that runs it")
    fl.add_argument("bundle", metavar="MODEL.dxb")
    fl.add_argument("--board", required=True, metavar="NAME", help="the board at DEST")
    fl.add_argument("--to", required=True, metavar="DEST", help="a folder (an emulated board's root) or "
                                                               "ssh://[user@]host[:port]/path")
    fl.add_argument("--python", default="python3", help="the board's Python (default: python3)")
    fl.add_argument("--ssh-config", metavar="FILE", help="an ssh_config file for ssh (ssh -F)")
    fl.add_argument("--timeout", type=float, default=10.0, metavar="S", help="ssh connect timeout")
    fl.set_defaults(func=_flash)

    dm = sub.add_parser("demo", help="the whole pipeline on the zoo's digits models and AlexNet, on an emulated "
                                     "board and meter (or a real one): one table, a power trace PNG")
    dm.add_argument("--board", default="jetson-nano,jetson-tk1", metavar="NAME[,NAME]",
                    help="board(s), comma-separated (default jetson-nano,jetson-tk1)")
    dm.add_argument("--meter", metavar="SPEC", help="a real meter on a real board (with --to); default: the "
                                                    "emulated board read by an emulated UM25C on a pty")
    dm.add_argument("--to", metavar="DEST", help="the board (ssh://user@host/path or a folder; default: a folder "
                                                 "in the work folder, the emulated board's root)")
    dm.add_argument("--python", metavar="PATH",
                    help="with --meter: the board's Python that has deepx (default python3)")
    dm.add_argument("--models", nargs="+", metavar="NAME", help="some of digits-dnn digits-cnn alexnet (default all)")
    dm.add_argument("--error-budget", type=float, default=0.05, metavar="E", help="RLC's summed error (default 0.05)")
    dm.add_argument("--window", type=float, default=6.0, metavar="S", help="seconds of metered inference per model")
    dm.add_argument("--workdir", metavar="DIR", help="where plans, bundles and traces go (default: a temp folder)")
    dm.set_defaults(func=_demo)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except DeepxError as e:
        print(f"deepx: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
