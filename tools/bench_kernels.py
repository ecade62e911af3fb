"""`deepx bench-kernels`: conv2d / dense (and low-rank variants) on real networks' layer shapes,
timed against numpy's sgemm and against ONNX Runtime running the same single-op model in-process."""
import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..errors import DeepxError
from ..kernels.common import conv_out_size


@dataclass(frozen=True)
class Layer:
    name: str
    op: str  # "conv2d" or "dense"
    shape: dict  # conv: c,k,h,w,r,s,stride,pad,groups; dense: m,k
    lowrank: bool = True  # also time the low-rank variants at rank 1/4


def _conv(name, c, k, hw, rs, stride=1, pad=0, groups=1, lowrank=True):
    return Layer(name, "conv2d", dict(c=c, k=k, h=hw, w=hw, r=rs, s=rs, stride=stride, pad=pad, groups=groups),
                 lowrank and groups == 1)


LAYERS = [
    _conv("alexnet.conv1", 3, 96, 227, 11, stride=4, lowrank=False),
    _conv("alexnet.conv2", 96, 256, 27, 5, pad=2),
    _conv("alexnet.conv3", 256, 384, 13, 3, pad=1),
    _conv("alexnet.conv4", 384, 384, 13, 3, pad=1),
    _conv("alexnet.conv5", 384, 256, 13, 3, pad=1),
    Layer("alexnet.fc6", "dense", dict(m=9216, k=4096)),
    Layer("alexnet.fc7", "dense", dict(m=4096, k=4096)),
    Layer("alexnet.fc8", "dense", dict(m=4096, k=1000)),
    _conv("vgg19.conv1_2", 64, 64, 224, 3, pad=1),
    _conv("vgg19.conv2_2", 128, 128, 112, 3, pad=1),
    _conv("vgg19.conv3_2", 256, 256, 56, 3, pad=1),
    _conv("vgg19.conv4_2", 512, 512, 28, 3, pad=1),
    _conv("vgg19.conv5_2", 512, 512, 14, 3, pad=1),
    _conv("resnet50.1x1_reduce", 256, 64, 56, 1, lowrank=False),
    _conv("resnet50.1x1_expand", 64, 256, 56, 1, lowrank=False),
    _conv("resnet50.1x1_reduce4", 1024, 256, 14, 1, lowrank=False),
    _conv("resnet50.3x3_2", 64, 64, 56, 3, pad=1),
    _conv("resnet50.3x3_4", 256, 256, 14, 3, pad=1),
    _conv("mobilenet.dw_112", 32, 32, 112, 3, pad=1, groups=32),
    _conv("mobilenet.dw_112_s2", 64, 64, 112, 3, stride=2, pad=1, groups=64),
    _conv("mobilenet.dw_14", 512, 512, 14, 3, pad=1, groups=512),
]


@dataclass
class Case:
    """One op on one layer: the tensors, the attrs, its FLOPs and the equivalent GEMM (m, n, k, count)."""

    layer: str
    op: str
    tensors: tuple
    attrs: dict
    flops: float
    gemm: tuple
    rank: str = ""
    stages: tuple = ()  # conv stages (c, k, h, w, kernel, stride, pad, groups); () for dense

    @property
    def shape(self):
        return " ".join("x".join(map(str, t.shape)) for t in self.tensors if t is not None)


def _randn(rng, *shape, fan_in=None):
    a = rng.standard_normal(shape, dtype=np.float32)
    return a * np.float32(np.sqrt(2.0 / fan_in)) if fan_in else a


def cases(layer: Layer, batch: int, rng) -> list:
    """The full layer and, when asked, its low-rank variants at 1/4 of the full rank."""
    d = layer.shape
    if layer.op == "dense":
        m, k = d["m"], d["k"]
        x, w, b = _randn(rng, batch, m), _randn(rng, k, m, fan_in=m), _randn(rng, k)
        out = [Case(layer.name, "dense", (x, w, b), {}, 2.0 * batch * m * k, (batch, k, m, 1))]
        if layer.lowrank:
            r = min(m, k) // 4
            v, u = _randn(rng, r, m, fan_in=m), _randn(rng, k, r, fan_in=r)
            out.append(Case(layer.name, "dense_lowrank", (x, v, u, b), {}, 2.0 * batch * r * (m + k),
                            (batch, k, m, 1), rank=f"r={r}"))
        return out
    c, k, g, R, S = d["c"], d["k"], d["groups"], d["r"], d["s"]
    attrs = dict(stride=d["stride"], pads=d["pad"], groups=g)
    x, w, b = _randn(rng, batch, c, d["h"], d["w"]), _randn(rng, k, c // g, R, S, fan_in=c // g * R * S), _randn(rng, k)
    _, _, shape = kernels.check("conv2d", (x, w, b), attrs)
    pq = shape[2] * shape[3]
    full = 2.0 * batch * k * (c // g) * R * S * pq
    h, w_, s, p = d["h"], d["w"], d["stride"], d["pad"]
    out = [Case(layer.name, "conv2d", (x, w, b), attrs, full, (k // g, pq, c // g * R * S, batch * g),
                stages=((c, k, h, w_, R, s, p, g),))]
    if layer.lowrank:
        la = dict(stride=s, pads=p)
        r = k // 4
        w1, w2 = _randn(rng, r, c, R, S, fan_in=c * R * S), _randn(rng, k, r, 1, 1, fan_in=r)
        out.append(Case(layer.name, "conv2d_lowrank", (x, w1, w2, b), la, 2.0 * batch * pq * r * (c * R * S + k),
                        out[0].gemm, rank=f"r={r}", stages=((c, r, h, w_, R, s, p, 1), (r, k, *shape[2:], 1, 1, 0, 1))))
        r1, r2 = c // 4, k // 4
        w_in, w_core = _randn(rng, r1, c, 1, 1, fan_in=c), _randn(rng, r2, r1, R, S, fan_in=r1 * R * S)
        w_out = _randn(rng, k, r2, 1, 1, fan_in=r2)
        flops = 2.0 * batch * (h * w_ * r1 * c + pq * r2 * r1 * R * S + pq * k * r2)
        out.append(Case(layer.name, "conv2d_tucker2", (x, w_in, w_core, w_out, b), la, flops, out[0].gemm,
                        rank=f"r1={r1},r2={r2}", stages=((c, r1, h, w_, 1, 1, 0, 1), (r1, r2, h, w_, R, s, p, 1),
                                                         (r2, k, *shape[2:], 1, 1, 0, 1))))
    return out


def multiplies(case: Case, backend: str) -> float:
    """Multiplications the backend's kernels do for the case: stages that its conv module's `winograd_products`
    runs as Winograd (the cython backend's: F(2x2,3x3), 4 per output where the nominal count has 9, or F(4x4,3x3),
    2.25) do those per channel pair; every other stage its nominal count (FLOPs / 2)."""
    if not case.stages:
        return case.flops / 2
    products = getattr(sys.modules[kernels.lookup("conv2d", backend).__module__], "winograd_products", None)
    total = 0
    for c, k, h, w, ks, stride, pad, groups in case.stages:
        args = (c, h, w, k, ks, ks, groups, (stride,) * 2, (pad,) * 4, (1, 1))
        wino = products(*args) if products else 0
        pq = conv_out_size(h, ks, stride, pad, pad, 1) * conv_out_size(w, ks, stride, pad, pad, 1)
        total += k * c * wino if wino else k * (c // groups) * ks * ks * pq
    return total * case.tensors[0].shape[0]


def onnx_model(case: Case):
    """The same computation as one small ONNX model (weights as initializers), input 'x'."""
    from onnx import TensorProto, helper, numpy_helper

    x, *weights = case.tensors
    names = [f"w{i}" for i in range(len(weights))]
    inits = [numpy_helper.from_array(t, n) for t, n in zip(weights, names) if t is not None]
    a = case.attrs
    if case.op == "conv2d" or case.op.startswith("conv2d_"):
        stride = [a["stride"]] * 2
        pads = [a["pads"]] * 4
        one = dict(strides=[1, 1], pads=[0, 0, 0, 0])
        if case.op == "conv2d":
            nodes = [helper.make_node("Conv", ["x", "w0", "w1"], ["y"], strides=stride, pads=pads, group=a["groups"])]
        elif case.op == "conv2d_lowrank":
            nodes = [helper.make_node("Conv", ["x", "w0"], ["t"], strides=stride, pads=pads),
                     helper.make_node("Conv", ["t", "w1", "w2"], ["y"], **one)]
        else:
            nodes = [helper.make_node("Conv", ["x", "w0"], ["t0"], **one),
                     helper.make_node("Conv", ["t0", "w1"], ["t1"], strides=stride, pads=pads),
                     helper.make_node("Conv", ["t1", "w2", "w3"], ["y"], **one)]
    elif case.op == "dense":
        nodes = [helper.make_node("Gemm", ["x", "w0", "w1"], ["y"], transB=1)]
    else:
        nodes = [helper.make_node("Gemm", ["x", "w0"], ["t"], transB=1),
                 helper.make_node("Gemm", ["t", "w1", "w2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, case.op, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _spin_count(text: str):
    """libgomp's GOMP_SPINCOUNT as a number of spins (None: unset or unreadable; "infinite" is inf)."""
    text = text.strip().lower()
    if text in ("infinite", "infinity"):
        return float("inf")
    scale = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}.get(text[-1:], 1)
    try:
        return float(text.rstrip("kmgt")) * scale
    except ValueError:
        return None


def waiting() -> dict:
    """How idle worker threads wait on each side. deepx's from the environment libgomp and OpenBLAS read when
    they load (`import deepx` sets them unless the user did); ONNX Runtime's chosen to match: it spins between
    the ops of a run when deepx's OpenMP workers spin, and stops when the run returns
    (`session.force_spinning_stop`), as deepx's spin ends ~0.5 ms after its last parallel region."""
    env = {k: os.environ.get(k, "") for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT")}
    count = _spin_count(env["GOMP_SPINCOUNT"])
    spins = count > 0 if count is not None else env["OMP_WAIT_POLICY"].upper() != "PASSIVE"
    return dict(deepx=dict(env, spins=spins),
                onnxruntime={"session.intra_op.allow_spinning": "1" if spins else "0",
                             "session.force_spinning_stop": "1"})


def waiting_line(w: dict) -> str:
    """One line of both sides' waiting settings, for the commands' headers."""
    d = " ".join(f"{k}={v or 'unset'}" for k, v in w["deepx"].items() if k != "spins")
    o = ", ".join(f"{k}={v}" for k, v in w["onnxruntime"].items())
    return (f"waiting: deepx {d} ({'spins, then sleeps' if w['deepx']['spins'] else 'sleeps at once'}); "
            f"ONNX Runtime {o}")


def ort_inference_session(model, threads: int):
    """ONNX Runtime's CPU session on `model` (a path or serialized bytes) as deepx's benchmarks run it: the
    same thread count, and idle threads waiting as deepx's do (`waiting`)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    for key, value in waiting()["onnxruntime"].items():
        so.add_session_config_entry(key, value)
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def ort_session(case: Case, threads: int):
    sess = ort_inference_session(onnx_model(case).SerializeToString(), threads)
    return lambda: sess.run(None, {"x": case.tensors[0]})[0]


def median_times(fns, min_runs: int, budget_s: float, block: int = 4):
    """Median seconds of each fn, run in turns of `block` calls until each has min_runs kept and
    budget_s is spent. The first call of each turn is dropped: it pays for the other library's
    threads winding down (ONNX Runtime's spin, OpenBLAS's), which a run on its own never sees."""
    times = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < min_runs or (time.perf_counter() - start < budget_s and len(times[0]) < 200):
        for fn, ts in zip(fns, times):
            for i in range(block):
                t0 = time.perf_counter()
                fn()
                if i:
                    ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def bench(threads: int = 0, batch: int = 1, layers=None, backends=None, min_runs: int = 5,
          budget_s: float = 1.0, progress=None) -> list:
    """Rows of {op, layer, shape, backend, ms, gflops, sgemm_fraction, onnxruntime_ms, speed_vs_onnxruntime, …}."""
    threads = kernels.set_threads(threads)
    backends = backends or [b for b in kernels.BACKENDS if not (kernels.info(b).reference or kernels.info(b).device)
                            and kernels.backend_usable(b)[0]]
    if not backends:
        raise DeepxError("bench-kernels: no compiled CPU backend is usable here (numba, cython)")
    rng = np.random.default_rng(0)
    todo = [c for layer in LAYERS if not layers or any(s in layer.name for s in layers)
            for c in cases(layer, batch, rng)]
    if not todo:
        raise DeepxError(f"bench-kernels: no layer matches {', '.join(layers)}")
    rows, full_flops, full_ms, full_mults = [], {}, {}, {}
    for case in (progress(todo) if progress else todo):
        m, n, k, count = case.gemm
        a, bm = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
        sgemm_gflops = 2.0 * m * n * k / median_times([lambda: np.dot(a, bm)], min_runs, budget_s / 4)[0] / 1e9
        ort = ort_session(case, threads)
        expected = ort()
        if not case.rank:
            full_flops[case.layer] = case.flops
        for backend in backends:
            tensors, canon, shape = kernels.check(case.op, case.tensors, case.attrs)
            # bound to its constant weights as the executor binds it (ONNX Runtime's session
            # prepacks its weights too)
            fn, out = kernels.prepare(case.op, backend, tensors[1:]), np.empty(shape, np.float32)

            def run(fn=fn, tensors=tensors, canon=canon, out=out):
                fn(*tensors, **canon, out=out)

            run()  # compile / warm up
            ours, theirs = median_times([run, ort], min_runs, budget_s)
            gflops = case.flops / ours / 1e9
            row = dict(op=case.op, layer=case.layer, shape=case.shape, backend=backend, threads=threads,
                       ms=ours * 1e3, gflops=gflops, sgemm_gflops=sgemm_gflops, sgemm_fraction=gflops / sgemm_gflops,
                       onnxruntime_ms=theirs * 1e3, speed_vs_onnxruntime=theirs / ours,
                       max_abs_diff=float(np.abs(out - expected).max()), waiting=waiting())
            if case.rank:
                speedup = full_ms[(case.layer, backend)] / row["ms"]
                reduction = full_flops[case.layer] / case.flops
                mult_reduction = full_mults[(case.layer, backend)] / multiplies(case, backend)
                row.update(rank=case.rank, speedup_vs_full=speedup, flop_reduction=reduction,
                           lowrank_efficiency=speedup / reduction, mult_reduction=mult_reduction,
                           lowrank_efficiency_per_mult=speedup / mult_reduction)
            else:
                full_ms[(case.layer, backend)] = row["ms"]
                full_mults[(case.layer, backend)] = multiplies(case, backend)
            rows.append(row)
    return rows


def summary(rows: list) -> dict:
    """The issue's figures: best-backend median speed vs ORT, VGG 3×3 sgemm fraction, low-rank efficiency."""
    best = {}
    for r in rows:
        key = (r["op"], r["layer"])
        if key not in best or r["ms"] < best[key]["ms"]:
            best[key] = r
    full = [r for (op, _), r in best.items() if op in ("conv2d", "dense")]
    vgg = [r["sgemm_fraction"] for (op, layer), r in best.items() if op == "conv2d" and layer.startswith("vgg19")]
    low = [r["lowrank_efficiency"] for r in best.values() if "lowrank_efficiency" in r]
    per_mult = [r["lowrank_efficiency_per_mult"] for r in best.values() if "lowrank_efficiency" in r]
    med = statistics.median
    return dict(
        median_speed_vs_onnxruntime=med(r["speed_vs_onnxruntime"] for r in full) if full else None,
        min_vgg19_sgemm_fraction=min(vgg) if vgg else None,
        median_lowrank_efficiency=med(low) if low else None,
        min_lowrank_efficiency=min(low) if low else None,
        median_lowrank_efficiency_per_mult=med(per_mult) if per_mult else None,
        min_lowrank_efficiency_per_mult=min(per_mult) if per_mult else None,
    )
