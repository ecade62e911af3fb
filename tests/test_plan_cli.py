"""`deepx boards`, `deepx plan` end to end, the plan file, and one-line errors with exit code 2."""
import json
import subprocess
import sys

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
    assert [line.split()[0] for line in p.stdout.splitlines()] == boards.names()
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
    (["--board", "jetson-nanoo"], "unknown board 'jetson-nanoo' (known boards: jetson-nano, jetson-orin-nano"),
    (["--board", "jetson-nano", "--deadline-ms", "3"], "deadline 3 ms is below the fastest possible latency of"),
    (["--board", "rpi3b", "--memory-mb", "20"], "memory limit 20.0 MB on "),
])
def test_plan_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    p = deepx("plan", ALEXNET, *args, "-o", str(tmp_path / "p.json"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and message in p.stderr
