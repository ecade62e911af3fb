"""deepx's pytest plugin (deepx.testing): a noisy emulated meter still gives the modelled energy; the real-target
options against an sshd on 127.0.0.1 and a meter emulator's pty; assertion messages say what to do."""
import subprocess
import sys

import pytest

from deepx import testing
from deepx.models import zoo
from deepx.runtime.power.um import POWER_LSB

CNN = zoo.path("digits-cnn")


@pytest.mark.deepx_emulated
def test_energy_holds_with_one_percent_corrupted_bytes_and_no_sample_is_garbage(deepx_board, deepx_bundle,
                                                                               deepx_meter):
    board = deepx_board("jetson-nano")
    meter = deepx_meter("um25c", board=board, corrupt=0.01)
    run = board.run(deepx_bundle(CNN, board), meter=meter)
    faults = meter.emulator.faults
    assert faults.corrupted > 10 and faults.writes - faults.clean_writes > 5  # the link was noisy
    watts = run.modelled_mj / run.modelled_ms
    window = [p for _, p, w in run.samples if w == "inference"]
    assert len(window) >= 10 and len(run.samples) >= len(window)
    garbage = [p for _, p, _ in run.samples if abs(p - watts) > POWER_LSB + 0.01 * watts]
    assert not garbage, f"samples the driver should have refused: {garbage[:5]} (modelled {watts:.3f} W)"
    exact = sum(abs(p - watts) <= POWER_LSB / 2 + 1e-9 for _, p, _ in run.samples)
    print(f"\n1% corrupted bytes: {faults.corrupted} bytes in {faults.writes - faults.clean_writes} of {faults.writes} "
          f"answers; {len(run.samples)} samples, {exact} within the power field's rounding; energy "
          f"{run.energy_mj:.4f} mJ, modelled {run.modelled_mj:.4f} mJ")
    # the UM25C's rounding of the power field, and at most one sample the driver's 1 % check lets through
    assert run.energy_mj == pytest.approx(run.modelled_mj, rel=POWER_LSB / watts + 0.01 / len(window))
    testing.assert_energy(run, max_mj=run.modelled_mj * 1.01)
    with pytest.raises(AssertionError, match=r"over 1 mJ by .* \(modelled: an emulated um25c read the board's"):
        testing.assert_energy(run, max_mj=1)


@pytest.mark.parametrize("kind", ["um34c", "ina", "scpi"])
def test_every_wire_format_reads_the_board(deepx_board_name, deepx_board, deepx_bundle, deepx_meter, kind):
    board = deepx_board("rpi4b")
    run = board.run(deepx_bundle(CNN, board), meter=deepx_meter(kind, board=board))
    assert run.energy_mj == pytest.approx(run.modelled_mj, rel=1e-3) and run.energy_how.startswith(
        f"modelled: an emulated {kind} read the board's modelled power")
    assert deepx_board_name is None  # no marker: no board of its own


REAL = '''
import numpy as np
import pytest
from deepx import testing

MODEL = {model!r}
X = np.random.default_rng(0).random((1, 1, 32, 32), dtype=np.float32)


def test_flashes_over_ssh_and_measures(deepx_board, deepx_bundle, deepx_meter):
    board = deepx_board("jetson-nano")
    assert not board.emulated and board.root.startswith("ssh://")
    meter = deepx_meter("um25c", board=board)
    assert not meter.emulated
    run = board.run(deepx_bundle(MODEL, board), inputs={{"x": X}}, meter=meter)
    testing.assert_outputs_close(run.outputs, testing.onnxruntime_outputs(MODEL, X))
    assert run.refused is None and run.energy_how.startswith("measured by um25c:")
    assert abs(run.energy_mj) < 0.5  # a constant 3 W: nothing above the idle baseline
    assert all(p == pytest.approx(3.0, abs=1e-3) for _, p, _ in run.samples)


@pytest.mark.deepx_board("rpi4b", "jetson-nano")
def test_only_the_target_board_runs(deepx_board_name, deepx_board):
    assert deepx_board_name == "jetson-nano" and deepx_board().name == "jetson-nano"


@pytest.mark.deepx_emulated
def test_needs_the_emulator():
    raise AssertionError("not skipped")


def test_fault_injection_skips(deepx_meter):
    deepx_meter("um25c", corrupt=0.01)
    raise AssertionError("not skipped")
'''


def test_real_target_over_ssh_and_a_real_meter(sshd, deepx_meter, tmp_path):
    """--deepx-target (an sshd on 127.0.0.1) and --deepx-meter (an emulator's pty taken for a real meter)."""
    meter = deepx_meter("um25c", watts=3.0)
    (tmp_path / "test_real.py").write_text(REAL.format(model=CNN))
    target = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{tmp_path}/board"
    p = subprocess.run([sys.executable, "-m", "pytest", "-rs", "--strict-markers", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "--deepx-target", target, "--deepx-target-board", "jetson-nano",
                        "--deepx-ssh-config", str(sshd.config), "--deepx-python", sys.executable,
                        "--deepx-meter", meter.spec, "test_real.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "2 passed, 3 skipped" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]
    assert f"deepx: target {target} (jetson-nano), meter {meter.spec}" in p.stdout
    for reason in ("the real target ssh://", "is a jetson-nano board, not rpi4b",
                   "needs the emulated board and meter", "fault injection and set watts need the emulated meter"):
        assert reason in p.stdout, p.stdout
    assert (tmp_path / "board" / "deepx-run").exists()


def test_plan_messages_say_modelled_by_how_much_and_what_to_try(deepx_board):
    board = deepx_board("rpi4b")
    plan = board.plan(CNN)
    p = plan["predicted"]
    testing.assert_plan_fits(plan, CNN, board, deadline_ms=p["latency_ms"] * 1.01, energy_mj=p["energy_mj"] * 1.01,
                             memory_mb=8)
    with pytest.raises(AssertionError) as e:
        testing.assert_plan_fits(plan, CNN, "rpi4b", deadline_ms=0.5, energy_mj=1, memory_mb=1)
    msg = str(e.value)
    assert msg.startswith("plan for digits-cnn on rpi4b (modelled by the board's cost model, not measured): ")
    assert f"latency {p['latency_ms']:.3f} ms is over the deadline 0.5 ms by {p['latency_ms'] - 0.5:.3f} ms" in msg
    assert f"energy {p['energy_mj']:.3f} mJ per inference is over 1 mJ by" in msg and "try objective=" in msg
    held = testing.plan_memory(plan, CNN)["cpu"] / 2**20
    assert f"memory {held:.2f} MB on cpu is over 1 MB by {held - 1:.2f} MB" in msg


def test_shared_memory_counts_the_whole_board(deepx_board):
    board = deepx_board("jetson-nano")  # CPU and GPU share its DRAM
    plan = board.plan(CNN, objective="latency")
    held = testing.plan_memory(plan, CNN)
    assert len(held) == 2, plan["blocks"]  # both processors hold something in this plan
    total = sum(held.values()) / 2**20
    with pytest.raises(AssertionError, match=rf"memory {total:.2f} MB on the board \(shared\) is over"):
        testing.assert_plan_fits(plan, CNN, board, memory_mb=max(held.values()) / 2**20 + 0.01)


def test_outputs_message_names_the_worst_value():
    x = zoo.digits("digits-cnn")[2][:2]
    got = testing.assert_matches_onnxruntime(CNN, x)
    got["logits"][1, 3] += 0.5
    with pytest.raises(AssertionError, match=r"output 'logits': deepx differs from ONNX Runtime by up to 0\.5 "
                                             r"\(at \(1, 3\): .*\); allowed atol 0\.0001 \+ rtol 0\.001 x \|value\|, "
                                             r"1 of 20 values are out\. Try backend='ref'"):
        testing.assert_outputs_close(got, testing.onnxruntime_outputs(CNN, x))


def test_compression_promise():
    x, y = zoo.digits("digits-dnn")[2:]
    dnn = zoo.path("digits-dnn")
    figures = testing.assert_compression_keeps(dnn, x[:96], y[:96], error_budget=0.05, max_accuracy_loss=0.02,
                                               max_agreement_loss=0.02)
    assert figures["samples"] == 96 and figures["agreement"] >= 0.98
    with pytest.raises(AssertionError, match=r"RLC at error budget 1 \(.*x fewer FLOPs\) on your 96 samples: top-1 "
                                             r"agreement with the uncompressed model is .*% \(\d+ of 96 differ\), "
                                             r"the promise is >= 100\.00%.*Try a lower error_budget"):
        testing.assert_compression_keeps(dnn, x[:96], error_budget=1.0, max_agreement_loss=0.0)
    with pytest.raises(ValueError, match="max_accuracy_loss needs labels"):
        testing.assert_compression_keeps(dnn, x[:96], max_accuracy_loss=0.01)


def test_marker_without_the_fixture_is_a_usage_error(tmp_path):
    (tmp_path / "test_m.py").write_text("import pytest\n\n\n@pytest.mark.deepx_board('rpi4b')\ndef test_x():\n"
                                        "    pass\n")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "--strict-markers", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "test_m.py"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode != 0 and "the test must take deepx_board or deepx_board_name" in p.stdout + p.stderr
