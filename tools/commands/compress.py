"""`deepx compress` (RLC) and `deepx zoo`: low-rank compression, small trained models."""
import json

from ... import argtypes
from ...models import zoo


def add(sub):
    """The compress and zoo commands."""
    c = sub.add_parser("compress", help="RLC: low-rank factorize dense/conv layers under an error budget")
    c.add_argument("model", help="MODEL.onnx, or a zoo model's name (calibrated on its training data, ranks "
                                 "chosen on its validation data, figures from its test data)")
    c.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where the compressed model goes")
    budget = c.add_mutually_exclusive_group()
    budget.add_argument("--error-budget", type=argtypes.error_budget, default=0.05,
                        help="summed estimated relative output error of the layers, 0 to 1 (default 0.05; "
                             "above 0.3 accuracy may fall, with a warning)")
    add_limits(budget)
    add_data(c)
    c.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,…", help="shape of a dynamic input")
    c.add_argument("--samples", type=argtypes.positive_int, default=32,
                   help="random calibration samples when no data is given")
    c.add_argument("--method", choices=["svd", "tucker2", "auto"], default="auto",
                   help="conv factorization: svd (channel decomposition), tucker2, or the better per layer")
    c.add_argument("--seconds", type=argtypes.seconds, default=2.0, metavar="S",
                   help="time the model before and after for S seconds each (deepx, and ONNX Runtime on the "
                        "written file when it is installed; 0: do not time)")
    c.add_argument("--json", action="store_true", help="print the compression report as JSON")
    c.set_defaults(func=_compress)

    z = sub.add_parser("zoo", help="trained models (digits, MNIST, MobileNetV2 on ImageNet), and AlexNet untrained")
    zsub = z.add_subparsers(dest="zoo_command", required=True)
    zsub.add_parser("list", help="the models, their inputs and test accuracy (untrained ones too)")
    e = zsub.add_parser("export", help="write a zoo model as ONNX")
    e.add_argument("name", metavar="NAME", help=f"the model: {', '.join([*zoo.MODELS, *zoo.RANDOM])} "
                                                "(deepx zoo list)")
    e.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="where the ONNX file goes")
    z.set_defaults(func=_zoo)


def add_limits(group):
    """--max-accuracy-loss and --max-agreement-loss (compress and plan), in a group exclusive with the budget."""
    group.add_argument("--max-accuracy-loss", type=argtypes.fraction, metavar="A",
                       help="largest loss of top-1 accuracy on the validation data (a fraction, e.g. 0.01): the "
                            "largest error budget that keeps it; needs labels (a zoo model, or a `labels` array in "
                            "--calibration's .npz)")
    group.add_argument("--max-agreement-loss", type=argtypes.fraction, metavar="A",
                       help="for data without labels: largest share of top-1 predictions that may change against "
                            "the uncompressed model on the validation data (classifiers), else the largest "
                            "relative output error")


def add_data(p):
    """The data options of compress and plan."""
    p.add_argument("--calibration", metavar="DATA", help="calibration data: DATA.npz keyed by input name (a "
                                                        "`labels` array too, for accuracy), or a folder of images "
                                                        "(with --preprocess); split into fit, validation and (without "
                                                        "--test) test parts. Default: a zoo model's own data, else "
                                                        "random normal inputs")
    p.add_argument("--test", metavar="DATA", help="data that chooses nothing, for the figures reported (as "
                                                  "--calibration; default: a zoo model's test split, else a quarter "
                                                  "of the calibration data)")
    p.add_argument("--preprocess", metavar="SPEC", help="images to the model's input: a preset (imagenet: "
                                                        "shorter side 256, centre crop, /255, ImageNet mean and "
                                                        "std, RGB; unit: /255, the default) and/or KEY=VALUE items "
                                                        "resize=, crop=, scale=, mean=R/G/B, std=R/G/B, "
                                                        "order=rgb|bgr")


def _compress(args):
    from ...models import compress, io
    from ...models.onnx_export import save_onnx
    from .. import runner

    shapes = io.parse_input_shapes(args.input_shape)
    job = compress.job(args.model, args.calibration, args.samples, input_shapes=shapes, test=args.test,
                       preprocess=args.preprocess or zoo.MODELS.get(args.model, {}).get("preprocess"))
    g, report = compress.compress_to(job, args.error_budget, args.max_accuracy_loss, args.method,
                                     args.max_agreement_loss)
    save_onnx(g, args.output)
    if args.seconds:
        source = zoo.path(args.model) if args.model in zoo.MODELS or args.model in zoo.RANDOM else args.model
        report["speed"] = runner.before_after(source, job.graph, args.output, g, args.seconds)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print_compression(report)
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
    for line in result_lines(report):
        print(line)


def result_lines(report) -> list:
    """What the report measured, each figure with the data it comes from."""
    d, lines = report["data"], [f"calibrated on {report['data']['fit']}"]
    if "limit" in report:
        lim = report["limit"]
        lines.append(f"ranks chosen on {d['validation']}: {lim['kind']} loss {100 * lim['validation_loss']:.2f}% "
                     f"(promised <= {100 * lim['value']:.2f}%)")
    else:
        lines.append(f"layer errors measured on {d['validation']}")
    t = report.get("test")
    if t:
        acc = (f"accuracy {100 * t['accuracy_before']:.2f}% → {100 * t['accuracy_after']:.2f}%, "
               if "accuracy_before" in t else "")
        what = (f"top-1 agreement with the uncompressed model {100 * t['agreement']:.2f}%" if "agreement" in t
                else f"relative output error {t['relative_error']:.3g}")
        lines.append(f"on {t['data']}: {acc}{what}")
    s = report.get("speed")
    if s:
        ort = (f"; ONNX Runtime on the written file {s['onnxruntime_after_ms']:.2f} ms"
               if "onnxruntime_after_ms" in s else "")
        lines.append(f"measured here (medians, batch 1, {s['threads']} threads): deepx {s['deepx_before_ms']:.2f} ms → "
                     f"{s['deepx_after_ms']:.2f} ms ({s['speedup']:.2f}× faster){ort}")
    return lines


def _zoo(args):
    if args.zoo_command == "export":
        zoo.export(args.name, args.output)
        print(f"wrote {args.output}")
        return
    rows = [[name, f"input (N, {', '.join(map(str, spec['input']))})", _figure(zoo.info(name)), spec["about"]]
            for name, spec in zoo.MODELS.items()]
    rows += [[name, f"input (1, {', '.join(map(str, spec['input']))})", "untrained", spec["about"]]
             for name, spec in zoo.RANDOM.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[3]]))


def _figure(info: dict) -> str:
    """A zoo model's accuracy: measured on its test split, else the figure its source publishes."""
    if "test_accuracy" in info:
        return f"test accuracy {100 * info['test_accuracy']:.1f}%"
    return f"ImageNet top-1 {100 * info['imagenet_top1']['value']:.1f}% (torchvision's figure)"
