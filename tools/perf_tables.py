"""The README's Performance tables, measured on this machine and written with the machine beside them.

    python -m deepx.tools.perf_tables README.md [--seconds 1] [--threads 1 2] [--models NAME …] [--rlc 0.6]
        [--only models kernels peers] [--against mnn ncnn] [--kernel-seconds 0.2]

Each table sits between `<!-- perf:NAME -->` and `<!-- end perf -->` (models: `deepx compare`'s rows;
kernels: `deepx bench-kernels`' best backend per layer; peers: `deepx compare --against onnxruntime mnn ncnn`'s
rows on SqueezeNet and the trained MobileNetV2, measured only when asked for). Its first paragraph says when, at
which commit, on which CPU (model, vector flags, cores), numpy's sgemm rate there, both sides' threads and waiting
settings (and the peers' precision settings), and the command that regenerates it. Tables not measured by a run
are left as they are; --against adds the peers' columns to the models table too.
"""
import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
import textwrap

import numpy as np

from .. import kernels
from ..runtime.machine import cpu_flags, cpu_name
from . import bench_kernels, compare, peers

BLOCK = re.compile(r"(<!-- perf:(\w+) -->\n)(.*?)(<!-- end perf -->)", re.S)
#: the first paragraph of every block, its lines joined by spaces (tests/test_readme.py checks it)
HEADER = re.compile(r"Measured \d{4}-\d\d-\d\d, commit (\w+|uncommitted changes on \w+|unknown \(not a git "
                    r"checkout\)), on .+ \(.+\), \d+ of \d+ cores used; numpy sgemm .+ GFLOP/s .+; ONNX Runtime "
                    r"[\d.]+ .+; waiting: deepx .+; ONNX Runtime .+allow_spinning.+\. Regenerate: "
                    r"`python -m deepx\.tools\.perf_tables .+`\.", re.S)
NAMES = dict(bvlc_alexnet="AlexNet", densenet121="DenseNet121", inception_v1="Inception v1",
             inception_v2="Inception v2", resnet50="ResNet50", shufflenet="ShuffleNet", squeezenet="SqueezeNet",
             vgg19="VGG19", zfnet512="ZFNet512") | {"mobilenet-v2": "MobileNetV2 (trained)"}
PEER_MODELS = ("squeezenet", "mobilenet-v2")  # the peers table's default models


def commit() -> str:
    """The checkout's `git rev-parse --short HEAD` (the folder the command runs in: an installed deepx is not a
    checkout), or "uncommitted changes on HASH" when the tree differs from it."""
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True)  # noqa: E731
    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return f"uncommitted changes on {head.stdout.strip()}" if dirty else head.stdout.strip()


def sgemm_gflops(threads: int, n: int = 1024, seconds: float = 0.5) -> tuple:
    """(numpy's float32 n×n GEMM rate at `threads`, its BLAS in words) measured briefly."""
    from threadpoolctl import threadpool_info

    kernels.set_threads(threads)
    a, b = (np.random.default_rng(0).standard_normal((n, n), dtype=np.float32) for _ in range(2))
    t = bench_kernels.median_times([lambda: np.dot(a, b)], 5, seconds)[0]
    found = [i for i in threadpool_info() if i["user_api"] == "blas"]
    blas = next((i for i in found if "numpy" in i.get("filepath", "")), found[0] if found else {})
    about = " ".join(str(blas[k]) for k in ("internal_api", "version") if blas.get(k)) or "unknown BLAS"
    if blas.get("architecture"):
        about += f", {blas['architecture']} kernel"
    return 2.0 * n ** 3 / t / 1e9, about


def header(threads, command: str, against=()) -> str:
    """The block's first paragraph: when, where, how (and the peers' settings), and how to measure it again."""
    import onnxruntime

    w = bench_kernels.waiting()
    rates = [(n, *sgemm_gflops(n)) for n in threads]
    sgemm = " / ".join(f"{g:.0f}" for _, g, _ in rates)
    cores = os.cpu_count() or 1
    flags = ", ".join(cpu_flags()) or "no AVX/NEON flags listed"
    text = (f"Measured {datetime.date.today().isoformat()}, commit {commit()}, on {cpu_name()} ({flags}), "
            f"{min(max(threads) or cores, cores)} of {cores} cores used; numpy sgemm 1024³ {sgemm} GFLOP/s at "
            f"{' / '.join(map(str, threads))} threads ({rates[0][2]}); ONNX Runtime {onnxruntime.__version__} in "
            f"the same process with the same threads; {bench_kernels.waiting_line(w)}"
            + "".join(f"; {peers.ENGINES[p].about()}" for p in against) + f". Regenerate: `{command}`.")
    return textwrap.fill(text, 120, break_on_hyphens=False, break_long_words=False) + "\n\n"


def _both(rows, key, fmt) -> str:
    return " / ".join(format(r[key], fmt) for r in rows)


def models_table(rows: list, against=()) -> str:
    """`deepx compare`'s rows, one line per model and variant, thread counts side by side; each peer of `against`
    adds its ms, vs and rel diff (against ONNX Runtime's outputs) columns."""
    lines = ["| model | threads | deepx ms | ORT ms | vs ORT | rel diff | ORT ms, uncompressed model | "
             "vs ORT, uncompressed model | arena MB | all tensors MB |"
             + "".join(f" {label} ms | vs {label} | {label} rel diff |"
                       for label in (peers.ENGINES[p].label for p in against)),
             "|" + "---|" * (10 + 3 * len(against))]
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["variant"]), []).append(r)
    for (model, variant), rs in groups.items():
        name = NAMES.get(model, model) + ("" if variant == "uncompressed" else f", {variant.upper()}")
        rlc = "onnxruntime_uncompressed_ms" in rs[0]
        cells = [name, _both(rs, "threads", "d"), _both(rs, "deepx_ms", ".3g"), _both(rs, "onnxruntime_ms", ".3g"),
                 _both(rs, "speed_vs_onnxruntime", ".2f"), f"{max(compare.rel_diff(r) for r in rs):.0e}",
                 _both(rs, "onnxruntime_uncompressed_ms", ".3g") if rlc else "",
                 _both(rs, "speed_vs_onnxruntime_uncompressed", ".2f") if rlc else "",
                 f"{rs[0]['arena_bytes'] / 1e6:.1f}", f"{rs[0]['tensor_bytes'] / 1e6:.1f}"]
        for p in against:
            cells += [_both(rs, p + "_ms", ".3g"), _both(rs, "speed_vs_" + p, ".2f"),
                      f"{max(compare.rel_diff(r, '_' + p) for r in rs):.0e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def kernels_table(rows: list) -> str:
    """`deepx bench-kernels`' best backend per layer and op, then the summary of the same run."""
    best = {}
    for r in rows:
        if (r["op"], r["layer"]) not in best or r["ms"] < best[(r["op"], r["layer"])]["ms"]:
            best[(r["op"], r["layer"])] = r
    lines = ["| layer | op | rank | best backend | deepx ms | ORT ms | GFLOP/s | % numpy sgemm | speed vs ORT | "
             "low-rank efficiency | per multiplication |", "|" + "---|" * 11]
    for r in best.values():
        low = [f"{r['lowrank_efficiency']:.2f}", f"{r['lowrank_efficiency_per_mult']:.2f}"] if "rank" in r else ["", ""]
        cells = [r["layer"], r["op"], r.get("rank", ""), r["backend"], f"{r['ms']:.2f}", f"{r['onnxruntime_ms']:.2f}",
                 f"{r['gflops']:.0f}", f"{100 * r['sgemm_fraction']:.0f}%", f"{r['speed_vs_onnxruntime']:.2f}", *low]
        lines.append("| " + " | ".join(cells) + " |")
    summary = [f"- {k}: {'n/a' if v is None else f'{v:.2f}'}" for k, v in bench_kernels.summary(rows).items()]
    return "\n".join(lines) + "\n\nSummary lines of the same run:\n\n" + "\n".join(summary) + "\n"


def measure(args, only) -> dict:
    """Block name -> its new text (header + table) for the blocks asked for."""
    from tqdm import tqdm

    bar = lambda desc: lambda xs: tqdm(xs, desc=desc, file=sys.stderr, leave=False)  # noqa: E731
    command = "python -m deepx.tools.perf_tables " + " ".join(map(shlex.quote, args.argv))
    out = {}
    if "models" in only:
        rows = list(compare.rows(args.models, args.threads, args.seconds, args.rlc, bar("compare"), args.against))
        out["models"] = header(args.threads, command, args.against) + models_table(rows, args.against)
    if "peers" in only:
        against = args.against or list(peers.ENGINES)
        rows = list(compare.rows(args.models or PEER_MODELS, args.threads, args.seconds, None, bar("peers"), against))
        out["peers"] = header(args.threads, command, against) + models_table(rows, against)
    if "kernels" in only:
        n = max(args.threads)
        rows = bench_kernels.bench(threads=n, budget_s=args.kernel_seconds, progress=bar("bench-kernels"))
        out["kernels"] = header([n], command) + kernels_table(rows)
    return out


def render(text: str, blocks: dict) -> str:
    """text with the perf blocks named in `blocks` replaced; the others as they are."""
    return BLOCK.sub(lambda m: m.group(1) + blocks.get(m.group(2), m.group(3)) + m.group(4), text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m deepx.tools.perf_tables", description=__doc__.splitlines()[0])
    p.add_argument("readme", metavar="README.md")
    p.add_argument("--only", nargs="+", choices=["models", "kernels", "peers"], default=["models", "kernels"])
    p.add_argument("--models", nargs="+", choices=compare.names(),
                   help="default: all nine light models (peers: squeezenet mobilenet-v2)")
    p.add_argument("--against", nargs="+", choices=list(peers.ENGINES), default=[],
                   help="peers beside ONNX Runtime (the peers table: both unless given)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts of the models table")
    p.add_argument("--rlc", type=float, default=0.6, help="error budget of the RLC rows (AlexNet, VGG19)")
    p.add_argument("--seconds", type=float, default=3.0, help="timing budget per model and thread count")
    p.add_argument("--kernel-seconds", type=float, default=1.0, help="timing budget per kernel case and backend")
    args = p.parse_args(argv)
    args.argv = argv
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    missing = [name for name in args.only if f"<!-- perf:{name} -->" not in text]
    if missing:
        raise SystemExit(f"{args.readme}: no <!-- perf:{missing[0]} --> … <!-- end perf --> block")
    new = render(text, measure(args, args.only))
    with open(args.readme, "w", encoding="utf-8") as f:
        f.write(new)


if __name__ == "__main__":
    main()
