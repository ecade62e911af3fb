"""Unit blocks and the planners: MILP equals the exhaustive optimum on random graphs (with and without RLC
variants under an error budget), big models plan in under 2 s, infeasible limits are explained."""
import dataclasses
import time

import numpy as np
import pytest
from onnx_cases import LIGHT

from deepx import boards, kernels
from deepx.models import compress
from deepx.models.execute import run_graph
from deepx.models.graph import Graph, Node
from deepx.models.onnx_import import load_onnx
from deepx.runtime import blocks as B
from deepx.runtime import planner as PL
from deepx.runtime.executor import Executor

MODELS = {k: next(p for p in LIGHT if k in p) for k in ("alexnet", "vgg19", "resnet50")}


def node(g, name, op, inputs, **attrs):
    if op == "reshape":
        canon, shape = attrs, attrs["shape"]
    else:
        canon, shape = kernels.check(op, [g.tensor(t) for t in inputs], attrs)[1:]
    g.nodes.append(Node(name, op, list(inputs), [name], canon))
    g.shapes[name] = shape
    return name


def const(g, name, shape, rng):
    g.constants[name] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
    g.shapes[name] = tuple(shape)
    return name


def random_graph(rng, layers) -> Graph:
    """A chain of conv / pool layers with ReLUs and residual adds, maybe ending in flatten + dense."""
    C, H = int(rng.integers(1, 17)), int(rng.integers(8, 41))
    g = Graph("random", ["x"], [], shapes={"x": (1, C, H, H)})
    x, same = "x", []
    for i in range(layers):
        kind = rng.choice(["conv", "conv", "pool", "dense"] if i == layers - 1 else ["conv", "conv", "pool"])
        if kind == "conv":
            K, k = int(rng.choice([4, 8, 16, 32])), int(rng.choice([1, 3]))
            w, b = const(g, f"w{i}", (K, g.shapes[x][1], k, k), rng), const(g, f"b{i}", (K,), rng)
            y = node(g, f"conv{i}", "conv2d", [x, w, b], pads=(k // 2,) * 4, act="none")
            skip = next((s for s in same if g.shapes[s] == g.shapes[y]), None)
            if skip and rng.random() < 0.5:
                y = node(g, f"add{i}", "add", [y, skip])
            if rng.random() < 0.7:
                y = node(g, f"relu{i}", "activation", [y], act="relu")
        elif kind == "pool":
            y = node(g, f"pool{i}", "maxpool2d", [x], kernel=2, stride=2) if g.shapes[x][2] >= 2 else x
        else:
            flat = node(g, f"flat{i}", "reshape", [x], shape=(1, int(np.prod(g.shapes[x][1:]))))
            w = const(g, f"w{i}", (int(rng.choice([8, 16])), g.shapes[flat][1]), rng)
            y = node(g, f"fc{i}", "dense", [flat, w, ""], act="relu")
        same.append(y)
        x = y
    g.outputs = [x]
    return g


def comparable_processors(board, rng):
    """The board with a GPU from half to twice as fast as its CPU and cheaper hand-overs, so that plans mix."""
    cpu, gpu = board.processors
    ratio = cpu.peak_gflops * cpu.efficiency["conv"] / (gpu.peak_gflops * gpu.efficiency["conv"])
    gpu = dataclasses.replace(gpu, peak_gflops=gpu.peak_gflops * ratio * float(rng.uniform(0.5, 2.0)),
                              launch_us=float(rng.uniform(0, 50)))
    return dataclasses.replace(board, processors=(cpu, gpu), transfer_us=float(rng.uniform(0, 30)))


def random_variants(g, rng, per_layer=2):
    """Up to `per_layer` of each layer's RLC candidates (estimated on random calibration inputs) as variants."""
    if not any(n.op in ("conv2d", "dense") for n in g.nodes):
        return {}
    calibration = {"x": rng.standard_normal((4,) + g.shapes["x"][1:], dtype=np.float32)}
    variants = {}
    for layer in compress.candidates(g, calibration, "svd", seed=int(rng.integers(1 << 30))):
        picked = rng.permutation(len(layer.candidates))[:per_layer]
        variants[layer.node.name] = [PL.Variant(*compress.lowrank_node(layer.node, layer.candidates[i]),
                                                layer.candidates[i].error) for i in picked]
    return variants


def random_problem(rng, compressed=False):
    for _ in range(100):
        g = random_graph(rng, int(rng.integers(1, 8)))
        blocks = B.make_blocks(g)
        board = comparable_processors(boards.load(str(rng.choice(boards.names()))), rng)
        splits = PL.problem.SPLITS if len(blocks) <= 4 else (0.5,)
        variants, budget = random_variants(g, rng) if compressed else {}, None
        errors = [v.error for vs in variants.values() for v in vs]
        if errors:  # from below the smallest error to above most sums
            budget = float(rng.choice(errors)) * float(rng.uniform(0.5, 2.0))
        p = PL.build(g, blocks, board, str(rng.choice(["energy", "latency"])), splits=splits, variants=variants,
                     error_budget=budget)
        if np.prod([len(o) for o in p.options], dtype=float) <= 30_000 and (errors or not compressed):
            break
    fastest = PL.solve(PL.build(g, blocks, board, "latency", splits=splits))[1].latency_ms
    if rng.random() < 0.5:  # a deadline from just infeasible to loose
        p.deadline_ms = fastest * float(rng.uniform(0.97, 2.0))
    if rng.random() < 0.5:  # a memory limit from tight to loose
        held = sum(B.weight_bytes(g, b) + B.tensor_bytes(g, b.output) for b in blocks)
        p.memory_rows = [(label, w, held * float(rng.uniform(0.3, 1.2)) if label in p.processors else limit)
                         for label, w, limit in p.memory_rows]
    return p


def test_milp_equals_exhaustive_on_200_random_graphs():
    rng = np.random.default_rng(4)
    milp, exhaustive = PL.MilpPlanner(), PL.ExhaustivePlanner()
    infeasible = constrained = mixed = 0
    for _ in range(200):
        p = random_problem(rng)
        a, b = exhaustive.solve(p), milp.solve(p)
        assert (a is None) == (b is None), p
        if a is None:
            infeasible += 1
            continue
        constrained += p.deadline_ms is not None
        mixed += len({q for blk, c in enumerate(b) for q in p.options[blk][c].readers}) == 2
        ra, rb = PL.evaluate(p, a), PL.evaluate(p, b)
        assert rb.value(p) == pytest.approx(ra.value(p), rel=1e-6)
        assert PL.problem.feasible(p, rb)
    assert 5 < infeasible < 100 and constrained > 30  # the limits bite in some cases, not in all
    assert mixed > 20  # and many optimal plans use both processors


def test_milp_equals_exhaustive_with_compression_variants():
    rng = np.random.default_rng(5)
    milp, exhaustive = PL.MilpPlanner(), PL.ExhaustivePlanner()
    compressed = budget_binds = 0
    for _ in range(80):
        p = random_problem(rng, compressed=True)
        a, b = exhaustive.solve(p), milp.solve(p)
        assert (a is None) == (b is None), p
        if a is None:
            continue
        ra, rb = PL.evaluate(p, a), PL.evaluate(p, b)
        assert rb.value(p) == pytest.approx(ra.value(p), rel=1e-6)
        assert PL.problem.feasible(p, rb) and rb.error <= p.error_budget * (1 + 1e-9)
        compressed += any(p.options[blk][c].variant >= 0 for blk, c in enumerate(b))
        loose = exhaustive.solve(dataclasses.replace(p, error_budget=np.inf))
        budget_binds += PL.evaluate(p, loose).value(p) < ra.value(p) * (1 - 1e-9)
    assert compressed > 30 and budget_binds > 20  # variants are chosen, and the budget holds some back


def test_split_options_appear_and_win_when_processors_are_equal(tmp_path):
    text = open(boards.load("jetson-nano").path).read()
    text = text.replace("peak_gflops = 236 ", "peak_gflops = 45.8 ").replace("conv = 0.35,", "conv = 0.45,")
    text = text.replace("launch_us = 60 ", "launch_us = 20 ").replace("latency_us = 40 ", "latency_us = 0 ")
    (tmp_path / "twins.toml").write_text(text)
    board = boards.load(str(tmp_path / "twins.toml"))
    g = load_onnx(MODELS["vgg19"])
    p = PL.build(g, B.make_blocks(g), board, "latency")
    choice, r = PL.solve(p)
    split = [p.options[b][c] for b, c in enumerate(choice) if len(p.options[b][c].parts) == 2]
    assert len(split) >= 10  # two equal processors: the big convs run half on each
    assert r.latency_ms < 0.7 * PL.baseline(p, 0).latency_ms


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("board", ["jetson-tk1", "jetson-nano", "jetson-orin-nano", "rpi3b", "rpi5"])
def test_big_models_plan_in_under_2_s(model, board):
    g = load_onnx(MODELS[model])
    t = time.perf_counter()
    p = PL.build(g, B.make_blocks(g), boards.load(board), "energy")
    choice, r = PL.solve(p)
    assert time.perf_counter() - t < 2.0
    best = min(PL.baseline(p, 0).energy_mj, PL.baseline(p, 1).energy_mj)
    assert r.energy_mj <= best * (1 + 1e-9)
    assert r.latency_ms == pytest.approx(sum(r.block_ms)) and r.energy_mj == pytest.approx(sum(r.block_mj))


def test_infeasible_deadline_says_by_how_much():
    g = load_onnx(MODELS["alexnet"])
    p = PL.build(g, B.make_blocks(g), boards.load("jetson-nano"), "energy", deadline_ms=5.0)
    fastest = PL.solve(PL.build(g, B.make_blocks(g), boards.load("jetson-nano"), "latency"))[1].latency_ms
    with pytest.raises(PL.PlanError, match=f"deadline 5 ms is below the fastest possible latency of "
                                           f"{fastest:.3f} ms \\(short by {fastest - 5:.3f} ms\\)"):
        PL.solve(p)


def test_infeasible_memory_says_by_how_much():
    g = load_onnx(MODELS["alexnet"])
    blocks = B.make_blocks(g)
    p = PL.build(g, blocks, boards.load("jetson-nano"), "energy", memory_mb=50)
    with pytest.raises(PL.PlanError, match=r"memory limit 50.0 MB on (cpu|gpu) is below the smallest footprint "
                                           r"of (\d+\.\d) MB \(short by") as e:
        PL.solve(p)
    need = float(str(e.value).split("footprint of ")[1].split(" MB")[0])
    weights = sum(B.weight_bytes(g, b) for b in blocks) / PL.MB
    assert weights / 2 <= need < weights  # spread over two processors: at least half the weights on one
    assert PL.solve(PL.build(g, blocks, boards.load("jetson-nano"), "energy", memory_mb=need + 0.1))


def test_blocks_take_their_riders_and_cover_every_node():
    g = load_onnx(MODELS["resnet50"])
    blocks = B.make_blocks(g)
    assert sorted(n.name for b in blocks for n in b.nodes) == sorted(n.name for n in g.nodes)
    residual = [b for b in blocks if [n.op for n in b.nodes] == ["conv2d", "add"]]
    assert len(residual) == 16 and all(len(b.inputs) == 2 and b.channels for b in residual)
    alex = B.make_blocks(load_onnx(MODELS["alexnet"]))
    assert [n.op for n in alex[9].nodes] == ["maxpool2d", "reshape"]  # the flatten rides with pool5
    assert [b.channels for b in alex[:4]] == [96, 0, 0, 0]  # grouped conv2 is not split


def test_channel_slices_concatenate_to_the_block_output():
    rng = np.random.default_rng(1)
    split = 0
    for _ in range(10):
        g = random_graph(rng, 5)
        feeds = {"x": rng.standard_normal(g.shapes["x"]).astype(np.float32)}
        want = run_graph(g, feeds, "ref")
        blocks = []
        for b in B.make_blocks(g):  # every splittable block cut at a quarter of its output channels
            cuts = [[0, b.channels // 4], [b.channels // 4, b.channels]] if b.channels else [None]
            split += len(cuts) - 1
            blocks.append(dict(name=b.name, home="cpu", parts=[dict(processor="cpu", backend="ref", channels=c)
                                                                for c in cuts]))
        ex = Executor(g, dict(board="", blocks=blocks))
        got = ex.run(feeds)
        ex.close()
        for name in g.outputs:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    assert split >= 5


def _add_then_lstm(rng) -> Graph:
    """x (6,1,8) -> add a constant -> forward LSTM, hidden 4 -> y (6,1,1,4): one op OpenCL has, one it lacks."""
    g = Graph("g", ["x"], [])
    g.shapes["x"] = (6, 1, 8)
    a = node(g, "a", "add", ["x", const(g, "c", (8,), rng)])
    y = node(g, "y", "lstm", [a, const(g, "w", (1, 16, 8), rng), const(g, "r", (1, 16, 4), rng)])
    g.outputs = [y]
    return g


def test_ops_a_backend_lacks_stay_off_it(capsys):
    """The registry's capability check (read from the source where OpenCL cannot load): the planner never puts
    the LSTM on the GPU, and an executor told to use OpenCL runs it on the CPU, saying so."""
    assert kernels.supports("add", "opencl") and not kernels.supports("lstm", "opencl")
    assert kernels.supports("lstm", "cython") and kernels.supports("lstm", "numba")
    g = _add_then_lstm(np.random.default_rng(0))
    blocks = B.make_blocks(g)
    assert [B.lacking(b, "opencl") for b in blocks] == [[], ["lstm"]]
    problem = PL.build(g, blocks, boards.load("jetson-nano"))
    lstm = problem.options[[b.name for b in blocks].index("y")]
    assert lstm and all(p.backend != "opencl" for o in lstm for p in o.parts)
    assert any(p.backend == "opencl" for o in problem.options[0] for p in o.parts)
    if kernels.backend_usable("opencl")[0]:
        feeds = {"x": np.random.default_rng(1).standard_normal((6, 1, 8)).astype(np.float32)}
        ex = Executor(g, backend="opencl")
        np.testing.assert_allclose(ex.run(feeds)["y"], run_graph(g, feeds, "ref")["y"], rtol=1e-4, atol=1e-5)
        ex.close()
        assert "the opencl backend has no kernel for lstm: those blocks run on" in capsys.readouterr().err
