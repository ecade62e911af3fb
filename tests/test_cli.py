"""`deepx bench-kernels` end to end, and one-line errors with exit code 2."""
import json
import subprocess
import sys

import pytest

from deepx import kernels


def deepx(*args):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.skipif(not any(kernels.backend_usable(b)[0] for b in ("numba", "cython")),
                    reason="no compiled CPU backend")
def test_bench_kernels_json():
    p = deepx("bench-kernels", "--threads", "1", "--layers", "alexnet.fc8", "alexnet.conv5", "--seconds", "0.02",
              "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert {r["op"] for r in rows} == {"dense", "dense_lowrank", "conv2d", "conv2d_lowrank", "conv2d_tucker2"}
    for r in rows:
        assert {"op", "shape", "backend", "gflops", "speed_vs_onnxruntime"} <= set(r)
        assert r["gflops"] > 0 and r["speed_vs_onnxruntime"] > 0 and r["threads"] == 1
        assert r["max_abs_diff"] < 1e-3  # the kernel computed what ONNX Runtime computed
    low = [r for r in rows if "rank" in r]
    assert low and all(r["flop_reduction"] > 3 for r in low)
    # conv5 is a 3x3 conv: Winograd (cython) does 4/9 of its nominal multiplications, its 1x1 stages all of theirs
    for r in low:
        wino = r["backend"] == "cython" and r["op"].startswith("conv2d")
        assert (r["mult_reduction"] < r["flop_reduction"]) == wino


def test_user_mistake_is_one_line_and_exit_2():
    p = deepx("bench-kernels", "--layers", "no-such-layer")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == "deepx: error: bench-kernels: no layer matches no-such-layer"
    assert "Traceback" not in p.stderr
