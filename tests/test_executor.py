"""The executor: outputs equal sequential execution for any plan (processors, backends, channel splits run
at once on their own threads), the arena never lets live tensors overlap, reuse keeps peak activation memory
well under the sum of all tensors, and bad plans or inputs are refused."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx_cases import LIGHT, he_initialised

from deepx import boards, config, kernels
from deepx.models import zoo
from deepx.models.execute import run_graph
from deepx.models.graph import ModelError
from deepx.models.io import random_inputs
from deepx.models.load import load_model
from deepx.models.onnx_import import from_onnx
from deepx.runtime import arena
from deepx.runtime import blocks as B
from deepx.runtime.executor import Executor
from deepx.runtime.plan import make_plan
from deepx.runtime.planner import PlanError


def light(name):
    return from_onnx(he_initialised(next(p for p in LIGHT if name in p)))


@pytest.fixture(scope="module")
def cnn():
    g = load_model(zoo.path("digits-cnn"), {"x": (2, 1, 32, 32)})
    feeds = random_inputs(g)
    return g, feeds, run_graph(g, feeds, "ref")


@pytest.fixture(scope="module")
def squeezenet():
    g = light("squeezenet")
    feeds = random_inputs(g)
    return g, feeds, run_graph(g, feeds, "ref")


def close(got, want):
    assert got.keys() == want.keys()
    for k in want:
        assert np.abs(got[k] - want[k]).max() <= 1e-4 * max(1.0, np.abs(want[k]).max()), k


def random_plan(g, rng, gpu=("cython", "numba")):
    """A plan dict placing each block on cpu (cython or numba) or gpu (a backend from `gpu`), splitting some
    by output channels between the two."""
    backends = {"cpu": ("cython", "numba"), "gpu": gpu}
    pick = lambda proc: str(rng.choice(backends[proc]))  # noqa: E731
    steps = []
    for b in B.make_blocks(g):
        procs = ["cpu", "gpu"]
        home = procs[int(rng.integers(2))]
        if b.channels and rng.random() < 0.4:
            cut = int(rng.integers(1, b.channels))
            first, second = procs if rng.random() < 0.5 else procs[::-1]
            parts = [dict(processor=first, backend=pick(first), channels=[0, cut]),
                     dict(processor=second, backend=pick(second), channels=[cut, b.channels])]
        else:
            parts = [dict(processor=home, backend=pick(home), channels=None)]
        steps.append(dict(name=b.name, home=home, parts=parts))
    return dict(board="test", blocks=steps)


@pytest.mark.parametrize("model", ["digits-dnn", "digits-cnn", "squeezenet", "inception_v1", "inception_v2"])
def test_sequential_plan_equals_the_graph_run(model):
    if model.startswith("digits"):
        g = load_model(zoo.path(model), {"x": (1, 64) if model == "digits-dnn" else (1, 1, 32, 32)})
    else:
        g = light(model)
    feeds = random_inputs(g)
    want = run_graph(g, feeds, "ref")
    ex = Executor(g)
    close(ex.run(feeds), want)
    close(ex.run(feeds), want)  # the arena is reused: a second run gives the same answer
    assert ex.arena_bytes < ex.tensor_bytes


@settings(max_examples=min(12, settings().max_examples), deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_two_processor_plans_equal_the_graph_run(cnn, seed):
    g, feeds, want = cnn
    ex = Executor(g, random_plan(g, np.random.default_rng(seed)))
    assert ex.threads is not None or len(ex.procs) == 1
    for _ in range(3):
        close(ex.run(feeds), want)
    ex.close()


def test_split_and_concurrent_plan_on_a_real_network(squeezenet):
    g, feeds, want = squeezenet
    rng = np.random.default_rng(7)
    for _ in range(3):
        plan = random_plan(g, rng)
        assert any(len(s["parts"]) == 2 for s in plan["blocks"])
        ex = Executor(g, plan)
        close(ex.run(feeds), want)
        close(ex.run(feeds), want)
        ex.close()


@pytest.mark.skipif(not kernels.backend_usable("opencl")[0], reason="no OpenCL device")
@pytest.mark.parametrize("seed", range(4))
def test_plans_with_opencl_blocks_equal_the_graph_run(cnn, seed):
    g, feeds, want = cnn
    plan = random_plan(g, np.random.default_rng(seed), gpu=("opencl",))
    ex = Executor(g, plan)
    assert any(s.space == "device" for s in ex.steps) and any(s.kind == "copy" for s in ex.steps)
    for _ in range(2):
        close(ex.run(feeds), want)
    ex.close()


@pytest.mark.skipif(not kernels.backend_usable("opencl")[0], reason="no OpenCL device")
@pytest.mark.parametrize("seed", range(3))
def test_on_a_shared_memory_board_hand_overs_copy_nothing(cnn, seed):
    g, feeds, want = cnn
    board = boards.load("jetson-nano")  # CPU and GPU share the DRAM
    plan = dict(random_plan(g, np.random.default_rng(seed), gpu=("opencl",)), board=board.name)
    ex = Executor(g, plan, board)
    if not ex.shared:
        pytest.skip("this OpenCL device does not work on host memory")
    assert not any(s.kind == "copy" for s in ex.steps) and any(s.kind == "sync" for s in ex.steps)
    assert ex.layout["device"].size == 0
    for _ in range(2):
        close(ex.run(feeds), want)
    ex.close()


@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
def test_peak_activation_memory_is_under_half_of_all_tensors(model):
    ex = Executor(light(model))
    assert ex.arena_bytes <= 0.5 * ex.tensor_bytes


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 100), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_arena_never_overlaps_tensors_alive_at_once(spec):
    items = [arena.Item(i, size, min(a, b), max(a, b)) for i, (size, a, b) in enumerate(spec)]
    lay = arena.plan(items)
    for x in items:
        assert lay.offsets[x.id] % arena.ALIGN == 0 and lay.offsets[x.id] + x.size <= lay.size
        for y in items:
            if x.id < y.id and x.first <= y.last and y.first <= x.last:
                ox, oy = lay.offsets[x.id], lay.offsets[y.id]
                assert ox + x.size <= oy or oy + y.size <= ox
    assert lay.size <= arena._align(sum(x.size for x in items) + arena.ALIGN * len(items))


def test_a_board_plan_without_an_opencl_device_falls_back_with_a_warning(cnn, monkeypatch):
    g, feeds, want = cnn
    board = boards.load("jetson-nano")
    plan = make_plan(g, "sha", board, "latency")
    assert any(p["backend"] == "opencl" for s in plan["blocks"] for p in s["parts"])
    real = kernels.backend_usable
    monkeypatch.setattr(kernels, "backend_usable",
                        lambda b: (False, "no OpenCL device") if b == "opencl" else real(b))
    said = []
    ex = Executor(g, plan, board, warn=said.append)
    assert len(said) == 1 and "'opencl' cannot run here (" in said[0] and "run on cython on the CPU" in said[0]
    assert ex.procs == ["cpu"]
    close(ex.run(feeds), want)


def _with_device(board, spec):
    """`board` with every processor's OpenCL device set to `spec`, as a calibrated profile names it."""
    return dataclasses.replace(board, processors=tuple(dataclasses.replace(p, opencl_device=spec)
                                                       for p in board.processors))


@pytest.mark.skipif(not kernels.backend_usable("opencl")[0], reason="no OpenCL device")
def test_the_profile_s_opencl_device_is_the_one_that_runs(cnn, monkeypatch):
    g, feeds, want = cnn
    board = boards.load("jetson-nano")
    plan = make_plan(g, "sha", board, "latency")
    monkeypatch.setattr(config, "OPENCL_DEVICE", "")
    said = []
    ex = Executor(g, plan, _with_device(board, "no-such-device:3"), warn=said.append)
    assert len(said) == 1 and "no OpenCL device matches 'no-such-device:3'" in said[0] and ex.procs == ["cpu"]
    close(ex.run(feeds), want)
    device = kernels.backend("opencl")
    name = device.current().dev.platform.name.strip()
    said = []
    ex = Executor(g, plan, _with_device(board, f"{name}:0"), warn=said.append)
    assert said == [] and device.current().dev == device.find_device(f"{name}:0")
    close(ex.run(feeds), want)
    monkeypatch.setattr(config, "OPENCL_DEVICE", f"{name}:0")
    ex = Executor(g, plan, _with_device(board, "another:1"), warn=said.append)
    assert len(said) == 1 and "DEEPX_OPENCL_DEVICE" in said[0] and "not the plan's 'another:1'" in said[0]


def test_a_plan_for_another_model_or_board_is_refused(cnn):
    g, _, _ = cnn
    board = boards.load("jetson-nano")
    plan = make_plan(g, "sha", board)
    with pytest.raises(PlanError, match="made for board 'jetson-nano', not 'rpi5'"):
        Executor(g, plan, boards.load("rpi5"))
    plan["blocks"] = plan["blocks"][1:]
    with pytest.raises(PlanError, match="the plan's blocks do not match model"):
        Executor(g, plan, board)


@pytest.mark.parametrize("feeds,message", [
    ({"y": np.zeros((2, 1, 32, 32), np.float32)}, "no input named y"),
    ({"x": np.zeros((1, 1, 32, 32), np.float32)}, "has shape (1, 1, 32, 32), the model takes (2, 1, 32, 32)"),
    ({"x": np.zeros((2, 1, 32, 32), np.float64)}, "has dtype float64, the model takes float32"),
])
def test_wrong_inputs_say_what_was_expected(cnn, feeds, message):
    g, _, _ = cnn
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Executor(g).run(feeds)


def test_attention_layernorm_reductions_run_in_plans():
    """Issue 15's new ops (matmul on two runtime operands and on a constant first one, layernorm, reduce,
    log_softmax, argmax) through the executor: sequential, then random plans with OpenCL blocks."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["wv", "x"], ["v"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["qk"]), helper.make_node("Softmax", ["qk"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["a"]),
             helper.make_node("LayerNormalization", ["a", "g", "b"], ["ln"], axis=-1),
             helper.make_node("ReduceMean", ["ln"], ["r"], axes=[1], keepdims=0),
             helper.make_node("LogSoftmax", ["r"], ["y"], axis=-1),
             helper.make_node("ArgMax", ["ln"], ["am"], axis=2, keepdims=0),
             helper.make_node("Cast", ["am"], ["y2"], to=1)]
    inits = [c("wq", rng.standard_normal((8, 8))), c("wk", rng.standard_normal((8, 8))),
             c("wv", rng.standard_normal((6, 6))), c("g", rng.standard_normal(8)), c("b", rng.standard_normal(8))]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "m", [vi("x", 1, [2, 6, 8])], [vi("y", 1, None), vi("y2", 1, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = from_onnx(model)
    feeds = {"x": rng.standard_normal((2, 6, 8)).astype(np.float32)}
    want = run_graph(g, feeds, "ref")
    close(Executor(g).run(feeds), want)
    gpu = ("opencl",) if kernels.backend_usable("opencl")[0] else ("cython", "numba")
    for seed in range(4):
        ex = Executor(g, random_plan(g, np.random.default_rng(seed), gpu=gpu))
        close(ex.run(feeds), want)
        ex.close()


def test_rank_0_outputs_run():
    """A reduction over every axis and a vector·vector product make scalars; blocks may end in one."""
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0),
                               helper.make_node("MatMul", ["v", "v"], ["z"])], "g",
                              [vi("x", TensorProto.FLOAT, [2, 3]), vi("v", TensorProto.FLOAT, [3])],
                              [vi("y", TensorProto.FLOAT, None), vi("z", TensorProto.FLOAT, None)])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "v": np.full(3, 2, np.float32)}
    for backend in [b for b in ("cython", "numba") if kernels.backend_usable(b)[0]]:
        out = Executor(g, backend=backend).run(feeds)
        assert out["y"].shape == () and out["y"] == 15 and out["z"] == 12


def test_a_split_over_channels_and_the_concat_of_its_halves_copy_nothing():
    """A YOLOv8 C2f block (conv, Split over channels, a conv on the second half, Concat of both halves and its
    output) and two Slices of the result: the split halves are views of the conv's output, which is written straight
    into the concat's, so neither the split nor the concat copies; a slice that is one run of its input (channels
    1:3) is a view, one that is not (a row of every channel) still copies. Matches the graph run, in random plans
    too."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    i = lambda n, v: numpy_helper.from_array(np.asarray(v, np.int64), n)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1"], ["t"]),
             helper.make_node("Split", ["t", "half"], ["t0", "t1"], axis=1),
             helper.make_node("Conv", ["t1", "w2"], ["u"], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["t0", "t1", "u"], ["cat"], axis=1),
             helper.make_node("Conv", ["cat", "w3"], ["y"]),
             helper.make_node("Slice", ["y", "s0", "e0", "a0"], ["row"]),
             helper.make_node("Slice", ["y", "s1", "e1", "a1"], ["chans"]),
             helper.make_node("Relu", ["chans"], ["z"])]
    inits = [c("w1", rng.standard_normal((8, 3, 1, 1))), c("w2", rng.standard_normal((4, 4, 3, 3))),
             c("w3", rng.standard_normal((5, 12, 1, 1))), i("half", [4, 4]), i("s0", [1]), i("e0", [2]), i("a0", [2]),
             i("s1", [1]), i("e1", [3]), i("a1", [1])]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "c2f", [vi("x", 1, [1, 3, 6, 6])],
                              [vi("y", 1, None), vi("row", 1, None), vi("z", 1, None)], inits)
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    feeds = {"x": rng.standard_normal((1, 3, 6, 6)).astype(np.float32)}
    want = run_graph(g, feeds, "ref")
    ex = Executor(g)
    close(ex.run(feeds), want)
    calls = [s.op for s in ex.steps if s.kind == "call"]
    assert "concat" not in calls and calls.count("slice") == 1, calls
    for seed in range(3):
        ex = Executor(g, random_plan(g, np.random.default_rng(seed)))
        close(ex.run(feeds), want)
        ex.close()


def test_an_add_after_a_conv_folds_into_it():
    """Residual blocks: conv -> Add(identity) -> Relu and Add(conv, projection conv) fold each add into the conv
    before it (no add step left; the conv adds the residual before the add's activation), in random CPU+GPU plans
    with channel splits too. An add that broadcasts, or of a conv output something else also reads, stays a step."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["ar", "w2"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "x"], ["s"]), helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Conv", ["sr", "w3"], ["m"], strides=[2, 2]),
             helper.make_node("Conv", ["sr", "w4"], ["p"], strides=[2, 2]),
             helper.make_node("Add", ["m", "p"], ["t"]),
             helper.make_node("GlobalAveragePool", ["t"], ["gp"]),
             helper.make_node("Conv", ["t", "w5"], ["u"]), helper.make_node("Add", ["u", "gp"], ["v"]),
             helper.make_node("Conv", ["v", "w6"], ["q"]), helper.make_node("Add", ["q", "v"], ["y"]),
             helper.make_node("Relu", ["q"], ["y2"])]
    inits = [c("w1", rng.standard_normal((16, 16, 3, 3)) * 0.2), c("b1", rng.standard_normal(16)),
             c("w2", rng.standard_normal((16, 16, 3, 3)) * 0.2), c("w3", rng.standard_normal((24, 16, 1, 1))),
             c("w4", rng.standard_normal((24, 16, 1, 1))), c("w5", rng.standard_normal((24, 24, 1, 1))),
             c("w6", rng.standard_normal((24, 24, 1, 1)))]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "res", [vi("x", 1, [2, 16, 8, 8])], [vi("y", 1, None), vi("y2", 1, None)],
                              inits)
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    feeds = {"x": rng.standard_normal((2, 16, 8, 8)).astype(np.float32)}
    want = run_graph(g, feeds, "ref")
    for backend in [b for b in ("cython", "numba") if kernels.backend_usable(b)[0]]:
        ex = Executor(g, backend=backend)
        close(ex.run(feeds), want)
        calls = [s for s in ex.steps if s.kind == "call"]
        # folded: b + x (with the Relu after it) and m + p; left: u + gp (broadcast) and q + v (q read twice)
        folded = [s for s in calls if s.op == "conv2d" and s.args[-1] is not None]
        assert len(folded) == 2 and [s.op for s in calls].count("add") == 2
        # b + x keeps x (the model's input); m + p writes over p, which dies there, where the kernel may
        m = folded[1]
        shapes = [ex.tensors[a].shape if isinstance(a, int) else None if a is None else a.shape for a in m.args]
        assert [ex.tensors[s.out].alias for s in folded] == [
            -1, m.args[-1] if kernels.over_residual("conv2d", backend, shapes, m.attrs) else -1]
    gpu = ("opencl",) if kernels.backend_usable("opencl")[0] else ("cython", "numba")
    split = 0  # folded conv steps computing part of their block's channels (the residual cut likewise)
    for seed in range(4):
        ex = Executor(g, random_plan(g, np.random.default_rng(seed), gpu=gpu))
        close(ex.run(feeds), want)
        split += sum(s.op == "conv2d" and s.args[-1] is not None and ex.tensors[s.out].shape[1] not in (16, 24)
                     for s in ex.steps)
        ex.close()
    assert split


@pytest.mark.skipif(not kernels.backend_usable("cython")[0], reason="the Cython kernels are not built here")
@pytest.mark.parametrize("also_added", [False, True])
def test_a_conv_reads_the_caller_s_input_array_without_a_copy(also_added):
    """A graph input that only Cython convs read is read from the caller's array (no copy into the arena): the
    outputs match the graph run for an aligned, a misaligned and a read-only array and follow changes to the array
    between runs, which is never written. An input that something else also reads (an add) is copied."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(1)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["a"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Conv", ["x", "w2"], ["b"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    if also_added:
        nodes += [helper.make_node("Add", ["x", "x"], ["y2"])]
    graph = helper.make_graph(nodes, "in", [helper.make_tensor_value_info("x", 1, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info(o, 1, None) for o in ("y", "y2")[:1 + also_added]],
                              [c("w1", rng.standard_normal((8, 3, 3, 3))), c("b1", rng.standard_normal(8)),
                               c("w2", rng.standard_normal((8, 3, 3, 3)))])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    ex = Executor(g, backend="cython", adapt=False)
    assert (ex.direct["x"] is None) == also_added
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    misaligned = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)
    read_only = x.copy()
    read_only.flags.writeable = False
    for a in (x, misaligned, read_only, x):
        if a is misaligned:
            misaligned[...] = x * 2
        kept = a.copy()
        got = ex.run({"x": a})
        close(got, run_graph(g, {"x": kept}, "ref"))
        np.testing.assert_array_equal(a, kept)
        x += 1  # the next run sees the change


def _inverted_residual(side: int, batch: int, read_twice: bool, widen: bool = True, residual: bool = True,
                       stride: int = 1):
    """MobileNetV2's block on a (batch, 16, side, side) input: 1x1 to 64 channels (96 on 56x56 and up: a thread's
    widened rows in pieces) + ReLU6, depthwise 3x3 + ReLU6, 1x1 back to 16 + the input (at stride 2: to 24, no
    residual); read_twice: the widened tensor is also a graph output's source; not widen: its first block's form
    (depthwise 3x3 + ReLU6 of the input, 1x1 to 8; or, residual, MobileNetV3's: 1x1 to 16 + the input). A ReLU
    before, a concat after: the block's output may then take its input's buffer (the residual's add in place)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(side)
    c = lambda n, v: numpy_helper.from_array(np.asarray(v, np.float32), n)  # noqa: E731
    e = (96 if side >= 56 else 64) if widen else 16
    nodes = [helper.make_node("Conv", ["er", "wd", "bd"], ["d"], group=e, pads=[1, 1, 1, 1], strides=[stride] * 2),
             helper.make_node("Clip", ["d", "lo", "hi"], ["dr"]), helper.make_node("Conv", ["dr", "wp", "bp"], ["p"])]
    inits = [c("lo", 0.0), c("hi", 6.0), c("wd", rng.standard_normal((e, 1, 3, 3)) * 0.3),
             c("bd", rng.standard_normal(e))]
    if widen:
        k = 16 if stride == 1 else 24
        nodes = [helper.make_node("Conv", ["x", "we", "be"], ["e"]),
                 helper.make_node("Clip", ["e", "lo", "hi"], ["er"])] + nodes + [
                 helper.make_node("Add", ["p", "x"], ["y"]) if stride == 1 else helper.make_node("Relu", ["p"], ["y"])]
        inits += [c("we", rng.standard_normal((e, 16, 1, 1)) * 0.3), c("be", rng.standard_normal(e)),
                  c("wp", rng.standard_normal((k, e, 1, 1)) * 0.2), c("bp", rng.standard_normal(k))]
    else:
        k = 16 if residual else 8
        nodes[0].input[0] = "x"
        nodes += [helper.make_node("Add", ["p", "x"], ["y"])] if residual else []
        nodes[-1].output[0] = "y"
        inits += [c("wp", rng.standard_normal((k, 16, 1, 1)) * 0.2), c("bp", rng.standard_normal(k))]
    nodes = [helper.make_node("Relu", ["i"], ["x"])] + nodes + [helper.make_node("Concat", ["y", "y"], ["o"], axis=1)]
    outs = ["o"]
    if read_twice:
        nodes.append(helper.make_node("GlobalAveragePool", ["er"], ["side"]))
        outs.append("side")
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "ir", [vi("i", 1, [batch, 16, side, side])], [vi(o, 1, None) for o in outs],
                              inits)
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    return g, {"i": rng.standard_normal((batch, 16, side, side)).astype(np.float32)}


@pytest.mark.skipif(not kernels.backend_usable("cython")[0], reason="the Cython kernels are not built here")
@pytest.mark.parametrize("side, batch, read_twice, widen, residual, stride, chained", [
    (14, 1, False, True, True, 1, True), (28, 1, False, True, True, 1, True), (7, 1, False, True, True, 1, True),
    (56, 1, False, True, True, 1, True), (14, 2, False, True, True, 1, False), (14, 1, True, True, True, 1, False),
    (112, 1, False, False, False, 1, True), (112, 1, False, False, True, 1, True),
    (56, 1, False, False, False, 1, False), (112, 1, False, True, False, 2, True),
    (56, 1, False, True, False, 2, True), (14, 1, False, True, False, 2, True)])
def test_an_inverted_residual_runs_as_one_chained_call(side, batch, read_twice, widen, residual, stride, chained):
    """On the Cython kernels an inverted residual is one call (kernels.bind_chain) where the CPU has the depthwise
    kernel (AVX2 or AVX-512); not for a batch of 2, or when something else reads the widened tensor. Output planes of
    up to 28x28 chain by channels (at 2 threads each thread its widened channels, then its rows of the summed
    output), 56x56 ones by rows (each thread's rows through all three convs, the widened rows in pieces); at stride 2
    by rows from 112x112 planes, not 56x56. Without the widening conv (MobileNetV2's first block) the depthwise conv
    and its 1x1 chain on 112x112 planes, not on 56x56. Every case
    matches the graph run at 1 to 4 threads (uneven bands; a chain at 1 thread runs its convs one by one; with the
    output over the input, no thread writes its rows before the others have read their halo rows)."""
    from deepx.kernels.cython import isa

    g, feeds = _inverted_residual(side, batch, read_twice, widen, residual, stride)
    want = run_graph(g, feeds, "ref")
    simd = {"avx2", "fma"} <= isa.cpu_flags()
    try:
        for threads in (1, 2, 3, 4):
            kernels.set_threads(threads)
            ex = Executor(g, backend="cython", adapt=False)
            assert sum(type(fn).__name__ == "Chain" for fn, _, _ in ex.calls) == (chained and simd)
            close(ex.run(feeds), want)
            ex.close()
    finally:
        kernels.set_threads(0)
