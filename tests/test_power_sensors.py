"""On-board sensors: Jetson INA3221 sysfs (hwmon and old iio) in a fake tree, tegrastats and vcgencmd as fake
executables on PATH, NVML when nvidia-ml-py and a GPU are there."""
import sys
import threading
import time

import pytest

from deepx.runtime.power import MeterError, Sampler, open_meter
from deepx.runtime.power.rpi5 import parse as parse_pmic
from deepx.runtime.power.tegrastats import parse_line

ORIN_LINE = ("RAM 2783/7620MB (lfb 2x4MB) SWAP 0/3810MB (cached 0MB) CPU [2%@729,1%@729] EMC_FREQ 0% "
             "GR3D_FREQ 0% cpu@47.5C VDD_IN 5832mW/5852mW VDD_CPU_GPU_CV 1307mW/1327mW VDD_SOC 1532mW/1540mW")
NANO_LINE = ("RAM 1500/3964MB (lfb 4x4MB) SWAP 0/1982MB (cached 0MB) CPU [5%@1479,off,off,off] EMC_FREQ 2%@1600 "
             "GR3D_FREQ 0%@76 APE 25 PLL@35C CPU@37C POM_5V_IN 3500/3400 POM_5V_GPU 0/0 POM_5V_CPU 574/560")
PMIC = """ 3V7_WL_SW_A current(0)=0.10247250A
 3V3_SYS_A current(1)=0.06831500A
 VDD_CORE_A current(7)=0.75012000A
 3V7_WL_SW_V volt(8)=3.71043000V
 3V3_SYS_V volt(9)=3.31197600V
 VDD_CORE_V volt(15)=0.72060000V
 EXT5V_V volt(24)=5.10540000V
 BATT_V volt(25)=0.00000000V
"""


def sample_for(spec, seconds=0.3):
    meter = open_meter(spec)
    with Sampler(meter) as sampler, sampler.window("w"):
        time.sleep(seconds)
    meter.close()
    return sampler.report("w"), sampler.samples


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_jetson_hwmon(tmp_path):
    d = tmp_path / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    for k, (label, mv, ma) in enumerate([("VDD_IN", 5080, 1200), ("VDD_CPU_GPU_CV", 5000, 300),
                                          ("VDD_SOC", 5000, 250)], start=1):
        write(d / f"in{k}_label", label + "\n")
        write(d / f"in{k}_input", f"{mv}\n")
        write(d / f"curr{k}_input", f"{ma}\n")
    report, samples = sample_for(f"jetson?root={tmp_path}&interval=0.02")
    assert report.mean_w == pytest.approx(5.08 * 1.2) and samples[0].voltage_v == 5.08 and report.samples >= 10
    report, samples = sample_for(f"jetson?root={tmp_path}&rails=VDD_SOC,VDD_CPU_GPU_CV&interval=0.02")
    assert report.mean_w == pytest.approx(5 * 0.55) and samples[0].voltage_v is None
    with pytest.raises(MeterError, match="no rail VDD_GPU; rails here: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC"):
        open_meter(f"jetson?root={tmp_path}&rails=VDD_GPU")


def test_jetson_old_iio(tmp_path):
    d = tmp_path / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for k, (name, mw) in enumerate([("POM_5V_IN", 3500), ("POM_5V_GPU", 80), ("POM_5V_CPU", 570)]):
        write(d / f"rail_name_{k}", name + "\n")
        write(d / f"in_power{k}_input", f"{mw}\n")
        write(d / f"in_voltage{k}_input", "5000\n")
        write(d / f"in_current{k}_input", f"{mw // 5}\n")
    report, _ = sample_for(f"jetson?root={tmp_path}&interval=0.02")
    assert report.mean_w == pytest.approx(3.5)


def test_tegrastats_lines():
    assert parse_line(ORIN_LINE) == {"VDD_IN": 5.832, "VDD_CPU_GPU_CV": 1.307, "VDD_SOC": 1.532}
    assert parse_line(NANO_LINE) == {"POM_5V_IN": 3.5, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.574}


@pytest.fixture
def fake_tool(tmp_path, monkeypatch):
    """fake_tool(name, python_body): an executable `name` on PATH running python_body."""
    def make(name, body):
        exe = tmp_path / "bin" / name
        write(exe, f"#!{sys.executable}\n{body}")
        exe.chmod(0o755)
        monkeypatch.setenv("PATH", f"{exe.parent}:/usr/bin:/bin")
    return make


def test_tegrastats_runs_the_tool(fake_tool):
    fake_tool("tegrastats", f"import sys, time\nms = int(sys.argv[sys.argv.index('--interval') + 1])\n"
                            f"while True:\n    print({NANO_LINE!r}, flush=True)\n    time.sleep(ms / 1000)\n")
    report, _ = sample_for("tegrastats?interval=0.02")
    assert report.mean_w == pytest.approx(3.5) and report.samples >= 8
    report, _ = sample_for("tegrastats?interval=0.02&rail=POM_5V_CPU")
    assert report.mean_w == pytest.approx(0.574)
    with pytest.raises(MeterError, match="no rail VDD_GPU in tegrastats output; rails there: POM_5V_IN"):
        open_meter("tegrastats?rail=VDD_GPU")


def test_tegrastats_follows_a_log_file(tmp_path):
    log = tmp_path / "tegrastats.log"
    log.write_text(ORIN_LINE + "\n")
    stop = threading.Event()

    def writer():
        with open(log, "a") as f:
            while not stop.wait(0.02):
                f.write(ORIN_LINE + "\n")
                f.flush()

    t = threading.Thread(target=writer)
    t.start()
    try:
        report, _ = sample_for(f"tegrastats:{log}?interval=0.02")
    finally:
        stop.set()
        t.join()
    assert report.mean_w == pytest.approx(5.832) and report.samples >= 8


def test_rpi5_pairs_rails_by_name(fake_tool):
    watts = parse_pmic(PMIC)
    assert watts == pytest.approx({"3V7_WL_SW": 0.1024725 * 3.71043, "3V3_SYS": 0.068315 * 3.311976,
                                   "VDD_CORE": 0.75012 * 0.7206})
    fake_tool("vcgencmd", f"print({PMIC!r})")
    report, _ = sample_for("rpi5?interval=0.05", 0.4)
    assert report.mean_w == pytest.approx(sum(watts.values()))
    report, _ = sample_for("rpi5?interval=0.05&rails=VDD_CORE", 0.2)
    assert report.mean_w == pytest.approx(watts["VDD_CORE"])


def test_nvml():
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        pytest.skip(f"no NVIDIA driver here: {e}")
    report, _ = sample_for("nvml:0?interval=0.02")
    assert report.samples >= 8 and 1 < report.mean_w < 2000
