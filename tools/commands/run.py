"""`deepx run`, `deepx bench` and `deepx compare`: a model run here by a plan, and timed against ONNX Runtime."""
import json
import sys

from ... import argtypes, kernels

PEERS = ("mnn", "ncnn")  # tools/peers.py's engines (not imported here: the parser stays light)


def add(sub):
    """The run, bench and compare commands."""
    r = sub.add_parser("run", help="run a model (ONNX) on this machine by a plan")
    _executor_args(r)
    r.add_argument("--output", metavar="OUT.npz", help="write every graph output, keyed by name")
    r.add_argument("--repeat", type=argtypes.count, default=0, help="time this many runs after the warm-up")
    r.add_argument("--warmup", type=argtypes.count, default=1, help="untimed runs first (compiles, warms caches)")
    r.add_argument("--profile", action="store_true", help="print a table of blocks: processor, backend, ms, share")
    r.add_argument("--meter", metavar="SPEC", help="measure energy per inference with this meter "
                                                   "(e.g. um25c:/dev/rfcomm0; see deepx-power)")
    r.add_argument("--baseline", type=argtypes.seconds, default=1.0, metavar="S",
                   help="seconds of idle power measured first and subtracted (0: report gross energy)")
    r.add_argument("--json", action="store_true", help="print a JSON report")
    r.set_defaults(func=_run)

    bn = sub.add_parser("bench", help="time a model against ONNX Runtime in the same process (or two models: "
                                      "before and after compression)")
    _executor_args(bn)
    bn.add_argument("other", nargs="?", type=model_file, metavar="OTHER.onnx",
                    help="a second model with the same inputs (the compressed one): both timed by deepx at batch 1, "
                         "in alternating turns, and by ONNX Runtime in the same turns")
    _against(bn)
    bn.add_argument("--seconds", type=argtypes.positive, default=5.0, help="timing budget (at least 10 runs each)")
    bn.add_argument("--json", action="store_true", help="print a JSON report")
    bn.set_defaults(func=_bench)

    cp = sub.add_parser("compare", help="deepx against ONNX Runtime on onnx's light models (the README's table)")
    cp.add_argument("--models", nargs="+", metavar="NAME", help="onnx's light models by their names (bvlc_alexnet, "
                                                                "vgg19, resnet50, …), issue 15's modern ones "
                                                                "(mobilenet_v3_large, yolov8n, …) or the zoo's "
                                                                "trained ones (mobilenet-v2, …); default: the nine "
                                                                "light ones")
    cp.add_argument("--threads", nargs="+", type=argtypes.threads, default=[1, 2], metavar="N",
                    help="thread counts, each a row per model (default 1 2; 0: all cores)")
    cp.add_argument("--rlc", type=argtypes.budget, nargs="?", const=0.05, metavar="BUDGET",
                    help="also AlexNet and VGG19 compressed at this error budget (default 0.05)")
    _against(cp)
    cp.add_argument("--seconds", type=argtypes.positive, default=3.0, help="timing budget per model and thread count")
    cp.add_argument("--json", action="store_true", help="print a JSON list of rows")
    cp.set_defaults(func=_compare)


def _against(p):
    p.add_argument("--against", nargs="+", choices=["onnxruntime", *PEERS], default=["onnxruntime"],
                   metavar="RUNTIME",
                   help="runtimes timed beside deepx on the same file, same threads: onnxruntime (always: the "
                        "reference whose outputs the others are checked against), mnn, ncnn (their Python packages "
                        "installed; converted once, float32)")


def _run(args):
    from ...models import io
    from ...runtime.onboard.report import outputs_summary, print_run
    from .. import runner

    r = runner.run(args)
    outputs = r.pop("outputs")
    if args.output:
        io.save_outputs(args.output, outputs)
    r["outputs"] = outputs_summary(outputs)
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
    from .. import runner
    from ..bench_kernels import waiting_line

    r = runner.bench(args)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    if args.other:
        print(f"{args.model} → {args.other} (medians, batch 1, {r['threads']} threads): deepx "
              f"{r['deepx_before_ms']:.3f} → {r['deepx_after_ms']:.3f} ms ({r['speedup']:.2f}× faster); ONNX Runtime "
              f"{r['onnxruntime_before_ms']:.3f} → {r['onnxruntime_after_ms']:.3f} ms")
        return
    print(f"{args.model}: deepx {r['deepx_ms']:.3f} ms, ONNX Runtime {r['onnxruntime_ms']:.3f} ms (medians, "
          f"{r['threads']} threads): speed vs ONNX Runtime {r['speed_vs_onnxruntime']:.2f}; largest output "
          f"difference {r['max_abs_diff']:.3g} (outputs up to {r['max_abs_onnxruntime']:.3g})")
    for p in runner.peers(args.against):
        print(f"{p}: {r[p + '_ms']:.3f} ms (median, same turns): speed vs {p} {r['speed_vs_' + p]:.2f}; largest "
              f"difference from ONNX Runtime {r['max_abs_diff_' + p]:.3g}")
    if r["deepx_threads_at_end"] != r["threads"]:
        print(f"deepx ran {r['deepx_threads_at_end']} thread(s) at the end: other processes held the cores "
              f"(runtime/contention.py); ONNX Runtime kept {r['threads']}")
    print(waiting_line(r["waiting"]))
    for p in runner.peers(args.against):
        print(r[p + "_settings"])


def compare_line(r: dict, peers=()) -> str:
    """One row of `deepx compare`'s text table; an RLC row also has ONNX Runtime on the uncompressed model; each
    peer adds its ms, vs and rel diff (against ONNX Runtime's outputs)."""
    from ..compare import rel_diff

    line = (f"{r['model']:14} {r['variant']:12} {r['threads']:3} {r['deepx_ms']:9.2f} {r['onnxruntime_ms']:9.2f} "
            f"{r['speed_vs_onnxruntime']:6.2f} {rel_diff(r):9.2g} ")
    if "onnxruntime_uncompressed_ms" in r:
        line += (f"{r['onnxruntime_uncompressed_ms']:12.2f} {r['speed_vs_onnxruntime_uncompressed']:10.2f} "
                 f"{rel_diff(r, '_uncompressed'):9.2g} ")
    else:
        line += f"{'':12} {'':10} {'':9} "
    line += f"{r['arena_bytes'] / 1e6:8.1f} {r['tensor_bytes'] / 1e6:10.1f}"
    return line + "".join(f" {r[p + '_ms']:9.2f} {r['speed_vs_' + p]:6.2f} {rel_diff(r, '_' + p):9.2g}" for p in peers)


def _compare(args):
    from tqdm import tqdm

    from .. import compare, peers
    from ..bench_kernels import waiting, waiting_line
    from ..runner import peers as peer_names

    rows, others = [], peer_names(args.against)
    about = [peers.ENGINES[p].about() for p in others]  # a missing package stops here, before any timing
    if not args.json:
        print("deepx compare: deepx against ONNX Runtime on the same model, same process, same threads, "
              "alternating runs (medians); vs ORT = ORT time / deepx time; rel diff = largest output difference / "
              "max(1, largest output); rlc rows: both run the compressed model, and ORT uncompr = ONNX Runtime on "
              "the uncompressed one (vs uncompr: its time / deepx's, the kernels' and the compression's gain "
              "together; rel diff uncompr: the compression's error)")
        print(waiting_line(waiting()))
        for line in about:
            print(line)
        if others:
            print("peers: vs X = X's time / deepx's; rel diff = largest difference from ONNX Runtime's outputs / "
                  "max(1, largest output)")
        print(f"{'model':14} {'variant':12} {'thr':>3} {'deepx ms':>9} {'ORT ms':>9} {'vs ORT':>6} {'rel diff':>9} "
              f"{'ORT uncompr':>12} {'vs uncompr':>10} {'rel diff':>9} {'arena MB':>8} {'tensors MB':>10}"
              + "".join(f" {p + ' ms':>9} {'vs ' + p:>6} {'rel diff':>9}" for p in others))
    for r in compare.rows(args.models, args.threads, args.seconds, args.rlc,
                          lambda xs: tqdm(xs, desc="compare", unit="model", file=sys.stderr, leave=False), others):
        rows.append(r)
        if not args.json:
            tqdm.write(compare_line(r, others), file=sys.stdout)
    if args.json:
        print(json.dumps(rows, indent=1))


def model_file(arg: str) -> str:
    """The command line's model: a file, a zoo model's name (its file), or a light or modern model's name (its
    He-initialised file)."""
    from ...models import light, zoo

    if arg in zoo.MODELS or arg in zoo.RANDOM:
        return zoo.path(arg)
    return light.path(arg) if arg in light.names() or arg in light.modern() else arg


def _executor_args(p):
    """The model, plan, inputs and threads options of run and bench."""
    p.add_argument("model", type=model_file, help="MODEL.onnx, a zoo model's name (deepx zoo list), or the name of "
                                                  "one of onnx's light models or of issue 15's modern ones (run "
                                                  "with random He weights)")
    p.add_argument("--board", default="host", metavar="NAME",
                   help="the board whose plan runs here (default: host, this machine as calibrated)")
    p.add_argument("--plan", metavar="PLAN.json", help="a plan made by deepx plan (default: a latency plan "
                                                      "made now for --board)")
    p.add_argument("--backend", default="auto", choices=["auto", *kernels.BACKENDS],
                   help="auto: the plan's; else every block with this backend")
    p.add_argument("--input", metavar="IN.npz", help="inputs keyed by input name (.npy for one input); "
                                                     "default: random normal inputs")
    p.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    p.add_argument("--threads", type=argtypes.threads, default=0,
                   help="threads for every library (default 0: all cores)")
