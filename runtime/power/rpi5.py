"""Raspberry Pi 5 PMIC rails from `vcgencmd pmic_read_adc`, current and voltage paired by rail name.

Lines look like ` VDD_CORE_A current(7)=0.75012000A` and ` VDD_CORE_V volt(15)=0.72060000V`.
"""
import re
import subprocess
import time

from .meter import Meter, MeterError, Sample

LINE = re.compile(r"^\s*(\S+)_([AV]) (?:current|volt)\(\d+\)=([-+]?\d+(?:\.\d*)?)[AV]\s*$")
COMMAND = ["vcgencmd", "pmic_read_adc"]


def parse(text: str) -> dict[str, float]:
    """rail -> watts for every rail that has both a current and a voltage line."""
    amps, volts = {}, {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    return {rail: amps[rail] * volts[rail] for rail in amps if rail in volts}


class Rpi5Meter(Meter):
    """`rpi5?rails=VDD_CORE,...&interval=0.5` (default: the sum of every paired rail)."""

    def __init__(self, spec: str, rails: str = "", interval: float = 0.5):
        super().__init__()
        self.spec, self.interval_s = spec, interval
        found = parse(self._run())
        if not found:
            raise MeterError(f"{spec}: `{' '.join(COMMAND)}` printed no rail with both current and voltage")
        self.rails = rails.split(",") if rails else sorted(found)
        missing = [r for r in self.rails if r not in found]
        if missing:
            raise MeterError(f"{spec}: no rail {missing[0]}; rails here: {', '.join(sorted(found))}")

    def _run(self) -> str:
        try:
            return subprocess.run(COMMAND, capture_output=True, text=True, timeout=5, check=True).stdout
        except FileNotFoundError:
            raise MeterError(f"{self.spec}: vcgencmd not found; is this a Raspberry Pi 5?") from None
        except (subprocess.SubprocessError, OSError) as e:
            raise MeterError(f"{self.spec}: `{' '.join(COMMAND)}` failed: {e}") from None

    def read(self) -> list[Sample]:
        self._pace()
        try:
            watts = parse(self._run())
        except MeterError:
            self.stats["discarded"] += 1
            return []
        if not all(r in watts for r in self.rails):
            self.stats["discarded"] += 1
            return []
        self.stats["samples"] += 1
        return [Sample(time.monotonic(), sum(watts[r] for r in self.rails))]
