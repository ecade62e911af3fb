"""`deepx` command lines: bench-kernels end to end, one-line errors with exit code 2, usage errors, help texts."""
import argparse
import json
import pickle
import re
import subprocess
import sys
import zipfile

import numpy as np
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
    # conv5 is a 3x3 conv on 13x13: a 3x3 stage the cython backend runs as Winograd (its winograd_products: with
    # AVX-512, the full conv's 384 -> 256, and a factor's of 128 input channels or more) does 16 multiplications per
    # 2x2 tile and channel pair against im2col's 36, a 1x1 stage all of its nominal ones: the multiplications fall less
    # than the FLOPs where the full conv runs as Winograd, more where only the factor does
    for r in low:
        wino = wino_full = False
        if r["op"].startswith("conv2d"):
            shapes = r["shape"].split()
            c_in, k_out = int(shapes[0].split("x")[1]), int(shapes[-1].split("x")[0])
            k, c = next(map(int, s.split("x")[:2]) for s in shapes[1:] if s.endswith("x3x3"))
            module = sys.modules[kernels.lookup("conv2d", r["backend"]).__module__]
            products = getattr(module, "winograd_products", None)
            geometry = (3, 3, 1, (1, 1), (1, 1, 1, 1), (1, 1))  # window, groups, stride, pads, dilation
            wino = bool(products) and products(c, 13, 13, k, *geometry) > 0
            wino_full = bool(products) and products(c_in, 13, 13, k_out, *geometry) > 0
        assert (r["mult_reduction"] < r["flop_reduction"]) == wino_full
        assert (r["mult_reduction"] > r["flop_reduction"]) == (wino and not wino_full)


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


def relu_model(path, nodes=True, outputs=True):
    """A model y = relu(x), x of shape (1, 4), at path; without its node or its output if asked."""
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])] if nodes else [], "g", [x],
                              [y] if outputs else [])
    save(helper.make_model(graph), path)
    return str(path)


@pytest.mark.parametrize("nodes,outputs,message", [(False, True, "no nodes"), (True, False, "no outputs")])
def test_a_graph_without_nodes_or_outputs_is_refused(tmp_path, nodes, outputs, message):
    from deepx.models.graph import ModelError
    from deepx.models.load import load_model

    with pytest.raises(ModelError, match=f"m.onnx: not a model: its graph has {message}$"):
        load_model(relu_model(tmp_path / "m.onnx", nodes, outputs))


def test_version():
    from deepx import __version__

    p = deepx("--version")
    assert p.returncode == 0 and p.stdout == f"deepx {__version__}\n"


@pytest.mark.parametrize("argv,message", [
    (["run", "m.onnx", "--repeat", "-3"], "argument --repeat: expected a whole number >= 0, got '-3'"),
    (["run", "m.onnx", "--warmup", "1.5"], "argument --warmup: expected a whole number >= 0, got '1.5'"),
    (["run", "m.onnx", "--threads", "-1"], "argument --threads: expected a thread count >= 0 (0: all cores)"),
    (["run", "m.onnx", "--baseline", "nan"], "argument --baseline: expected seconds >= 0, got 'nan'"),
    (["bench", "m.onnx", "--seconds", "0"], "argument --seconds: expected a number > 0, got '0'"),
    (["compare", "--threads", "1", "-2"], "argument --threads: expected a thread count >= 0"),
    (["compress", "digits-dnn", "-o", "c.onnx", "--error-budget", "5"],
     "argument --error-budget: expected an error budget from 0 to 1 (a summed relative output error), got '5'"),
    (["compress", "digits-dnn", "-o", "c.onnx", "--max-accuracy-loss", "-0.1"], "expected a fraction from 0 to 1"),
    (["compress", "digits-dnn", "-o", "c.onnx", "--samples", "0"], "argument --samples: expected a whole number >= 1"),
    (["plan", "m.onnx", "--board", "b", "-o", "p.json", "--deadline-ms", "-5"], "argument --deadline-ms: expected a"),
    (["plan", "m.onnx", "--board", "b", "-o", "p.json", "--memory-mb", "0"], "argument --memory-mb: expected a"),
    (["bench-kernels", "--batch", "0"], "argument --batch: expected a whole number >= 1, got '0'"),
    (["calibrate", "--seconds", "-1"], "argument --seconds: expected a number > 0"),
    (["demo", "--window", "inf"], "argument --window: expected a number > 0, got 'inf'"),
    (["demo", "--max-accuracy-loss", "1.5"], "argument --max-accuracy-loss: expected a fraction from 0 to 1"),
    (["flash", "m.dxb", "--board", "b", "--to", "d", "--timeout", "0"], "argument --timeout: expected a number > 0"),
])
def test_numbers_out_of_range_are_usage_errors(argv, message, capsys):
    from deepx.tools.cli import parser

    with pytest.raises(SystemExit) as e:
        parser().parse_args(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and last.startswith(f"deepx {argv[0]}: error: ") and message in last, last


def test_a_large_error_budget_warns(capsys):
    from deepx import argtypes

    assert argtypes.error_budget("0.3") == 0.3 and capsys.readouterr().err == ""
    assert argtypes.error_budget("0.5") == 0.5
    assert capsys.readouterr().err.startswith("deepx: warning: error budget 0.5 is large (above 0.3)")


def test_threads_help_says_zero_is_all_cores():
    p = deepx("run", "--help")
    assert p.returncode == 0 and "(default 0: all cores)" in " ".join(p.stdout.split())


def test_an_input_shape_for_no_input_names_the_inputs(tmp_path):
    p = deepx("run", relu_model(tmp_path / "m.onnx"), "--input-shape", "y=1,4")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"deepx: error: {tmp_path / 'm.onnx'}: no input named y (inputs: x)"]


def _object_array(path):
    """An object array's .npy as numpy writes one: the header, then a pickle of the objects."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        f.write(pickle.dumps([{"a": 1}]))


def _truncated(path):
    np.save(path, np.zeros((1, 64), np.float32))
    path.write_bytes(path.read_bytes()[:150])


def _bad_member(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", b"garbage")


@pytest.mark.parametrize("name,make,message", [
    ("g.npy", lambda p: p.write_bytes(bytes(range(256))), "not a valid .npy or .npz file (it starts with neither"),
    ("g.npz", lambda p: p.write_text("hello\n"), "not a valid .npy or .npz file (it starts with neither"),
    ("e.npy", lambda p: p.write_bytes(b""), "not a valid .npy or .npz file (empty)"),
    ("t.npy", _truncated, "not a valid .npy or .npz file (ValueError: Failed to read all data"),
    ("o.npy", _object_array, "holds Python objects, not arrays of numbers (deepx never unpickles)"),
    ("m.npz", _bad_member, "member 'x' is not a valid .npy array"),
])
def test_bad_input_files_are_named_never_unpickled(tmp_path, name, make, message):
    from deepx.models.graph import ModelError
    from deepx.models.io import read_inputs

    make(tmp_path / name)
    with pytest.raises(ModelError) as e:
        read_inputs(tmp_path / name)
    assert str(e.value).startswith(f"{tmp_path / name}: {message}") and "pickled" not in str(e.value)


def test_a_garbage_npy_input_is_one_line(tmp_path):
    (tmp_path / "x.npy").write_bytes(bytes(range(256)))
    p = deepx("run", relu_model(tmp_path / "m.onnx"), "--input", str(tmp_path / "x.npy"))
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        f"deepx: error: {tmp_path / 'x.npy'}: not a valid .npy or .npz file (it starts with neither the .npy nor the "
        "zip header)"]


def _options(p, prog):
    """(command, option or positional, help) of a parser and its subcommands, recursively."""
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _options(sub, f"{prog} {name}")
        elif not isinstance(a, argparse._HelpAction):
            yield prog, a.option_strings or a.dest, a.help


def test_every_option_has_help():
    from deepx.runtime.onboard.deepx_run import parser as run_parser
    from deepx.tools.cli import parser
    from deepx.tools.power_cli import parser as power_parser

    missing = [(prog, option) for p, name in [(parser(), "deepx"), (power_parser(), "deepx-power"),
                                              (run_parser(), "deepx-run")]
               for prog, option, text in _options(p, name) if not text]
    assert missing == []


def test_zoo_export_help_names_the_models():
    from deepx.models import zoo

    p = deepx("zoo", "export", "--help")
    assert p.returncode == 0 and f"the model: {', '.join(zoo.MODELS)}" in " ".join(p.stdout.split())


def test_boards_help_says_it_lists_them_and_columns_line_up(capsys):
    from deepx.tools.cli import main

    p = deepx("boards", "--help")
    assert p.returncode == 0 and "`deepx boards` lists the board profiles" in " ".join(p.stdout.split())
    main(["boards"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "not calibrated yet" not in line]
    assert len(rows) > 5 and len({line.index("  cpu ") for line in rows}) == 1
    assert len({line.index("idle ") for line in rows}) == 1 and all("  idle " in line for line in rows)
    assert len({re.match(r".*  idle \S+ W +", line).end() for line in rows}) == 1  # the boards' text


def conv_model(path, dims):
    """A model y = relu(conv3x3(x)), x (dims: ints or names of dynamic dimensions), 3 -> 4 channels."""
    from onnx import TensorProto, helper, numpy_helper, save

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                               helper.make_node("Relu", ["c"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return str(path)


@pytest.mark.parametrize("argv", [
    ["run", "{m}"], ["bench", "{m}", "--seconds", "0.05"], ["compress", "{m}", "-o", "{tmp}/c.onnx", "--samples", "4"],
    ["plan", "{m}", "--board", "jetson-nano", "-o", "{tmp}/p.json"], ["pack", "{m}", "--board", "jetson-nano",
                                                                      "-o", "{tmp}/m.dxb"],
])
def test_every_command_takes_input_shape_for_dynamic_dimensions(tmp_path, argv):
    m = conv_model(tmp_path / "m.onnx", ["N", 3, "H", "W"])
    argv = [a.format(m=m, tmp=tmp_path) for a in argv]
    p = deepx(*argv)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"deepx: error: {m}: input 'x' has a dynamic shape [None, 3, None, None]: "
                                             f"give it with --input-shape x=1,3,1,1"]
    p = deepx(*argv, "--input-shape", "x=1,3,12,10")
    assert p.returncode == 0, p.stderr
    if argv[0] == "plan":  # the plan runs on an emulated board with the same shape
        p = deepx("emulate", m, "--plan", f"{tmp_path}/p.json", "--input-shape", "x=1,3,12,10")
        assert p.returncode == 0, p.stderr


def test_dynamic_dimensions_come_from_the_input_file_and_a_dynamic_batch_is_one(tmp_path):
    m = conv_model(tmp_path / "m.onnx", ["N", 3, "H", "W"])
    np.save(tmp_path / "x.npy", np.ones((2, 3, 5, 7), np.float32))
    p = deepx("run", m, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz"))
    assert p.returncode == 0, p.stderr
    assert np.load(tmp_path / "y.npz")["y"].shape == (2, 4, 5, 7)
    p = deepx("run", conv_model(tmp_path / "b.onnx", ["N", 3, 6, 6]))
    assert p.returncode == 0 and p.stderr.count("note:") == 1
    assert "input 'x' has a dynamic batch: running batch 1 (another: --input-shape x=N,3,6,6)" in p.stderr


def test_an_unsupported_attribute_is_one_line_naming_node_and_attribute(tmp_path):
    from onnx import TensorProto, helper, numpy_helper, save

    vi = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Resize", ["x", "", "s"], ["y"], name="up1", mode="cubic")], "g",
                              [vi("x", TensorProto.FLOAT, [1, 3, 8, 8])], [vi("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    p = deepx("run", str(tmp_path / "m.onnx"))
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        f"deepx: error: {tmp_path / 'm.onnx'}: node 'up1' (Resize): mode 'cubic' is not supported (nearest, linear)"]
