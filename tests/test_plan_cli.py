"""`deepx boards`, `deepx plan` end to end, the plan file, and one-line errors with exit code 2."""
import json
import signal
import subprocess
import sys
import time

import pytest
from onnx_cases import LIGHT

from deepx import boards
from deepx.runtime.plan import file_sha256, load_plan
from deepx.runtime.planner import PlanError

ALEXNET = next(p for p in LIGHT if "alexnet" in p)
VGG19 = next(p for p in LIGHT if "vgg19" in p)


def deepx(*args):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_boards_lists_and_shows():
    p = deepx("boards")
    assert p.returncode == 0, p.stderr
    assert [line.split()[0] for line in p.stdout.splitlines()] == ["host"] + boards.names()
    p = deepx("boards", "show", "jetson-tk1")
    assert p.returncode == 0 and "326 GFLOP/s" in p.stdout and "jetson-tk1.toml" in p.stdout


def test_plan_json_and_file(tmp_path):
    out = tmp_path / "plan.json"
    p = deepx("plan", ALEXNET, "--board", "emulated:jetson-tk1", "--objective", "latency", "-o", str(out), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert {"board", "objective", "blocks", "predicted", "baselines", "solve_s"} <= set(r)
    assert r["board"] == "jetson-tk1" and r["objective"] == "latency" and len(r["blocks"]) == 14
    assert {"name", "processor", "backend", "ms", "mj"} <= set(r["blocks"][0])
    assert sum(b["ms"] for b in r["blocks"]) == pytest.approx(r["predicted"]["latency_ms"])
    assert r["predicted"]["latency_ms"] <= min(b["latency_ms"] for b in r["baselines"].values())
    plan = load_plan(out, file_sha256(ALEXNET))
    assert plan["model"]["sha256"] == file_sha256(ALEXNET) and plan["blocks"] == r["blocks"]
    with pytest.raises(PlanError, match="the plan was made for another model"):
        load_plan(out, file_sha256(VGG19))


@pytest.mark.parametrize("args,message", [
    (["--board", "jetson-nanoo"], "unknown board 'jetson-nanoo' (known boards: host, jetson-nano, jetson-orin-nano"),
    (["--board", "jetson-nano", "--deadline-ms", "3"], "deadline 3 ms is below the fastest possible latency of"),
    (["--board", "rpi3b", "--memory-mb", "20"], "memory limit 20.0 MB on "),
])
def test_plan_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    p = deepx("plan", ALEXNET, *args, "-o", str(tmp_path / "p.json"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and message in p.stderr


def test_emulate_runs_the_plan_plumbing_replays_its_prediction(tmp_path):
    plan = tmp_path / "plan.json"
    assert deepx("plan", ALEXNET, "--board", "rpi4b", "-o", str(plan)).returncode == 0
    p = deepx("emulate", ALEXNET, "--plan", str(plan), "--json", "--output", str(tmp_path / "y.npz"))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["board"] == "rpi4b" and r["latency_ms"] == pytest.approx(r["predicted"]["latency_ms"])
    assert r["energy_mj"] == pytest.approx(r["predicted"]["energy_mj"]) and r["busy_ms"]["gpu"] > 0
    p = deepx("emulate", VGG19, "--plan", str(plan))
    assert p.returncode == 2 and "the plan was made for another model" in p.stderr


def test_power_meter_emulator_reads_an_emulated_board_running_a_plan(tmp_path):
    plan = tmp_path / "plan.json"
    assert deepx("plan", ALEXNET, "--board", "jetson-tk1", "-o", str(plan)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "deepx.tools.power_cli", "emulate", "um25c", "--board",
                             "emulated:jetson-tk1", "--model", ALEXNET, "--plan", str(plan)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        p = subprocess.run([sys.executable, "-m", "deepx.tools.power_cli", "record", "--meter",
                            f"um25c:{port}?interval=0.01", "--duration", "0.6", "-o", str(tmp_path / "t.csv")],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        watts = {float(r.split(",")[1]) for r in (tmp_path / "t.csv").read_text().splitlines()[1:]}
        assert len(watts) >= 2 and 1.6 <= min(watts) and max(watts) <= 1.6 + 3.5 + 3.0  # idle .. CPU + GPU
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_emulated_meter_spec_plumbing_reads_the_board_power_model_back(tmp_path):
    from deepx.runtime.power import Sampler, open_meter

    idle = open_meter("emulated:jetson-tk1?interval=0.01")
    assert {s.power_w for s in idle.read() + idle.read()} == {boards.load("jetson-tk1").idle_w}
    plan = tmp_path / "plan.json"
    p = deepx("plan", ALEXNET, "--board", "jetson-tk1", "-o", str(plan), "--json")
    predicted = json.loads(p.stdout)["predicted"]
    meter = open_meter(f"emulated:jetson-tk1?model={ALEXNET}&plan={plan}&interval=0.001")
    with Sampler(meter) as s, s.window("run"):
        time.sleep(0.5)  # ~500 samples of the inference repeated back to back
    mean_w = s.report("run").mean_w
    assert mean_w == pytest.approx(predicted["energy_mj"] / predicted["latency_ms"], rel=0.05)
