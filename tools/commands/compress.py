"""`deepx compress` (RLC) and `deepx zoo`: low-rank compression, small trained models."""
import json

from ... import argtypes
from ...models import zoo


def add(sub):
    """The compress and zoo commands."""
    c = sub.add_parser("compress", help="RLC: low-rank factorize dense/conv layers under an error budget")
    c.add_argument("model", help="MODEL.onnx, or a zoo model's name (calibrated on its training data, "
                                 "accuracy on its test set)")
    c.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where the compressed model goes")
    budget = c.add_mutually_exclusive_group()
    budget.add_argument("--error-budget", type=argtypes.error_budget, default=0.05,
                        help="summed estimated relative output error of the layers, 0 to 1 (default 0.05; "
                             "above 0.3 accuracy may fall, with a warning)")
    budget.add_argument("--max-accuracy-loss", type=argtypes.fraction, metavar="A",
                        help="largest test-accuracy loss (a fraction, e.g. 0.01); needs labelled data (zoo)")
    c.add_argument("--calibration", metavar="DATA.npz", help="calibration inputs keyed by input name "
                                                             "(default: zoo training data, else random)")
    c.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    c.add_argument("--samples", type=argtypes.positive_int, default=32,
                   help="random calibration samples when no data is given")
    c.add_argument("--method", choices=["svd", "tucker2", "auto"], default="auto",
                   help="conv factorization: svd (channel decomposition), tucker2, or the better per layer")
    c.add_argument("--json", action="store_true", help="print the compression report as JSON")
    c.set_defaults(func=_compress)

    z = sub.add_parser("zoo", help="small trained models (scikit-learn's digits), and AlexNet untrained")
    zsub = z.add_subparsers(dest="zoo_command", required=True)
    zsub.add_parser("list", help="the models, their inputs and test accuracy (untrained ones too)")
    e = zsub.add_parser("export", help="write a zoo model as ONNX")
    e.add_argument("name", metavar="NAME", help=f"the model: {', '.join([*zoo.MODELS, *zoo.RANDOM])} "
                                                "(deepx zoo list)")
    e.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="where the ONNX file goes")
    z.set_defaults(func=_zoo)


def _compress(args):
    from ...models import compress, io
    from ...models.onnx_export import save_onnx

    shapes = io.parse_input_shapes(args.input_shape)
    job = compress.job(args.model, args.calibration, args.samples, input_shapes=shapes)
    g, report = compress.compress_to(job, args.error_budget, args.max_accuracy_loss, args.method)
    save_onnx(g, args.output)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print_compression(report)
    if report["accuracy_before"] is not None:
        print(f"test accuracy {100 * report['accuracy_before']:.2f}% → {100 * report['accuracy_after']:.2f}%")
    print(f"wrote {args.output}")


def print_compression(report):
    """A compression report's table of layers and its totals (deepx compress, deepx plan --error-budget)."""
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


def _zoo(args):
    if args.zoo_command == "export":
        zoo.export(args.name, args.output)
        print(f"wrote {args.output}")
        return
    rows = [[name, f"input (N, {', '.join(map(str, spec['input']))})",
             f"test accuracy {100 * zoo.info(name)['test_accuracy']:.1f}%", spec["about"]]
            for name, spec in zoo.MODELS.items()]
    rows += [[name, f"input (1, {', '.join(map(str, spec['input']))})", "untrained", spec["about"]]
             for name, spec in zoo.RANDOM.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[3]]))
