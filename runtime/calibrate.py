"""`deepx calibrate`: measure the machine it runs on and write a board profile that `boards.load` reads.

CPU: peak fp32 GFLOP/s is a measured sgemm (numpy), bandwidth a large elementwise add, launch the
cost of a one-element kernel call through the registry, and each op type's efficiency is fitted so
that the cost model reproduces micro-benchmarks of representative layer shapes run through the
registry on every usable CPU backend (runtime/microbench.py). An OpenCL GPU that pyopencl finds
becomes a `gpu` processor, measured the same way through the `opencl` backend. An OpenCL CPU device
(PoCL) computes on the host's own cores, so it is not a processor of its own (the planner would
believe it runs beside the CPU): it becomes the `opencl` backend of the `cpu` processor. Watts need a
meter (`meter=SPEC`); without one they are estimates, marked so in the file.
"""
import datetime
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import kernels
from ..boards import cost, profile
from ..boards.profile import HOST, OP_TYPES, BoardError, Processor
from . import microbench as M
from .machine import cpu_clock_ghz, cpu_name, is_gpu, opencl_devices, unified_memory

QUICK_SECONDS = 3.0
ESTIMATE = "estimate: no meter at calibration (deepx calibrate --meter SPEC measures it)"
# watts written without a meter: rough figures for one busy core, a GPU, a board at rest, a hand-over
EST_CORE_W, EST_GPU_W, EST_IDLE_W, EST_TRANSFER_W = 1.0, 5.0, 3.0, 0.5


@dataclass
class Target:
    """A processor to measure: its id and kind, its backends, and the OpenCL device of its opencl backend."""

    id: str
    kind: str
    backends: list
    device_spec: str = ""
    device: object = None


def targets(backends=None, opencl=True) -> tuple:
    """(processors to measure, notes on the OpenCL devices): the CPU with its usable CPU backends (and the
    opencl backend on an OpenCL CPU device), one `gpu` processor per OpenCL GPU device."""
    usable = [b for b in kernels.BACKENDS if not kernels.info(b).reference and kernels.backend_usable(b)[0]]
    chosen = [b for b in usable if not backends or b in backends]
    cpu = Target("cpu", "cpu", [b for b in chosen if not kernels.info(b).device])
    if not opencl:
        return [cpu], ["OpenCL devices: not looked for (quick calibration)"]
    devices, why = opencl_devices()
    if not devices:
        return [cpu], [f"OpenCL devices: none ({why})"]
    device_backends = [b for b in chosen if kernels.info(b).device]
    out, notes = [cpu], []
    for spec, dev in devices:
        gpu = is_gpu(dev)
        label = f"OpenCL device {spec} ({dev.name.strip()}, {'GPU' if gpu else 'CPU'})"
        if not device_backends:
            missing = [kernels.backend_usable(b)[1] for b in kernels.BACKENDS if kernels.info(b).device]
            notes.append(f"{label}: not measured: {'; '.join(missing)}")
        elif gpu:
            out.append(Target("gpu" if len(out) == 1 else f"gpu{len(out)}", "gpu", device_backends, spec, dev))
            notes.append(f"{label}: processor {out[-1].id!r}")
        elif cpu.device_spec:
            notes.append(f"{label}: not measured (the cpu processor's opencl backend runs on {cpu.device_spec})")
        else:
            cpu.backends += device_backends
            cpu.device_spec, cpu.device = spec, dev
            notes.append(f"{label}: the host's own cores, so the opencl backend of processor 'cpu'")
    return out, notes


@dataclass
class Result:
    """A measured profile: sections of {key: (value, note)} (see `render`), and the micro-benchmark rows."""

    board: dict
    transfer: dict
    processors: list
    header: list  # comment lines
    rows: list = field(default_factory=list)  # per case and backend: name, op_type, ..., ms, model_ms
    seconds: float = 0.0


def calibrate(seconds: float = 20.0, threads: int = 0, backends=None, opencl: bool = True, meter: str = "",
              meter_seconds: float = 3.0, progress=None) -> Result:
    """Measure this machine into a Result, in about `seconds` (plus compilation and meter time): 15% for
    sgemm, 8% for bandwidth, 7% for launch and device figures, 70% for the micro-benchmarks."""
    start = time.perf_counter()
    threads = kernels.set_threads(threads)
    procs, notes = targets(backends, opencl)
    if not procs[0].backends:
        raise BoardError(f"calibrate: none of the backends {', '.join(backends or kernels.BACKENDS)} runs on this "
                         f"CPU (usable: {', '.join(b for b in kernels.BACKENDS if kernels.backend_usable(b)[0])})")
    rng = np.random.default_rng(0)
    cases = [M.make_case(*c, rng) for c in M.CASES]
    runs = sum(len(p.backends) for p in procs)
    gpus = sum(p.kind == "gpu" for p in procs)
    bar = progress(total=2 + runs * (1 + len(cases)) + 3 * gpus + bool(meter)) if progress else None

    def step(label):
        if bar:
            bar.set_description(label)
            bar.update(1)

    step("sgemm")
    peak, n = M.sgemm_gflops(0.15 * seconds)
    step("bandwidth")
    bandwidth, how = M.host_bandwidth_gbps([b for b in procs[0].backends if not kernels.info(b).device],
                                           0.08 * seconds)
    budget = dict(small=0.07 * seconds / (runs + 3 * gpus), case=0.7 * seconds / runs / len(cases))
    figures, rows = {}, []
    for p in procs:
        figures[p.id] = dict(peak=peak, bandwidth=bandwidth)
        rows += _measure(p, figures[p.id], cases, budget, step)
    watts = None
    if meter:
        step("meter")
        heavy, loads = max(cases, key=lambda c: c.work.flops), {}
        for p in procs:
            best = _best_backend(figures[p.id], p.backends)[0]
            M.use_device(best, p.device_spec)
            loads[p.id] = M.caller(heavy, best)
        watts = M.measure_watts(meter, loads, meter_seconds)
    if bar:
        bar.close()
    return _result(procs, figures, rows, notes, threads, n, how, watts, meter, time.perf_counter() - start)


def _measure(p: Target, f: dict, cases: list, budget: dict, step) -> list:
    """Fill `f` with processor p's figures (for a GPU: peak, bandwidth and transfers; launch and efficiency
    per backend); returns the micro-benchmark rows."""
    if p.kind == "gpu":
        M.use_device(p.backends[0], p.device_spec)
        step(f"{p.id} peak")
        f["peak"] = M.device_gemm_gflops(p.backends[0], budget["small"])
        step(f"{p.id} bandwidth")
        f["bandwidth"], f["bandwidth_how"] = M.device_bandwidth_gbps(p.device, budget["small"])
        step(f"{p.id} transfer")
        f["transfer"] = M.host_to_device(p.device, budget["small"])
    tiny = M.make_case(*M.TINY, np.random.default_rng(0))
    f["launch"], f["eff"], f["err"], times = {}, {}, {}, {}
    for b in p.backends:
        M.use_device(b, p.device_spec)
        step(f"{p.id} {b} launch")
        f["launch"][b] = 1e6 * M.time_s(M.caller(tiny, b), budget["small"], min_runs=20)
        times[b] = []
        for c in cases:
            step(f"{p.id} {b} {c.name}")
            times[b].append(M.time_s(M.caller(c, b), budget["case"]))
    if p.kind == "gpu":  # no GEMM benchmark is a device's true peak: none of its kernels may beat it
        f["peak"] = max([f["peak"]] + [c.work.flops / s / 1e9 for ts in times.values() for c, s in zip(cases, ts)])
    f["launch_backend"] = min(f["launch"], key=f["launch"].get)
    proto = Processor(p.id, p.kind, 1, 1.0, f["peak"], f["bandwidth"], f["launch"][f["launch_backend"]], 1.0, {}, {},
                      1.0)
    rows = []
    for b, ts in times.items():
        for t in OP_TYPES:
            mine = [(c.work, s) for c, s in zip(cases, ts) if c.work.op_type == t]
            if mine:
                f["eff"][(t, b)], f["err"][(t, b)] = M.fit_efficiency(proto, *zip(*mine))
        for c, s in zip(cases, ts):
            q = replace(proto, efficiency={"default": f["eff"][(c.work.op_type, b)]}, backends={b: 1.0})
            rows.append(dict(name=c.name, op_type=c.work.op_type, processor=p.id, backend=b, flops=c.work.flops,
                             bytes=c.work.bytes, ms=1e3 * s, model_ms=cost.work_ms(q, b, c.work)))
    return rows


def _types(f) -> list:
    return sorted({t for t, _ in f["eff"]})


def _best_backend(f, backends) -> tuple:
    """(the backend with the highest geometric-mean efficiency over op types, {backend: that mean})."""
    score = {b: math.exp(np.mean([math.log(f["eff"][(t, b)]) for t in _types(f)])) for b in backends}
    return max(score, key=score.get), score


def _r(x: float) -> float:
    return float(f"{x:.3g}")


def _result(procs, figures, rows, notes, threads, n, how, watts, meter, took) -> Result:
    idle, active = watts or (None, {})
    measured = f"measured with meter {meter}"
    gpus = [p for p in procs if p.kind == "gpu"]
    unified = all(unified_memory(p.device) for p in gpus)
    board = dict(
        name=(HOST, ""),
        about=(f"this machine: {cpu_name()}, {threads} threads" + "".join(f" + {p.device.name.strip()}" for p in gpus),
               ""),
        memory_mb=(round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 ** 20), "total RAM"),
        shared_memory=(unified, "OpenCL reports host-unified memory" if gpus and unified else
                       "a GPU with its own memory" if gpus else "one processor: nothing to share"),
        idle_w=(_r(idle), f"{measured}: idle baseline") if watts else (EST_IDLE_W, ESTIMATE))
    if gpus:
        latency_us, gbps = figures[gpus[0].id]["transfer"]
        transfer = dict(latency_us=(_r(latency_us), "measured: 4-byte blocking write to the OpenCL device"),
                        gbps=(_r(gbps), "measured: 64 MB blocking write to the OpenCL device"),
                        active_w=(EST_TRANSFER_W, ESTIMATE if not watts else "estimate: not measured separately"))
    else:
        transfer = dict(latency_us=(0, "no second processor: no hand-overs"),
                        gbps=(_r(figures["cpu"]["bandwidth"]), "no second processor: the memory bandwidth"),
                        active_w=(EST_TRANSFER_W, "no second processor: unused"))
    out = []
    for p in procs:
        if watts:
            active_w = (_r(max(active[p.id], 0.01)), f"{measured}: mean power under load minus idle (floor 0.01)")
        else:
            active_w = (EST_CORE_W * threads if p.kind == "cpu" else EST_GPU_W, ESTIMATE)
        if p.kind == "cpu":
            how_measured = (f"measured sgemm: numpy float32 {n}x{n}x{n}, {threads} threads (not a theoretical peak)",
                            f"measured: {how}, median call")
        else:
            how_measured = (f"measured: the fastest of a dense 1024x1024x1024 and the micro-benchmarks through the "
                            f"{p.backends[0]} backend", f"measured: {figures[p.id]['bandwidth_how']}")
        section = _processor(p, figures[p.id], [r for r in rows if r["processor"] == p.id], threads, active_w,
                             how_measured)
        if not unified and p.kind == "gpu":
            section["memory_mb"] = (round(p.device.global_mem_size / 2 ** 20), "OpenCL global memory size")
        out.append(section)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [f"Measured on {stamp} in {took:.1f} s on {cpu_name()} ({platform.system()} {platform.release()}, "
              f"Python {platform.python_version()}, numpy {np.__version__}).",
              "Timings are medians of repeated calls; other load on the machine while it ran makes them slower.",
              *notes]
    return Result(board, transfer, out, header, rows, took)


def _processor(p: Target, f: dict, rows: list, threads: int, active_w: tuple, notes: tuple) -> dict:
    """One [[processors]] table: {key: (value, note)}, plus "_notes" (comment lines above it); `notes` say
    how its peak and its bandwidth were measured."""
    types = _types(f)
    best, score = _best_backend(f, p.backends)
    eff = {t: _r(f["eff"][(t, best)]) for t in types}
    eff["default"] = min(eff.values())
    counts = {t: sum(r["op_type"] == t and r["backend"] == best for r in rows) for t in types}
    section = dict(id=(p.id, ""), kind=(p.kind, ""))
    if p.kind == "cpu":
        clock, where = cpu_clock_ghz()
        section.update(cores=(threads, f"threads used (os.sched_getaffinity allows {len(os.sched_getaffinity(0))})"),
                       clock_ghz=(_r(clock), where))
    else:
        section.update(cores=(int(p.device.max_compute_units), f"OpenCL compute units of {p.device.name.strip()}"),
                       clock_ghz=(_r(p.device.max_clock_frequency / 1e3), "OpenCL max clock frequency"))
    launches = ", ".join(f"{b} {us:.1f} us" for b, us in f["launch"].items())
    section.update(
        peak_gflops=(_r(f["peak"]), notes[0]),
        bandwidth_gbps=(_r(f["bandwidth"]), notes[1]),
        launch_us=(_r(f["launch"][f["launch_backend"]]),
                   f"measured: a 1-element activation through the registry ({launches}; the fastest)"),
        active_w=active_w,
        backends=({b: min(1.0, _r(score[b] / score[best])) for b in sorted(score, key=score.get, reverse=True)},
                  "measured: geometric mean over op types of each backend's efficiency / the best's"),
        efficiency=(eff, f"measured: fitted to {sum(counts.values())} micro-benchmarks on {best} "
                         "(default: the lowest)"))
    if p.device_spec:
        section["opencl_device"] = (p.device_spec, "the OpenCL device of this processor's opencl backend")
    errs = ", ".join(f"{t} {100 * f['err'][(t, best)]:.0f}%" for t in types)
    section["_notes"] = [f"{p.id}: micro-benchmarks per op type: " + ", ".join(f"{t} {k}" for t, k in counts.items()),
                         f"{p.id}: median |model - measured| / measured per op type on {best}: {errs}"]
    return section


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    return repr(v)


def _lines(section: dict) -> list:
    out = []
    for key, (value, note) in ((k, v) for k, v in section.items() if k != "_notes"):
        line = f"{key} = {_toml(value)}"
        if not note:
            out.append(line)
        elif len(line) > 40:
            out += [f"# {key}: {note}", line]
        else:
            out.append(f"{line:25} # {note}")
    return out


def render(r: Result, command: str, name: str = HOST, extra_header=()) -> str:
    """The profile as TOML, each figure with a comment saying how it was obtained."""
    lines = ["# deepx board profile of this machine, measured (boards/calibrate.py).", *extra_header,
             f"# {r.header[0]}", f"# Command: {command}", *[f"# {h}" for h in r.header[1:]]]
    lines += _lines(dict(r.board, name=(name, ""))) + ["", "[transfer]"] + _lines(r.transfer)
    for p in r.processors:
        lines += ["", *[f"# {n}" for n in p["_notes"]], "[[processors]]"] + _lines(p)
    return "\n".join(lines) + "\n"


def write(text: str, path: str):
    """Write atomically (a temporary file renamed into place), making the folder if needed; with no
    text, only check that it can be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise BoardError(f"{path}: cannot write: {folder} is not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibrate-", suffix=".toml", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        if text:
            os.replace(tmp, path)
        else:
            os.remove(tmp)
    except OSError as e:
        raise BoardError(f"{path}: cannot write: {e.strerror}") from None


def load_board(name: str):
    """boards.load(name), after a quick calibration of this machine when `name` is the `host` board and it
    has no profile yet (`quick_host` says so on stderr)."""
    name = name.removeprefix("emulated:")
    if name == HOST and not os.path.exists(profile.host_path()):
        return profile.load(quick_host(profile.host_path()))
    return profile.load(name)


def quick_host(path: str) -> str:
    """The `host` profile when there is none: a short CPU-only calibration of the runtime's default
    backend, saved to `path` (to a temporary file for this run when `path` cannot be written), with one
    line on stderr saying so; returns where it went. It sets the kernels' threads to every core."""
    backend = kernels.host_backend()
    r = calibrate(QUICK_SECONDS, backends=[backend], opencl=False)
    text = render(r, "(automatic, on first use of board 'host')", HOST,
                  [f"# QUICK calibration: CPU only, {backend} backend, {QUICK_SECONDS:g} s budget, made because no "
                   "host profile existed; `deepx calibrate` measures every backend and OpenCL device."])
    saved = f"saved it to {path}"
    try:
        write(text, path)
    except BoardError as e:
        fd, path = tempfile.mkstemp(prefix="deepx-host-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        saved = f"could not save it ({e}), so it serves this run only"
    print(f"deepx: no host profile: measured a quick CPU-only one ({backend}, {r.seconds:.1f} s) and {saved}; "
          "run `deepx calibrate` for a full one (every backend, OpenCL devices)", file=sys.stderr)
    return path
