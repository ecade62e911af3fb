"""The measurements behind `deepx calibrate`: micro-benchmarks of representative layer shapes run
through the kernels registry as the runtime runs them, the fit of the cost model's efficiency to
them, and the base figures (sgemm, memory bandwidth, OpenCL transfers, watts from a meter).
"""
import os
import statistics
import time
from dataclasses import dataclass, replace

import numpy as np

from .. import kernels
from ..boards import cost
from ..boards.profile import MAX_EFFICIENCY, Processor
from ..models.execute import call_node
from ..models.graph import Graph, Node
from . import blocks as B

EFFICIENCY_GRID = np.geomspace(1e-4, MAX_EFFICIENCY, 800)

# (op, tensors [(shape, constant?)], attrs), batch 1; depthwise convs are conv2d with groups = channels
CASES = [
    ("conv2d", [((1, 3, 64, 64), 0), ((32, 3, 3, 3), 1), ((32,), 1)], dict(pads=1, act="relu")),
    ("conv2d", [((1, 32, 32, 32), 0), ((64, 32, 3, 3), 1), ((64,), 1)], dict(pads=1, act="relu")),
    ("conv2d", [((1, 64, 28, 28), 0), ((128, 64, 3, 3), 1), ((128,), 1)], dict(stride=2, pads=1)),
    ("conv2d", [((1, 128, 28, 28), 0), ((128, 128, 3, 3), 1), ((128,), 1)], dict(pads=1)),
    ("conv2d", [((1, 32, 24, 24), 0), ((64, 32, 5, 5), 1), ((64,), 1)], dict(pads=2)),
    ("conv2d", [((1, 128, 28, 28), 0), ((128, 128, 1, 1), 1), ((128,), 1)], {}),
    ("conv2d_lowrank", [((1, 64, 28, 28), 0), ((16, 64, 3, 3), 1), ((64, 16, 1, 1), 1), ((64,), 1)], dict(pads=1)),
    ("conv2d_tucker2", [((1, 64, 28, 28), 0), ((16, 64, 1, 1), 1), ((16, 16, 3, 3), 1), ((64, 16, 1, 1), 1),
                        ((64,), 1)], dict(pads=1)),
    ("conv2d", [((1, 32, 56, 56), 0), ((32, 1, 3, 3), 1), ((32,), 1)], dict(pads=1, groups=32, act="relu")),
    ("conv2d", [((1, 128, 56, 56), 0), ((128, 1, 3, 3), 1), ((128,), 1)], dict(stride=2, pads=1, groups=128)),
    ("conv2d", [((1, 512, 14, 14), 0), ((512, 1, 3, 3), 1), ((512,), 1)], dict(pads=1, groups=512)),
    ("dense", [((1, 1024), 0), ((1024, 1024), 1), ((1024,), 1)], dict(act="relu")),
    ("dense", [((1, 4096), 0), ((1024, 4096), 1), ((1024,), 1)], {}),
    ("dense", [((1, 256), 0), ((10, 256), 1), ((10,), 1)], {}),
    ("dense_lowrank", [((1, 2048), 0), ((128, 2048), 1), ((2048, 128), 1), ((2048,), 1)], {}),
    ("maxpool2d", [((1, 64, 56, 56), 0)], dict(kernel=3, stride=2, pads=1)),
    ("maxpool2d", [((1, 128, 28, 28), 0)], dict(kernel=2, stride=2)),
    ("avgpool2d", [((1, 32, 32, 32), 0)], dict(kernel=2, stride=2)),
    ("global_avgpool", [((1, 256, 14, 14), 0)], {}),
    ("lrn", [((1, 96, 27, 27), 0)], dict(size=5)),
    ("lrn", [((1, 256, 13, 13), 0)], dict(size=5)),
    ("batchnorm", [((1, 64, 56, 56), 0)] + [((64,), 1)] * 4, {}),
    ("softmax", [((1, 1000), 0)], {}),
    ("add", [((1, 64, 56, 56), 0), ((1, 64, 56, 56), 0)], dict(act="relu")),
    ("mul", [((1, 64, 28, 28), 0), ((1, 64, 1, 1), 1)], {}),
    ("activation", [((1, 128, 28, 28), 0)], dict(act="relu")),
    ("concat", [((1, 64, 28, 28), 0), ((1, 64, 28, 28), 0)], dict(axis=1)),
    ("transpose", [((1, 64, 28, 28), 0)], dict(perm=(0, 2, 3, 1))),
    ("pad", [((1, 32, 56, 56), 0)], dict(pads=1)),
]
TINY = ("activation", [((1, 1, 1, 1), 0)], dict(act="relu"))  # the launch-overhead probe
GEMM = ("dense", [((1024, 1024), 0), ((1024, 1024), 1), ((1024,), 1)], {})  # a device's peak


@dataclass
class Case:
    """One micro-benchmark: a one-node graph, its input values, and its cost-model work item."""

    name: str
    graph: object
    args: list
    work: cost.Work


def make_case(op, tensors, attrs, rng) -> Case:
    values = [rng.standard_normal(shape, dtype=np.float32) for shape, _ in tensors]
    if op == "batchnorm":
        values[4] = np.abs(values[4]) + 0.5  # variances
    names = [f"t{i}" for i in range(len(tensors))]
    canon = kernels.check(op, [values] if op == "concat" else values, attrs)[1]
    node = Node(op, op, names, ["y"], canon)
    g = Graph(op, inputs=[n for n, (_, c) in zip(names, tensors) if not c], outputs=["y"], nodes=[node],
              shapes={n: v.shape for n, v in zip(names, values)},
              constants={n: v for n, v, (_, c) in zip(names, values, tensors) if c})
    g.infer_shapes()
    (work,) = B.works(g, B.make_blocks(g)[0])
    shape = " ".join("x".join(map(str, s)) for s, _ in tensors[:2])
    return Case(f"{op} {shape}", g, values, work)


def use_device(backend: str, device_spec: str):
    """Point a device backend at the OpenCL device `device_spec` ("platform:index")."""
    if kernels.info(backend).device:
        kernels.backend(backend).use_device(device_spec)


def caller(case: Case, backend: str):
    """A function making one call of the case's node on `backend` as the runtime makes it; on an OpenCL
    device the activations stay on the device and the call waits for the device to finish."""
    node = case.graph.nodes[0]
    if not kernels.info(backend).device:
        return lambda: call_node(node, case.args, backend)
    device = kernels.backend(backend)
    args = [a if n in case.graph.constants else device.to_device(a) for n, a in zip(node.inputs, case.args)]

    def run():
        call_node(node, args, backend)
        device.finish()

    return run


def time_s(fn, budget_s: float, min_runs: int = 3, max_runs: int = 500, stat=statistics.median) -> float:
    """Seconds of `fn()`: the median (or `stat`) of repeated calls (at least min_runs, then until budget_s
    is spent), after one call that compiles and warms caches."""
    fn()
    times, end = [], time.perf_counter() + budget_s
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() < end):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return stat(times)


def fit_efficiency(p: Processor, works: list, seconds: list) -> tuple:
    """(efficiency, median |model/measured - 1|): the efficiency whose roofline times (cost.work_ms on
    `p`) best match the measured ones, least squares in log time; the smallest such when memory-bound
    cases leave it undetermined."""
    def model_ms(eff):
        q = replace(p, efficiency={"default": float(eff)}, backends={"fit": 1.0})
        return np.array([cost.work_ms(q, "fit", w) for w in works])

    measured_ms = 1e3 * np.asarray(seconds)
    err = np.array([np.sum((np.log(model_ms(e)) - np.log(measured_ms)) ** 2) for e in EFFICIENCY_GRID])
    eff = float(EFFICIENCY_GRID[np.flatnonzero(err <= err.min() + 1e-12)[0]])
    return eff, float(np.median(np.abs(model_ms(eff) / measured_ms - 1)))


def sgemm_gflops(budget_s: float) -> tuple:
    """(GFLOP/s, n): numpy's float32 n x n x n matmul, its fastest call, the best n of 512, 1024, 2048
    (grown while it gains)."""
    rng = np.random.default_rng(0)
    best, best_n = 0.0, 0
    for n in (512, 1024, 2048):
        a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
        t0 = time.perf_counter()
        gflops = 2.0 * n ** 3 / time_s(lambda: np.dot(a, b), budget_s / 3, min_runs=2, stat=min) / 1e9
        if gflops < 1.05 * best or time.perf_counter() - t0 > budget_s / 2:
            return max(best, gflops), best_n if best > gflops else n
        best, best_n = gflops, n
    return best, best_n


def host_bandwidth_gbps(backends: list, budget_s: float) -> tuple:
    """(GB/s, how): the fastest of numpy's copy, and of each CPU backend's add (two reads, one write) and
    dense at batch 1 (reads its weights once), the median call of each, over arrays well beyond the last
    level cache (256 MB, or 1/32 of the RAM when that is less)."""
    n = min(256 << 20, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 32) // 4 // 4096 * 4096
    x, y, z = (np.full((1, 1, n // 4096, 4096), 1.0, np.float32) for _ in range(3))
    w, v = x.reshape(n // 4096, 4096), np.ones((1, 4096), np.float32)
    runs = {"numpy copy": (lambda: np.copyto(z, x), 8.0 * n)}
    for b in backends:
        add, act = kernels.lookup("add", b), kernels.check("add", (x, y), {})[1]["act"]
        dense = kernels.lookup("dense", b)
        runs[f"{b} add"] = (lambda add=add, act=act: add(x, y, act=act, out=z), 12.0 * n)
        runs[f"{b} dense 1x4096 by {n // 4096}x4096"] = (lambda dense=dense, act=act: dense(v, w, None, act=act),
                                                         4.0 * n)
    rates = {how: nbytes / time_s(fn, budget_s / len(runs), min_runs=2) / 1e9 for how, (fn, nbytes) in runs.items()}
    how = max(rates, key=rates.get)
    return rates[how], f"{how} ({4 * n >> 20} MB arrays)"


def device_gemm_gflops(backend: str, budget_s: float) -> float:
    """A device's peak: deepx's best GEMM there (dense 1024x1024 by 1024x1024, activations on the device)."""
    case = make_case(*GEMM, np.random.default_rng(0))
    return case.work.flops / time_s(caller(case, backend), budget_s, min_runs=2) / 1e9


def _queue(dev):
    import pyopencl as cl

    ctx = cl.Context([dev])
    return ctx, cl.CommandQueue(ctx)


def device_bandwidth_gbps(dev, budget_s: float) -> tuple:
    """(GB/s, how): a device-to-device buffer copy (read + write) of 256 MB, or less where the device
    allows less, its median call."""
    import pyopencl as cl

    ctx, q = _queue(dev)
    nbytes = min(256 << 20, dev.max_mem_alloc_size, dev.global_mem_size // 8)
    a, b = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, nbytes), cl.Buffer(ctx, cl.mem_flags.READ_WRITE, nbytes)
    seconds = time_s(lambda: cl.enqueue_copy(q, b, a).wait(), budget_s, min_runs=2)
    return 2.0 * nbytes / seconds / 1e9, f"{nbytes >> 20} MB device-to-device copy, median call"


def host_to_device(dev, budget_s: float) -> tuple:
    """(latency us, GB/s) of blocking writes to the device: 4 bytes, and 64 MB."""
    import pyopencl as cl

    ctx, q = _queue(dev)
    small, big = np.zeros(1, np.float32), np.zeros(16 << 20, np.float32)
    sb, bb = (cl.Buffer(ctx, cl.mem_flags.READ_WRITE, a.nbytes) for a in (small, big))
    latency = time_s(lambda: cl.enqueue_copy(q, sb, small, is_blocking=True), budget_s / 2, min_runs=5)
    seconds = time_s(lambda: cl.enqueue_copy(q, bb, big, is_blocking=True), budget_s / 2, min_runs=2)
    return 1e6 * latency, big.nbytes / max(seconds - latency, 1e-9) / 1e9


def measure_watts(meter_spec: str, loads: dict, seconds: float) -> tuple:
    """(idle W, {processor id: W above idle}) from a meter: its idle baseline, then each processor's
    load repeated through a window of at least `seconds` and 20 meter samples."""
    from .power.measure import MIN_SAMPLES
    from .power.sampler import Sampler
    from .power.spec import open_meter

    meter = open_meter(meter_spec)
    active = {}
    try:
        with Sampler(meter) as sampler:
            span = max(seconds, MIN_SAMPLES * meter.interval_s)
            idle = sampler.measure_baseline(span)
            for pid, load in loads.items():
                with sampler.window(pid):
                    end = time.monotonic() + span
                    while time.monotonic() < end:
                        load()
                active[pid] = sampler.report(pid).mean_w - idle
    finally:
        meter.close()
    return idle, active
