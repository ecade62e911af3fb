"""`deepx bench-kernels`: conv2d/dense kernels against numpy sgemm and ONNX Runtime."""
import json
import sys

from ... import argtypes, kernels


def add(sub):
    """The bench-kernels command."""
    b = sub.add_parser("bench-kernels", help="time conv2d/dense kernels against numpy sgemm and ONNX Runtime")
    b.add_argument("--threads", type=argtypes.threads, default=0,
                   help="threads for every library (default 0: all cores)")
    b.add_argument("--batch", type=argtypes.positive_int, default=1, help="batch size of every case (default 1)")
    b.add_argument("--layers", nargs="+", metavar="NAME", help="only layers whose name contains one of these")
    b.add_argument("--backends", nargs="+", choices=[b for b in kernels.BACKENDS if not kernels.info(b).reference],
                   help="default: every usable CPU one; opencl is timed with upload + compute + download")
    b.add_argument("--seconds", type=argtypes.positive, default=1.0, help="timing budget per case and backend")
    b.add_argument("--json", action="store_true", help="print a JSON list of rows")
    b.set_defaults(func=_bench_kernels)


def _bench_kernels(args):
    from tqdm import tqdm

    from .. import bench_kernels

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
    print(bench_kernels.waiting_line(rows[0]["waiting"]))
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
