"""`deepx plan`, `emulate`, `pack` and `flash`: from a model to a plan, an emulated run, a bundle on a board."""
import json

from ... import argtypes

from .compress import add_data, add_limits, print_compression


def add(sub):
    """The plan, emulate, pack and flash commands."""
    pl = sub.add_parser("plan", help="DAD: place the model's unit blocks on a board's CPU and GPU")
    pl.add_argument("model", help="MODEL.onnx, or a zoo model's name (deepx zoo list)")
    pl.add_argument("--board", required=True, metavar="NAME", help="a board (deepx boards), emulated:NAME, "
                                                                   "or a profile FILE.toml")
    pl.add_argument("--objective", choices=["energy", "latency"], default="energy",
                    help="what the plan makes least per inference (default energy)")
    pl.add_argument("--deadline-ms", type=argtypes.positive, metavar="X", help="latency limit per inference")
    pl.add_argument("--memory-mb", type=argtypes.positive, metavar="M", help="memory limit per processor")
    pl.add_argument("--planner", choices=["milp", "exhaustive"], default="milp",
                    help="exhaustive: the reference, for <= 12 blocks")
    pl.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    rlc = pl.add_mutually_exclusive_group()
    rlc.add_argument("--error-budget", type=argtypes.error_budget, metavar="E",
                     help="also compress layers (RLC), chosen with the placement, summed estimated error <= E (0 to 1)")
    add_limits(rlc)
    add_data(pl)
    pl.add_argument("--samples", type=argtypes.positive_int, default=32,
                    help="random calibration samples when no data is given")
    pl.add_argument("--method", choices=["svd", "tucker2", "auto"], default="auto", help="conv factorization")
    pl.add_argument("--compressed-output", metavar="M.onnx", help="with RLC: where the compressed model goes "
                                                                  "(default: PLAN.onnx beside the plan)")
    pl.add_argument("-o", "--output", required=True, metavar="PLAN.json", help="where the plan goes")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.set_defaults(func=_plan)

    em = sub.add_parser("emulate", help="run a plan on an emulated board: real outputs, modelled time and energy")
    em.add_argument("model", help="MODEL.onnx (the one the plan was made for)")
    em.add_argument("--plan", required=True, metavar="PLAN.json", help="a plan made by deepx plan for MODEL")
    em.add_argument("--board", metavar="emulated:NAME", help="default: the plan's board")
    em.add_argument("--input", metavar="IN.npz", help="inputs keyed by input name; default: random normal inputs")
    em.add_argument("--output", metavar="OUT.npz", help="write every graph output, keyed by name")
    em.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    em.add_argument("--json", action="store_true", help="print a JSON report")
    em.set_defaults(func=_emulate)

    pk = sub.add_parser("pack", help="bundle a model, its weights and its plan for a board into one file")
    pk.add_argument("model", help="MODEL.onnx")
    pk.add_argument("--board", required=True, metavar="NAME", help="the board it will run on (deepx boards)")
    pk.add_argument("--plan", metavar="PLAN.json", help="a plan made by deepx plan (default: made now)")
    pk.add_argument("--objective", choices=["energy", "latency"], default="energy", help="when the plan is made now")
    pk.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    pk.add_argument("-o", "--output", required=True, metavar="MODEL.dxb", help="where the bundle goes")
    pk.set_defaults(func=_pack)

    fl = sub.add_parser("flash", help="put a bundle on a board (a folder, or ssh://user@host[:port]/path) "
                                      "with the runtime that runs it")
    fl.add_argument("bundle", metavar="MODEL.dxb", help="a bundle made by deepx pack")
    fl.add_argument("--board", required=True, metavar="NAME", help="the board at DEST")
    fl.add_argument("--to", required=True, metavar="DEST", help="a folder (an emulated board's root) or "
                                                               "ssh://[user@]host[:port]/path")
    fl.add_argument("--python", default="python3", help="the board's Python (default: python3)")
    fl.add_argument("--ssh-config", metavar="FILE", help="an ssh_config file for ssh (ssh -F)")
    fl.add_argument("--timeout", type=argtypes.positive, default=10.0, metavar="S", help="ssh connect timeout")
    fl.set_defaults(func=_flash)


def _plan(args):
    import time
    from pathlib import Path

    from ...models import compress, io, load, zoo
    from ...runtime import planner
    from ...runtime.calibrate import load_board
    from ...runtime.plan import file_sha256, make_plan, save_plan

    limit = (("accuracy", args.max_accuracy_loss) if args.max_accuracy_loss is not None else
             ("agreement", args.max_agreement_loss) if args.max_agreement_loss is not None else None)
    rlc = args.error_budget is not None or limit is not None
    if not rlc and (args.calibration or args.test or args.preprocess or args.compressed_output):
        raise planner.PlanError("--calibration, --test, --preprocess and --compressed-output go with RLC "
                                "(--error-budget, --max-accuracy-loss or --max-agreement-loss)")
    t = time.perf_counter()
    board = load_board(args.board)
    shapes = io.parse_input_shapes(args.input_shape)
    path = zoo.path(args.model) if args.model in zoo.MODELS or args.model in zoo.RANDOM else args.model
    if args.model in zoo.MODELS:
        shapes = {"x": (1,) + zoo.MODELS[args.model]["input"], **shapes}
    g = load.load_model(path, shapes)
    load_s = time.perf_counter() - t
    if not rlc:
        plan = make_plan(g, file_sha256(path), board, args.objective, args.deadline_ms, args.memory_mb,
                         planner.PLANNERS[args.planner]())
    else:
        from ...runtime.joint_plan import plan_with_rlc

        job = compress.job(args.model, args.calibration, args.samples, graph=g, test=args.test,
                           preprocess=args.preprocess or zoo.MODELS.get(args.model, {}).get("preprocess"))
        plan = plan_with_rlc(path, g, board, args.error_budget or 0.0,
                             args.compressed_output or Path(args.output).with_suffix(".onnx"), args.objective,
                             args.deadline_ms, args.memory_mb, planner.PLANNERS[args.planner](),
                             method=args.method, limit=limit, job=job)
    save_plan(plan, args.output)
    if args.json:
        print(json.dumps({k: v for k, v in plan.items() if k != "format"}, indent=1))
        return
    if "compression" in plan:
        print_compression(plan["compression"])
        print()
    print(f"{'block':16} {'processor':9} {'backend':15} {'ms':>9} {'mJ':>9}")
    for b in plan["blocks"]:
        share = "/".join(str(p["channels"][1] - p["channels"][0]) for p in b["parts"]) if len(b["parts"]) > 1 else ""
        print(f"{b['name'][:16]:16} {b['processor']:9} {b['backend']:15} {b['ms']:9.3f} {b['mj']:9.3f} {share}")
    p = plan["predicted"]
    print(f"predicted on {board.name}: {p['latency_ms']:.2f} ms, {p['energy_mj']:.1f} mJ per inference "
          f"(objective {args.objective})")
    for pid, base in plan["baselines"].items():
        rest = base.get("blocks_on_host", 0)
        print(f"  all on {pid}: {base['latency_ms']:.2f} ms, {base['energy_mj']:.1f} mJ"
              + (f" ({rest} blocks with ops it has no kernels for on the CPU)" if rest else ""))
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
    from ...models import io, load
    from ...runtime.calibrate import load_board
    from ...runtime.emulate import run_plan
    from ...runtime.plan import file_sha256, load_plan

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
    print(f"emulated {board.name} (modelled): {emu.now_ms:.3f} ms, {emu.energy_mj():.2f} mJ per inference "
          f"(plan predicted {p['latency_ms']:.3f} ms, {p['energy_mj']:.2f} mJ)")
    print("busy: " + ", ".join(f"{who} {ms:.3f} ms" for who, ms in busy.items()))
    if args.output:
        print(f"wrote {args.output}")


def _pack(args):
    from ...models import io, load
    from ...runtime import bundle
    from ...runtime.calibrate import load_board
    from ...runtime.plan import file_sha256, load_plan, make_plan

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
    from ..flash import flash

    r = flash(args.bundle, args.board, args.to, args.python, args.ssh_config, args.timeout)
    print(f"flashed {r['bundle']} ({r['bytes'] / 2**20:.1f} MiB, sha256 {r['sha256'][:12]}… verified on the board)")
    print(f"run it with: {r['command']}")
