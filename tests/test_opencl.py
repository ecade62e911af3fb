"""The OpenCL backend beyond the per-op test of test_kernels: device-resident calls into an arena, both
conv paths, the GEMM dense path, small work-groups, programs and constants cached, device choice and
build errors, a zoo model end to end, and the CLI."""
import gc
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepx import KernelError, kernels
from deepx.kernels.registry import OPS

import kernel_cases
from test_kernels import assert_close

USABLE, WHY = kernels.backend_usable("opencl")
pytestmark = pytest.mark.skipif(not USABLE, reason=WHY)
if USABLE:
    import pyopencl.array as cla

    from deepx.kernels import opencl
    from deepx.kernels.opencl import conv as ocl_conv
    from deepx.kernels.opencl import dense as ocl_dense
    from deepx.kernels.opencl import device as ocl_device

few = settings(derandomize=True, max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _activations(op):
    """Indices of the tensors an executor would hold on the device (the rest are graph constants)."""
    return (0, 1) if op in ("add", "mul") else (0,)


@pytest.mark.parametrize("op", [op for op in OPS if kernels.supports(op, "opencl")])
@few
@given(data=st.data())
def test_device_resident_in_an_arena(op, data):
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    ref = kernels.run(op, "ref", *tensors, **attrs)
    q = opencl.queue()
    host = [t for i in _activations(op) for t in (tensors[i] if op == "concat" else [tensors[i]])]
    size = sum(t.size for t in host) + ref.size + 8 * (len(host) + 2)
    arena = opencl.empty((size,))
    arena.fill(np.float32(7.0))
    views, at = [], 3  # odd offsets: nothing is aligned
    for t in host:
        views.append(cla.Array(q, t.shape, np.float32, data=arena.base_data, offset=at * 4))
        views[-1].set(t)
        at += t.size + 5
    args = list(tensors)
    if op == "concat":
        args[0] = views
    else:
        for i, v in zip(_activations(op), views):
            args[i] = v

    y = kernels.run(op, "opencl", *args, **attrs)  # device in, device out
    assert isinstance(y, cla.Array)
    assert_close(opencl.to_host(y), ref)

    out = cla.Array(q, ref.shape, np.float32, data=arena.base_data, offset=at * 4)
    out.fill(np.float32(np.nan))
    assert kernels.run(op, "opencl", *args, out=out, **attrs) is out
    opencl.finish()
    assert_close(out.get(), ref)
    whole = arena.get()
    assert (whole[at - 5:at] == 7.0).all() and (whole[at + ref.size:] == 7.0).all()  # nothing written around out
    for v, t in zip(views, host):
        np.testing.assert_array_equal(v.get(), t)  # inputs untouched


def test_result_follows_out_then_inputs():
    x, w = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    host_out, dev_out = np.zeros((2, 4), np.float32), opencl.empty((2, 4))
    assert kernels.run("dense", "opencl", opencl.to_device(x), w, out=host_out) is host_out
    assert kernels.run("dense", "opencl", x, w, out=dev_out) is dev_out
    assert (host_out == 3).all() and (opencl.to_host(dev_out) == 3).all()
    assert isinstance(kernels.run("add", "opencl", x, opencl.to_device(x)), cla.Array)  # either operand
    assert isinstance(kernels.run("add", "opencl", x, x), np.ndarray)
    with pytest.raises(KernelError, match="takes numpy arrays"):
        kernels.run("dense", "cython", opencl.to_device(x), w)


@pytest.mark.parametrize("direct", [True, False])
@few
@given(data=st.data())
def test_both_conv_paths(direct, data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ocl_conv, "use_direct", lambda *shape: direct)
        for op in ("conv2d", "conv2d_lowrank", "conv2d_tucker2"):
            tensors, attrs = data.draw(getattr(kernel_cases, op)())
            assert_close(kernels.run(op, "opencl", *tensors, **attrs), kernels.run(op, "ref", *tensors, **attrs))


@few
@given(data=st.data())
def test_dense_as_gemm(data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ocl_dense, "GEMV_MAX_N", 0)  # every batch through conv.cl's tiled GEMM
        for op in ("dense", "dense_lowrank"):
            tensors, attrs = data.draw(getattr(kernel_cases, op)())
            assert_close(kernels.run(op, "opencl", *tensors, **attrs), kernels.run(op, "ref", *tensors, **attrs))


def test_small_work_groups(monkeypatch):
    """A device allowing 12 work-items per group (VC4CL, a Raspberry Pi's GPU): 2x2 GEMM tiles, groups of 8."""
    small = ocl_device.Device(opencl.current().dev)
    small._sizes(12)
    assert (small.L, small.group, small.lanes) == (2, 8, 8)
    monkeypatch.setattr(ocl_device, "_current", small)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 9, 7), dtype=np.float32)
    cases = [("conv2d", (x, rng.standard_normal((11, 5, 3, 3), dtype=np.float32), None), dict(pads=1)),  # GEMM
             ("conv2d", (x, rng.standard_normal((5, 1, 3, 3), dtype=np.float32), None), dict(groups=5)),  # direct
             ("dense", (x.reshape(2, -1)[:, :105], rng.standard_normal((11, 105), dtype=np.float32)), {}),  # GEMV
             ("dense", (x.reshape(10, 63), rng.standard_normal((11, 63), dtype=np.float32)), {})]  # GEMM
    for op, args, attrs in cases:
        assert_close(kernels.run(op, "opencl", *args, **attrs), kernels.run(op, "ref", *args, **attrs))


def test_programs_and_constants_are_cached():
    dev = opencl.current()
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 8), dtype=np.float32), rng.standard_normal((4, 8), dtype=np.float32)
    kernels.run("dense", "opencl", x, w)
    prog, held = dev.program("dense"), len(dev.consts)
    for _ in range(3):
        kernels.run("dense", "opencl", x, w)
    assert dev.program("dense") is prog and len(dev.consts) == held  # built once, w uploaded once
    assert id(w) in dev.consts
    key = id(w)
    del w
    gc.collect()
    assert key not in dev.consts  # freed with the host array: its id cannot map to stale weights


def test_device_choice():
    dev = opencl.current()
    assert opencl.use_device("") and opencl.current() is dev  # the same device keeps its context
    assert opencl.context() is dev.ctx and opencl.queue() is dev.queue
    assert dev.dev.name.strip() in opencl.use_device(dev.dev.name.strip().upper())  # any case, a substring
    assert opencl.current() is dev
    for spec in ("no-such-platform", ":99"):
        with pytest.raises(KernelError, match=r"platforms seen: .*set DEEPX_OPENCL_DEVICE") as err:
            opencl.use_device(spec)
        assert "\n" not in str(err.value) and repr(spec) in str(err.value)
    assert opencl.current() is dev


def test_no_device(monkeypatch):
    monkeypatch.setattr(ocl_device.cl, "get_platforms", lambda: [])
    with pytest.raises(KernelError, match=r"no OpenCL device found \(platforms seen: none\).*CPU plan"):
        opencl.find_device("")


def test_build_failure_shows_the_log_on_one_line():
    ctx = opencl.current().ctx
    with pytest.raises(KernelError) as err:
        opencl.build(ctx, "__kernel void f(__global float *y) {\n    y[0] = undefined_name;\n}\n", "broken.cl")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("OpenCL build of broken.cl failed on ")
    assert "undefined_name" in msg  # the compiler's own words


def test_zoo_model_end_to_end():
    from deepx.models import zoo
    from deepx.models.execute import run_graph
    from deepx.models.onnx_import import load_onnx

    x = np.random.default_rng(2).random((3, 1, 32, 32), dtype=np.float32)
    g = load_onnx(zoo.path("digits-cnn"), example=x)
    ours, ref = run_graph(g, {"x": x}, "opencl")["logits"], run_graph(g, {"x": x}, "ref")["logits"]
    assert_close(ours, ref)


def deepx(*args, env=None):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_cli_bad_device_is_one_line_and_exit_2(tmp_path):
    import os

    from deepx.models import zoo

    p = deepx("run", zoo.path("digits-dnn"), "--backend", "opencl", "--input-shape", "x=1,64",
              env=dict(os.environ, DEEPX_OPENCL_DEVICE="no-such-platform"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("deepx: error: ") and "no OpenCL device matches 'no-such-platform'" in last


def test_cli_bench_kernels_opencl():
    import json

    p = deepx("bench-kernels", "--backends", "opencl", "--layers", "alexnet.fc8", "--seconds", "0.02", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert {r["backend"] for r in rows} == {"opencl"} and {r["op"] for r in rows} == {"dense", "dense_lowrank"}
    assert all(r["max_abs_diff"] < 1e-3 and r["gflops"] > 0 for r in rows)
