"""Board profiles (every shipped TOML file validates), their errors, and the cost model."""
import pytest

from deepx import boards
from deepx.boards import BoardError, cost

ISSUE_BOARDS = ["jetson-tk1", "jetson-nano", "jetson-tx2", "jetson-xavier-nx", "jetson-orin-nano", "rpi3b",
                "rpi4b", "rpi5"]
GOOD = open(boards.profile.HERE + "/jetson-nano.toml").read()


@pytest.mark.parametrize("name", ISSUE_BOARDS)
def test_every_board_loads_with_a_cpu_and_a_gpu(name):
    b = boards.load(name)
    assert b.name == name and [p.kind for p in b.processors] == ["cpu", "gpu"]
    for p in b.processors:
        assert p.peak_gflops > 0 and p.bandwidth_gbps > 0 and p.active_w > 0 and "default" in p.efficiency
        assert set(p.backends) <= {"numba", "cython", "opencl"}
    assert b.processor("gpu").backends == {"opencl": 1.0}
    assert "# " in open(b.path).read().split("peak_gflops", 1)[1].splitlines()[0]  # each figure has a source


def test_names_lists_the_issue_boards():
    assert boards.names() == sorted(ISSUE_BOARDS)


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError, match="unknown board 'jetson-nanoo' \\(known boards: host, jetson-nano, "):
        boards.load("jetson-nanoo")


def write(tmp_path, text):
    path = tmp_path / "b.toml"
    path.write_text(text)
    return str(path)


def test_malformed_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, GOOD.replace("idle_w = 1.5", "idle_w = = 1.5"))
    line = GOOD.splitlines().index(next(x for x in GOOD.splitlines() if x.startswith("idle_w"))) + 1
    with pytest.raises(BoardError, match=f"{path}: malformed TOML: .*line {line}"):
        boards.load(path)


def test_missing_key_names_the_key_and_its_section_line(tmp_path):
    text = GOOD.replace("peak_gflops = 236 ", "#")
    path = write(tmp_path, text)
    header = [i for i, x in enumerate(text.splitlines(), 1) if x.strip() == "[[processors]]"][1]
    with pytest.raises(BoardError, match=f"b.toml:{header}: processors\\[1\\].peak_gflops: missing"):
        boards.load(path)


@pytest.mark.parametrize("old,new,why", [
    ("active_w = 3.5 ", "active_w = -3.5 ", "processors\\[1\\].active_w: must be a positive number"),
    ('kind = "gpu"', 'kind = "dsp"', "processors\\[1\\].kind: 'dsp' is not one of cpu, gpu"),
    ("backends = { opencl = 1.0 }", "backends = { cuda = 1.0 }", "unknown entry 'cuda'"),
    ("conv = 0.35,", "conv = 2.5,", "conv = 2.5: must be a number in \\(0, 2\\]"),
    ("opencl = 1.0", "opencl = 1.5", "opencl = 1.5: must be a number in \\(0, 1\\]"),
    ("memory_mb = 4096 ", 'memory_mb = "4G" ', "memory_mb: expected float, got str"),
])
def test_bad_values_name_the_key_and_line(tmp_path, old, new, why):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    path = write(tmp_path, text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if new in x)
    with pytest.raises(BoardError, match=f"b.toml:{line}: .*{why}"):
        boards.load(path)


def test_roofline_takes_the_larger_bound_plus_launch():
    gpu = boards.load("jetson-nano").processor("gpu")
    compute = cost.Work("conv", 2e9, 1e3)  # 2 GFLOP at 236 * 0.35 GFLOP/s
    memory = cost.Work("conv", 1e3, 256e6)  # 256 MB at 25.6 GB/s
    assert cost.work_ms(gpu, "opencl", compute) == pytest.approx(2e9 / (236 * 0.35e9) * 1e3 + 0.06)
    assert cost.work_ms(gpu, "opencl", memory) == pytest.approx(10.0 + 0.06)
    cpu = boards.load("jetson-nano").processor("cpu")
    assert cost.work_ms(cpu, "numba", compute) > cost.work_ms(cpu, "cython", compute)  # numba listed slower


def test_energy_is_power_times_time():
    b = boards.load("jetson-tk1")
    gpu, cpu = b.processor("gpu"), b.processor("cpu")
    assert cost.busy_mj(b, gpu, 10.0) == pytest.approx((1.6 + 3.5) * 10.0)
    ms, mj = cost.concurrent(b, [(cpu, 4.0, 1e6), (gpu, 10.0, 1e6)])
    assert ms == 10.0 and mj == pytest.approx(1.6 * 10 + 3.0 * 4 + 3.5 * 10)
    ms, _ = cost.concurrent(b, [(cpu, 4.0, 100e6), (gpu, 5.0, 100e6)])  # both stream from one shared DRAM
    assert ms == pytest.approx(200e6 / 14.9e9 * 1e3)
    assert cost.transfer_ms(b, 7.5e6) == pytest.approx(0.05 + 1.0)
