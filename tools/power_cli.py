"""`deepx-power record | measure | plot | emulate`: power traces from a meter. A user mistake prints one
line, `deepx-power: error: ...`, and exits with 2."""
import argparse
import os
import signal
import subprocess
import sys
import time

from .. import __version__, argtypes
from ..errors import DeepxError
from ..runtime.power import KINDS, Sampler, TraceWriter, WindowReport, open_meter, read_trace


def _open_output(path: str):
    try:
        return open(path, "w", newline="")
    except OSError as e:
        raise DeepxError(f"{path}: cannot write: {e.strerror}") from None


def _summary(r: WindowReport) -> str:
    if not r.samples:
        return f"no valid sample in {r.duration_s:.3f} s: the meter gave nothing (see the gaps)"
    energy = f"energy {r.energy_j:.4f} J"
    if r.baseline_w is not None:
        energy += f" (net {r.net_energy_j:.4f} J above the {r.baseline_w:.4f} W baseline)"
    gaps = ", ".join(f"at {a:.2f} s for {n:.2f} s" for a, n in r.gaps) or "none"
    if len(r.gaps) > 5:
        a, n = max(r.gaps, key=lambda g: g[1])
        gaps = f"{len(r.gaps)} ({sum(g[1] for g in r.gaps):.2f} s in all, the longest at {a:.2f} s for {n:.2f} s)"
    return (f"{energy}, mean {r.mean_w:.4f} W (min {r.min_w:.4f}, max {r.max_w:.4f}), duration {r.duration_s:.3f} s, "
            f"{r.samples} samples, gaps: {gaps}")


def _record(args) -> int:
    from tqdm import tqdm

    meter = open_meter(args.meter)
    with _open_output(args.output) as f:
        writer = TraceWriter(f, time.monotonic(), meter.gives_vi, with_window=False)
        sampler = Sampler(meter, on_sample=lambda s, window: writer.write(s))
        # the window opens before the first read and closes after the last: the report counts every row written
        sampler.start_window("record")
        sampler.start()
        bar = tqdm(total=args.duration, unit="s", desc="record", file=sys.stderr, mininterval=0.25, disable=None,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.0f} s{postfix}" if args.duration
                   else "{desc}: {n:.1f} s{postfix}")
        start = time.monotonic()
        try:
            while not args.duration or time.monotonic() - start < args.duration:
                time.sleep(min(0.25, max(0.0, start + args.duration - time.monotonic())) if args.duration else 0.25)
                last = sampler.samples[-1:] or None
                bar.set_postfix_str(f"{last[0].power_w:.3f} W, {writer.rows} samples" if last else "waiting")
                bar.update(min(time.monotonic() - start, args.duration or float("inf")) - bar.n)
        except KeyboardInterrupt:
            pass
        finally:
            bar.close()
            sampler.stop()
            report = sampler.stop_window("record")
            meter.close()
    print(f"deepx-power: {args.output}: {_summary(report)}; meter {_stats(meter.stats)}{_replayed(meter)}",
          file=sys.stderr)
    for why in sampler.lost:
        print(f"deepx-power: meter lost: {why}", file=sys.stderr)
    return 0


def _replayed(meter) -> str:
    return "; emulated meter: the board's modelled power replayed, not measured" if meter.replays_model else ""


def _stats(stats: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in stats.items())


def _measure(args) -> int:
    if not args.command:
        raise DeepxError("measure: give the command after --, e.g. deepx-power measure --meter SPEC -- sleep 1")
    meter = open_meter(args.meter)
    f = _open_output(args.output) if args.output else None
    writer = TraceWriter(f, time.monotonic(), meter.gives_vi, with_window=True) if f else None
    try:
        with Sampler(meter, on_sample=writer.write if writer else None) as sampler:
            if args.baseline:
                sampler.measure_baseline(args.baseline)
            sampler.start_window("command")
            try:
                code = subprocess.call(args.command)
            except OSError as e:
                raise DeepxError(f"measure: cannot run {args.command[0]}: {e.strerror}") from None
            finally:
                report = sampler.stop_window("command")
    finally:
        meter.close()
        if f:
            f.close()
    print(f"deepx-power: {' '.join(args.command)}: {_summary(report)}{_replayed(meter)}", file=sys.stderr)
    for why in sampler.lost:
        print(f"deepx-power: meter lost: {why}", file=sys.stderr)
    return code


MODELLED_NOTE = ("Emulated board: the meter reads the board's modelled power, one inference replayed after another. "
                 "Sampled every 0.1 s, inferences far shorter than that alias into plateaus and dips;\n"
                 "the dashed line is the model's mean power over an inference (the column modelled_w of the trace).")


def _plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = read_trace(args.trace)
    if not trace.time_s:
        raise DeepxError(f"{args.trace}: no samples to plot")
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    ax.plot(trace.time_s, trace.power_w, lw=1, color="black")
    colors, labelled = {}, set()
    start = 0
    for i in range(1, len(trace.time_s) + 1):  # shade each run of rows with the same window name
        if i < len(trace.time_s) and trace.window[i] == trace.window[start]:
            continue
        name = trace.window[start]
        if name:
            color = colors.setdefault(name, f"C{len(colors)}")
            ax.axvspan(trace.time_s[start], trace.time_s[min(i, len(trace.time_s) - 1)], color=color, alpha=0.25,
                       label=None if name in labelled else name)
            labelled.add(name)
        start = i
    if trace.modelled_w is not None:
        ax.plot(trace.time_s, trace.modelled_w, lw=1.5, ls="--", color="darkred",
                label="modelled mean power per inference")
        labelled.add("modelled")
        fig.supxlabel(MODELLED_NOTE, fontsize=8, x=0.01, ha="left")
    if labelled:
        fig.legend(loc="outside upper right", ncols=min(len(labelled), 3))  # rows of 3: long names fit
    ax.set_xlabel("time (s)")
    ax.set_ylabel("power (W)")
    ax.set_title(os.path.basename(args.trace))
    ax.grid(alpha=0.3)
    try:
        fig.savefig(args.output, dpi=120)
    except OSError as e:
        raise DeepxError(f"{args.output}: cannot write: {e.strerror}") from None
    print(args.output)
    return 0


def _board_source(spec: str, model: str | None, plan_path: str | None):
    if not spec.startswith("emulated:"):
        raise DeepxError(f"--board {spec}: expected emulated:NAME (a board of `deepx boards`)")
    from ..runtime.emulate import board_power_source

    return board_power_source(spec.removeprefix("emulated:"), model, plan_path)


def _emulate(args) -> int:
    from .meter_emulators import Faults, Steps, constant, make

    if (args.onnx or args.plan) and not (args.board and args.onnx and args.plan):
        raise DeepxError("--model and --plan go together, with --board emulated:NAME")
    if args.board:
        source = _board_source(args.board, args.onnx, args.plan)
    else:
        source = Steps.from_csv(args.trace) if args.trace else constant(args.watts)
    emulator = make(args.model, source, faults=Faults(args.corrupt, args.drop, args.seed), tcp_port=args.tcp)
    url = emulator.start()
    print(url, flush=True)
    print(f"deepx-power: emulating {args.model} on {url} (use --meter {args.model}:{url}); Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        emulator.unplug()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepx-power", description="Record, measure and plot power from a meter.")
    p.add_argument("--version", action="version", version=f"deepx-power {__version__}")
    sub = p.add_subparsers(dest="command_name", required=True)
    meter_help = f"meter spec KIND[:PORT][?options], KIND one of {', '.join(KINDS)}"

    r = sub.add_parser("record", help="record a power trace to CSV")
    r.add_argument("--meter", required=True, metavar="SPEC", help=meter_help)
    r.add_argument("--duration", type=argtypes.seconds, default=0.0, metavar="S",
                   help="seconds (default 0: until Ctrl-C)")
    r.add_argument("-o", "--output", required=True, metavar="TRACE.csv", help="where the trace goes")
    r.set_defaults(func=_record)

    m = sub.add_parser("measure", help="energy of a command: deepx-power measure --meter SPEC -- CMD ...")
    m.add_argument("--meter", required=True, metavar="SPEC", help=meter_help)
    m.add_argument("--baseline", type=argtypes.seconds, default=0.0, metavar="S",
                   help="idle seconds measured first; the report subtracts their mean power")
    m.add_argument("-o", "--output", metavar="TRACE.csv", help="also write the trace, with a window column")
    m.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command measured")
    m.set_defaults(func=_measure)

    pl = sub.add_parser("plot", help="plot a trace CSV to PNG, marked windows shaded")
    pl.add_argument("trace", metavar="TRACE.csv", help="a trace written by record, or measure -o")
    pl.add_argument("-o", "--output", required=True, metavar="TRACE.png", help="where the plot goes")
    pl.set_defaults(func=_plot)

    e = sub.add_parser("emulate", help="serve an emulated meter on a pseudo-terminal or TCP port")
    e.add_argument("model", choices=["um24c", "um25c", "um34c", "ina", "scpi"],
                   help="the meter emulated, speaking its wire format")
    src = e.add_mutually_exclusive_group()
    src.add_argument("--trace", metavar="FILE", help="CSV of seconds,watts steps (piecewise constant)")
    src.add_argument("--watts", type=argtypes.non_negative, default=2.5, help="constant power (default 2.5)")
    src.add_argument("--board", metavar="emulated:BOARD", help="an emulated board's power: idle, or with --model "
                                                              "and --plan one planned inference after another")
    e.add_argument("--model", dest="onnx", metavar="MODEL.onnx", help="with --board: the model the plan was made for")
    e.add_argument("--plan", metavar="PLAN.json", help="with --board: the plan to run on it")
    e.add_argument("--tcp", type=argtypes.port, metavar="PORT", help="serve on 127.0.0.1:PORT instead of a pty "
                                                                     "(0: any free port)")
    e.add_argument("--corrupt", type=argtypes.fraction, default=0.0, metavar="P",
                   help="corrupt each byte with probability P")
    e.add_argument("--drop", type=argtypes.fraction, default=0.0, metavar="P", help="drop each byte with probability P")
    e.add_argument("--seed", type=int, default=0, help="seed of the faults (default 0)")
    e.set_defaults(func=_emulate)
    return p


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None):
    # Ctrl-C and SIGTERM end the commands that run until stopped, also when started with SIGINT
    # ignored (as background jobs are, where Python then installs no handler of its own)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parser().parse_args(argv)
    if getattr(args, "command", None) and args.command[0] == "--":
        args.command = args.command[1:]
    try:
        code = args.func(args)
    except DeepxError as e:
        print(f"deepx-power: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(code)


if __name__ == "__main__":
    main()
