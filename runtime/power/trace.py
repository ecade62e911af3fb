"""Power traces as CSV: `time_s,power_w[,voltage_v,current_a][,window]`, one row per sample, flushed per row."""
import csv
import math
from typing import NamedTuple, TextIO

from .meter import MeterError, Sample


class TraceWriter:
    """Writes samples as they come; time is seconds since `t0` (a `time.monotonic()` value)."""

    def __init__(self, f: TextIO, t0: float, with_vi: bool, with_window: bool):
        self.f, self.t0, self.with_vi, self.with_window = f, t0, with_vi, with_window
        self.rows = 0
        self._csv = csv.writer(f, lineterminator="\n")
        self._csv.writerow(["time_s", "power_w"] + ["voltage_v", "current_a"] * with_vi + ["window"] * with_window)
        f.flush()

    def write(self, s: Sample, window: str = ""):
        row = [f"{s.t - self.t0:.6f}", f"{s.power_w:.6g}"]
        if self.with_vi:
            row += ["" if s.voltage_v is None else f"{s.voltage_v:.6g}",
                    "" if s.current_a is None else f"{s.current_a:.6g}"]
        if self.with_window:
            row.append(window)
        self._csv.writerow(row)
        self.f.flush()
        self.rows += 1


class Trace(NamedTuple):
    time_s: list[float]
    power_w: list[float]
    window: list[str]  # "" where no window was open (all "" when the file has no window column)
    modelled_w: list[float] | None = None  # an emulated board's modelled mean power, where the file has the column


def read_trace(path: str) -> Trace:
    """Read a trace CSV; `MeterError` naming the file and line when it is not one."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise MeterError(f"{path}: cannot read: {e}") from None
    if not rows or "time_s" not in rows[0] or "power_w" not in rows[0]:
        raise MeterError(f"{path}:1: not a power trace (expected a header with time_s and power_w)")
    head = rows[0]
    it, ip = head.index("time_s"), head.index("power_w")
    iw = head.index("window") if "window" in head else None
    im = head.index("modelled_w") if "modelled_w" in head else None
    trace = Trace([], [], [], [] if im is not None else None)
    for n, row in enumerate(rows[1:], start=2):
        try:
            t, p = float(row[it]), float(row[ip])
        except (IndexError, ValueError):
            raise MeterError(f"{path}:{n}: expected numbers in columns time_s and power_w, got {row}") from None
        if not (math.isfinite(t) and math.isfinite(p)):
            raise MeterError(f"{path}:{n}: time_s and power_w must be finite, got {row}")
        trace.time_s.append(t)
        trace.power_w.append(p)
        trace.window.append(row[iw] if iw is not None and iw < len(row) else "")
        if im is not None:
            trace.modelled_w.append(_number(row, im, path, n))
    return trace


def _number(row: list, i: int, path: str, n: int) -> float:
    try:
        x = float(row[i])
    except (IndexError, ValueError):
        raise MeterError(f"{path}:{n}: expected a number in column modelled_w, got {row}") from None
    if not math.isfinite(x):
        raise MeterError(f"{path}:{n}: modelled_w must be finite, got {row}")
    return x
