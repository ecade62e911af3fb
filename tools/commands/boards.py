"""`deepx boards` and `deepx calibrate`: the board profiles, and this machine measured into one."""
import json
import sys

from ... import argtypes


def add(sub):
    """The boards and calibrate commands."""
    bd = sub.add_parser("boards", help="the board profiles: list them, or show one",
                        description="`deepx boards` lists the board profiles: name, processors' peak GFLOP/s, idle "
                                    "power, the board; `deepx boards show NAME` prints one in full.")
    bsub = bd.add_subparsers(dest="boards_command", title="commands (none: list the boards)")
    show = bsub.add_parser("show", help="print one board's profile")
    show.add_argument("name", help="a board name, or a profile FILE.toml")
    bd.set_defaults(func=_boards)

    ca = sub.add_parser("calibrate", help="measure this machine into a board profile (the `host` board)")
    ca.add_argument("-o", "--output", metavar="FILE.toml", help="where to write it (default: the host profile, "
                                                                 "$DEEPX_HOST_PROFILE or ~/.config/deepx/host.toml)")
    ca.add_argument("--seconds", type=argtypes.positive, default=20.0,
                    help="measuring time, compilation aside (default 20)")
    ca.add_argument("--threads", type=argtypes.threads, default=0,
                    help="threads for every library (default 0: all cores)")
    ca.add_argument("--meter", metavar="SPEC", help="measure idle and active watts with this meter "
                                                    "(e.g. um25c:/dev/rfcomm0, jetson; see deepx-power)")
    ca.add_argument("--json", action="store_true", help="print the profile and the micro-benchmarks as JSON")
    ca.set_defaults(func=_calibrate)


def _boards(args):
    from ... import boards

    if args.boards_command != "show":
        _list_boards()
        return
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


def _list_boards():
    """One line per board: name, processors' peak, idle power, about; each column as wide as its longest entry."""
    import os

    from ... import boards

    host = boards.profile.host_path()
    rows = [] if os.path.exists(host) else [["host", f"this machine, not calibrated yet: `deepx calibrate` writes "
                                             f"{host} (deepx run / plan measure a quick CPU-only one on first use)"]]
    for name in ([boards.profile.HOST] if os.path.exists(host) else []) + boards.names():
        b = boards.load(name)
        rows.append([name, " + ".join(f"{p.id} {p.peak_gflops:g} GFLOP/s" for p in b.processors),
                     f"idle {b.idle_w:g} W", b.about])
    widths = [max(len(r[i]) for r in rows if len(r) > i + 1) for i in range(3)]
    for r in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths)), r[-1]]))


def _calibrate(args):
    import os
    import tomllib

    from tqdm import tqdm

    from ... import boards
    from ...runtime import calibrate

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
