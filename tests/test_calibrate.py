"""`deepx calibrate` and the `host` board: a measured profile that loads, holds sane figures, and
predicts a zoo model's measured latency; where the host profile lives; watts from a meter."""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest

from deepx import boards, kernels
from deepx.runtime import calibrate, machine
from deepx.runtime import microbench as M
from deepx.boards.profile import MAX_EFFICIENCY
from deepx.models import io, load, zoo
from deepx.models.execute import run_graph
from deepx.runtime.plan import make_plan


def deepx(*args, **env):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """(profile path, `deepx calibrate --json` report) of a short calibration of this machine, on one
    thread: a thread that other load on the machine deschedules stalls its team at every barrier, which
    makes two-thread timings of small models swing by several times on a busy 2-core machine."""
    path = tmp_path_factory.mktemp("calibrate") / "this-machine.toml"
    p = deepx("calibrate", "-o", str(path), "--seconds", "4", "--threads", "1", "--json")
    assert p.returncode == 0, p.stderr
    return str(path), json.loads(p.stdout)


@pytest.fixture
def one_thread():
    kernels.set_threads(1)
    yield
    kernels.set_threads(0)


def sgemm_gflops(n=1024):
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    np.dot(a, b)
    best = min(timed(lambda: np.dot(a, b)) for _ in range(5))
    return 2.0 * n ** 3 / best / 1e9


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_calibrated_profile_loads_with_sane_figures(measured, one_thread):
    path, report = measured
    board = boards.load(path)
    assert board.name == "this-machine" and report["path"] == path and [p.id for p in board.processors][0] == "cpu"
    cpu = board.processor("cpu")
    assert cpu.cores == 1
    assert 1 / 3 < cpu.peak_gflops / sgemm_gflops() < 3
    assert 0.5 < cpu.bandwidth_gbps < 1000 and 0 < cpu.launch_us < 1000
    usable = {b for b in ("numba", "cython") if kernels.backend_usable(b)[0]}
    assert usable <= set(cpu.backends) <= usable | {"opencl"} and max(cpu.backends.values()) == 1.0
    assert set(cpu.efficiency) == set(boards.profile.OP_TYPES)
    assert all(0 < e <= MAX_EFFICIENCY for e in cpu.efficiency.values())
    text = open(path).read()
    assert "# measured sgemm: numpy float32" in text.split("peak_gflops", 1)[1].splitlines()[0]
    assert "estimate: no meter at calibration" in text.split("idle_w", 1)[1].splitlines()[0]
    assert "Command: deepx calibrate -o" in text and machine.cpu_name() in text
    rows = report["microbenchmarks"]
    assert {r["op_type"] for r in rows} == set(boards.profile.OP_TYPES) - {"default"}
    assert all(r["ms"] > 0 and r["model_ms"] > 0 for r in rows)


def test_plan_on_the_calibrated_machine_predicts_the_measured_latency(measured, one_thread):
    board = boards.load(measured[0])
    g = load.load_model(zoo.path("digits-cnn"), {"x": (1, 1, 32, 32)})
    plan = make_plan(g, "sha", board, "latency")
    backend = plan["blocks"][0]["backend"]
    assert {b["backend"] for b in plan["blocks"]} == {backend}
    feeds = io.random_inputs(g)
    run_graph(g, feeds, backend)
    measured_ms = 1e3 * statistics.median(timed(lambda: run_graph(g, feeds, backend)) for _ in range(30))
    predicted_ms = plan["predicted"]["latency_ms"]
    assert 1 / 3 < predicted_ms / measured_ms < 3, (predicted_ms, measured_ms)


def test_host_profile_path_from_env_or_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPX_HOST_PROFILE", str(tmp_path / "mine.toml"))
    assert boards.profile.host_path() == str(tmp_path / "mine.toml")
    monkeypatch.delenv("DEEPX_HOST_PROFILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert boards.profile.host_path() == str(tmp_path / "xdg" / "deepx" / "host.toml")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert boards.profile.host_path() == str(tmp_path / "home" / ".config" / "deepx" / "host.toml")


def test_host_board_reads_the_calibrated_profile(measured, monkeypatch):
    monkeypatch.setenv("DEEPX_HOST_PROFILE", measured[0])
    assert boards.load("host").path == measured[0]
    p = deepx("boards", DEEPX_HOST_PROFILE=measured[0])
    peak = boards.load("host").processors[0].peak_gflops
    assert p.returncode == 0 and p.stdout.splitlines()[0].split()[:3] == ["host", "cpu", f"{peak:g}"]


def test_host_without_a_profile_is_measured_quickly_once_by_the_commands(monkeypatch, tmp_path, capsys):
    path = tmp_path / "cfg" / "host.toml"
    monkeypatch.setenv("DEEPX_HOST_PROFILE", str(path))
    p = deepx("boards")
    assert p.returncode == 0 and "not calibrated yet" in p.stdout.splitlines()[0] and not path.exists()
    with pytest.raises(boards.BoardError, match="no profile yet .*`deepx calibrate`"):
        boards.load("host")  # loading a profile never measures
    assert not path.exists()
    board = calibrate.load_board("host")
    assert board.name == "host" and path.exists() and "QUICK calibration" in path.read_text()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"saved it to {path}" in err and "deepx calibrate" in err
    assert calibrate.load_board("host").processors == board.processors and capsys.readouterr().err == ""


def test_host_profile_that_cannot_be_saved_serves_the_run(monkeypatch, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DEEPX_HOST_PROFILE", str(tmp_path / "a-file" / "host.toml"))
    monkeypatch.setattr(calibrate, "QUICK_SECONDS", 0.3)
    board = calibrate.load_board("host")
    os.remove(board.path)
    assert board.name == "host" and os.path.basename(board.path).startswith("deepx-host-")
    assert "could not save it" in capsys.readouterr().err


def test_malformed_host_profile_names_file_and_line(monkeypatch, tmp_path):
    bad = tmp_path / "host.toml"
    bad.write_text('name = "host"\nidle_w = = 1\n')
    monkeypatch.setenv("DEEPX_HOST_PROFILE", str(bad))
    with pytest.raises(boards.BoardError, match=f"{bad}: malformed TOML: .*line 2"):
        boards.load("host")


def test_plan_cli_on_the_host_board(measured, tmp_path):
    out = tmp_path / "plan.json"
    p = deepx("plan", zoo.path("digits-cnn"), "--input-shape", "x=1,1,32,32", "--board", "host", "-o", str(out),
              DEEPX_HOST_PROFILE=measured[0])
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["board"] == "this-machine"  # the profile's own name


def test_watts_from_a_meter(emulator, tmp_path):
    """A meter whose power follows this process's CPU use: 2 W at rest, +4 W per busy core (the
    calibration's load gets as little as a fraction of a core on a busy machine)."""
    last = [time.monotonic(), time.process_time(), 2.0]

    def power(t):
        now, cpu = time.monotonic(), time.process_time()
        if now - last[0] > 0.02:
            last[:] = now, cpu, 2.0 + 4.0 * (cpu - last[1]) / (now - last[0])
        return last[2]

    port = emulator("um25c", power)
    r = calibrate.calibrate(0.5, backends=["cython"], opencl=False, meter=f"um25c:{port}?interval=0.05",
                            meter_seconds=1.0)
    path = tmp_path / "metered.toml"
    calibrate.write(calibrate.render(r, "test", "metered"), str(path))
    board = boards.load(str(path))
    assert 1.9 < board.idle_w < 3.0 and board.processors[0].active_w > 0.5
    assert "measured with meter um25c:" in path.read_text().split("idle_w", 1)[1].splitlines()[0]


def test_unwritable_output_fails_before_measuring(tmp_path):
    (tmp_path / "a-file").write_text("")
    t = time.perf_counter()
    p = deepx("calibrate", "-o", str(tmp_path / "a-file" / "x.toml"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and time.perf_counter() - t < 30
    where = tmp_path / "a-file"
    assert p.stderr.strip() == f"deepx: error: {where}/x.toml: cannot write: {where} is not a folder"


DEVICES = machine.opencl_devices()[0]
OPENCL = "opencl" in kernels.BACKENDS and kernels.backend_usable("opencl")[0]


@pytest.mark.skipif(not DEVICES, reason=machine.opencl_devices()[1] or "no OpenCL device")
def test_opencl_transfer_and_bandwidth_figures():
    for _, dev in DEVICES:
        latency_us, gbps = M.host_to_device(dev, 0.2)
        assert 0 < latency_us < 1e5 and 0.05 < gbps < 1e4
        assert 0.05 < M.device_bandwidth_gbps(dev, 0.2)[0] < 1e5


@pytest.mark.skipif(not OPENCL, reason="the opencl backend is not usable here")
def test_opencl_specs_name_their_device_and_a_cpu_device_is_a_cpu_backend():
    from deepx.kernels.opencl import find_device

    for spec, dev in DEVICES:
        assert find_device(spec) == dev
    procs, notes = calibrate.targets()
    cpu_devices = [spec for spec, dev in DEVICES if not machine.is_gpu(dev)]
    assert len(procs) == 1 + sum(machine.is_gpu(dev) for _, dev in DEVICES)
    if cpu_devices:
        assert "opencl" in procs[0].backends and procs[0].device_spec == cpu_devices[0]
        assert any("the host's own cores" in n for n in notes)
