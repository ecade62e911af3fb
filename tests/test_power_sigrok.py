"""sigrok-cli's scpi-pps driver (libsigrok's Rigol DP800 profile) against the SCPI emulator over TCP.

Skipped without sigrok-cli (`apt-get install sigrok-cli`; .ci/run installs it when run as root).
"""
import re
import shutil
import subprocess
import time

import pytest

from deepx.tools.meter_emulators import constant

pytestmark = pytest.mark.skipif(shutil.which("sigrok-cli") is None,
                                reason="sigrok-cli not on PATH (apt-get install sigrok-cli)")


def sigrok(url: str, *args: str) -> str:
    """Run sigrok-cli on the emulator at socket://127.0.0.1:PORT; its stdout."""
    port = url.rsplit(":", 1)[1]
    p = subprocess.run(["sigrok-cli", "-d", f"scpi-pps:conn=tcp-raw/127.0.0.1/{port}", *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def eventually(condition, seconds: float = 2.0) -> bool:
    """Whether `condition()` holds within `seconds` (the emulator's thread reads sigrok's last commands)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def readings(out: str) -> dict[str, list[float]]:
    """{"V1": [volts, ...], "I1": [amps, ...], "P1": [watts, ...], ...} from lines like `I1: 360.0 mA DC`."""
    got = {}
    for name, value, milli in re.findall(r"^([VIP][123]): (-?[\d.]+) (m?)[VAW]\b", out, re.M):
        got.setdefault(name, []).append(float(value) / (1000 if milli else 1))
    return got


def test_sigrok_reads_voltage_current_power(emulator):
    url = emulator("scpi", constant(1.8), tcp_port=0)
    got = readings(sigrok(url, "--samples", "3"))
    assert sorted(got) == sorted(f"{q}{ch}" for ch in "123" for q in "VIP") and all(len(v) == 3 for v in got.values())
    assert got["V1"] == [5.0] * 3 and got["I1"] == pytest.approx([0.36] * 3) and got["P1"] == pytest.approx([1.8] * 3)
    assert all(x == 0 for ch in "23" for q in "VIP" for x in got[f"{q}{ch}"])  # outputs off
    assert eventually(lambda: not emulator.last.remote)  # sigrok's SYST:LOCAL on closing
    assert emulator.last.errors == [] and emulator.last.state[0]["beeper"]  # the beeper it turned off, back on


def test_sigrok_sets_and_shows_a_channel(emulator):
    url = emulator("scpi", constant(1.8), tcp_port=0)
    sigrok(url, "-g", "2", "--config", "voltage_target=7.5:enabled=on", "--set")
    assert eventually(lambda: emulator.last.state[2]["volt"] == 7.5 and emulator.last.state[2]["output"])
    assert sigrok(url, "-g", "2", "--get", "voltage_target").strip() == "7.5"
    shown = sigrok(url, "-g", "2", "--show")
    for line in ("regulation: CV", "ovp_threshold: 33.000000", "ocp_threshold: 3.300000", "voltage: 7.500000"):
        assert line in shown
    assert readings(sigrok(url, "--samples", "1"))["V2"] == [7.5]
    assert emulator.last.errors == []
