"""The emulated board: exact outputs on host kernels, a virtual clock that agrees with the plan's
prediction, per-processor activity, power(t), and a meter emulator reading that power."""
import time

import numpy as np
import pytest
from onnx_cases import LIGHT, he_initialised

from deepx import boards
from deepx.boards.emulated import EmulatedBoard
from deepx.models.execute import run_graph
from deepx.models.io import random_inputs
from deepx.models.onnx_import import from_onnx
from deepx.runtime.emulate import run_plan
from deepx.runtime.plan import make_plan
from deepx.runtime.planner import PlanError
from deepx.runtime.power import Sampler, open_meter


@pytest.fixture(scope="module")
def resnet():
    g = from_onnx(he_initialised(next(p for p in LIGHT if "resnet50" in p)))
    feeds = random_inputs(g)
    return g, feeds, run_graph(g, feeds)


@pytest.mark.parametrize("board,objective", [("rpi4b", "energy"), ("rpi4b", "latency"), ("jetson-tk1", "energy")])
def test_emulated_run_is_exact_and_agrees_with_the_prediction(resnet, board, objective):
    g, feeds, want = resnet
    b = boards.load(board)
    plan = make_plan(g, "sha", b, objective)
    outputs, emu = run_plan(g, plan, feeds, b)
    for name, y in outputs.items():
        assert np.linalg.norm(y - want[name]) <= 1e-4 * np.linalg.norm(want[name])
    assert emu.now_ms == pytest.approx(plan["predicted"]["latency_ms"], rel=1e-9)
    assert emu.energy_mj() == pytest.approx(plan["predicted"]["energy_mj"], rel=1e-9)
    again = run_plan(g, plan, feeds, b)[1]  # deterministic
    assert (again.now_ms, again.energy_mj()) == (emu.now_ms, emu.energy_mj())
    if board == "rpi4b":  # its CPU and GPU are close: the plan splits layers, both processors are busy
        busy = emu.activity()
        assert {"cpu", "gpu", "transfer"} <= set(busy)
        assert any(len(s["parts"]) == 2 for s in plan["blocks"])


def test_plan_for_another_board_or_model_is_refused(resnet):
    g, feeds, _ = resnet
    plan = make_plan(g, "sha", boards.load("jetson-nano"))
    with pytest.raises(PlanError, match="made for board 'jetson-nano', not 'rpi5'"):
        run_plan(g, plan, feeds, boards.load("rpi5"))
    plan["blocks"] = plan["blocks"][1:]
    with pytest.raises(PlanError, match="the plan's blocks do not match model"):
        run_plan(g, plan, feeds, boards.load("jetson-nano"))


def test_power_is_idle_plus_active_processors():
    b = boards.load("jetson-nano")
    emu = EmulatedBoard(b)
    cpu, gpu = b.processors
    emu.busy([(cpu, 2.0), (gpu, 4.0)])
    emu.hand_over(1.0)
    assert emu.now_ms == 5.0
    assert emu.power_w(1.0) == pytest.approx(1.5 + 2.5 + 3.5)
    assert emu.power_w(3.0) == pytest.approx(1.5 + 3.5)
    assert emu.power_w(4.5) == pytest.approx(1.5 + 0.5)
    assert emu.power_w(6.0) == pytest.approx(1.5)
    assert emu.energy_mj() == pytest.approx(1.5 * 5 + 2.5 * 2 + 3.5 * 4 + 0.5 * 1)
    assert emu.activity() == {"cpu": [(0.0, 2.0)], "gpu": [(0.0, 4.0)], "transfer": [(4.0, 5.0)]}


def test_a_meter_emulator_reads_the_emulated_board(emulator):
    b = boards.load("jetson-tk1")
    emu = EmulatedBoard(b)
    emu.busy([(b.processor("gpu"), 400.0)])  # 0.4 s of GPU, then 0.4 s idle, repeated
    start = time.monotonic()
    url = emulator("um25c", emu.power_source(start, period_ms=800.0))
    meter = open_meter(f"um25c:{url}?interval=0.02")
    with Sampler(meter) as s:
        time.sleep(1.7)
    meter.close()
    watts = {round(x.power_w, 1) for x in s.samples}
    assert watts == {1.6, 5.1}  # idle, and idle + the GPU's active power
    assert EmulatedBoard(b).power_source(start)(start + 3.0) == 1.6  # nothing ran: idle
