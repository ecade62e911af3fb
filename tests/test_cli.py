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


@pytest.mark.parametrize("command", [["run"], ["bench"], ["plan", "--board", "jetson-nano", "-o", "p.json"],
                                     ["pack", "--board", "jetson-nano", "-o", "m.dxb"], ["compress", "-o", "c.onnx"]])
def test_an_empty_model_file_is_refused_in_one_line(tmp_path, command):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    p = deepx(command[0], str(empty), *command[1:])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"deepx: error: {empty}: an empty file (0 bytes), not an ONNX model"]


@pytest.mark.parametrize("nodes,outputs,message", [(False, True, "no nodes"), (True, False, "no outputs")])
def test_a_graph_without_nodes_or_outputs_is_refused(tmp_path, nodes, outputs, message):
    from onnx import TensorProto, helper, save

    from deepx.models.graph import ModelError
    from deepx.models.load import load_model

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])] if nodes else [], "g", [x],
                              [y] if outputs else [])
    save(helper.make_model(graph), tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=f"m.onnx: not a model: its graph has {message}$"):
        load_model(tmp_path / "m.onnx")


def test_version():
    from deepx import __version__

    p = deepx("--version")
    assert p.returncode == 0 and p.stdout == f"deepx {__version__}\n"
