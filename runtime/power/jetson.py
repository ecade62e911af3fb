"""A Jetson's INA3221 power monitor through sysfs: mainline hwmon, or the older L4T iio driver.

hwmon: `.../ina3221/<bus>-0040/hwmon/hwmonN/in<k>_label`, `in<k>_input` (mV), `curr<k>_input` (mA).
iio (old L4T): `.../ina3221x/<bus>-0040/iio:deviceN/rail_name_<k>`, `in_power<k>_input` (mW),
`in_voltage<k>_input` (mV), `in_current<k>_input` (mA).
"""
import glob
import os
import re
import time

from .meter import Meter, MeterError, Sample

HWMON = "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label"
IIO = "sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*"
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")  # the whole module's input (Orin / Xavier, Nano)


def _read_number(path: str) -> float:
    with open(path) as f:
        return float(f.read().strip())


def find_rails(root: str) -> dict[str, tuple[str, str, str | None]]:
    """rail name -> (voltage file in mV, current file in mA, power file in mW or None)."""
    rails = {}
    for label in sorted(glob.glob(os.path.join(root, HWMON))):
        k = re.search(r"in(\d+)_label$", label).group(1)
        d = os.path.dirname(label)
        with open(label) as f:
            rails[f.read().strip()] = (f"{d}/in{k}_input", f"{d}/curr{k}_input", None)
    for name_file in sorted(glob.glob(os.path.join(root, IIO))):
        k = name_file.rsplit("_", 1)[1]
        d = os.path.dirname(name_file)
        with open(name_file) as f:
            rails[f.read().strip()] = (f"{d}/in_voltage{k}_input", f"{d}/in_current{k}_input",
                                       f"{d}/in_power{k}_input")
    return rails


class JetsonMeter(Meter):
    """`jetson?rails=VDD_IN&interval=0.05&root=/` (several rails are summed; default: the input rail)."""

    def __init__(self, spec: str, root: str = "/", rails: str = "", interval: float = 0.05):
        super().__init__()
        self.spec, self.interval_s = spec, interval
        found = find_rails(root)
        if not found:
            raise MeterError(f"{spec}: no INA3221 under {root} (looked for {HWMON} and {IIO})")
        names = rails.split(",") if rails else [r for r in INPUT_RAILS if r in found][:1]
        if not names:
            raise MeterError(f"{spec}: no input rail here; choose with rails=NAME among {', '.join(found)}")
        missing = [n for n in names if n not in found]
        if missing:
            raise MeterError(f"{spec}: no rail {missing[0]}; rails here: {', '.join(found)}")
        self.rails = [found[n] for n in names]
        self.gives_vi = len(self.rails) == 1

    def read(self) -> list[Sample]:
        self._pace()
        try:
            vip = [self._rail(*files) for files in self.rails]
        except (OSError, ValueError):
            self.stats["discarded"] += 1
            return []
        self.stats["samples"] += 1
        p = sum(w for _, _, w in vip)
        v, i = (vip[0][0], vip[0][1]) if self.gives_vi else (None, None)
        return [Sample(time.monotonic(), p, v, i)]

    @staticmethod
    def _rail(volt_file: str, curr_file: str, power_file: str | None) -> tuple[float, float, float]:
        v, i = _read_number(volt_file) / 1e3, _read_number(curr_file) / 1e3
        return v, i, _read_number(power_file) / 1e3 if power_file else v * i
