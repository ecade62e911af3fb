"""An INA219 / INA226 / INA260 read by a microcontroller that prints one CSV line per sample.

`columns` names each field: `V`/`mV`, `A`/`mA`, `W`/`mW` are used, any other name (`ms`, `_`) is ignored.
Power is the W column when there is one, else V × A. Lines that are not data (a banner after the DTR
reset that opening the port causes, a header, a torn line) are skipped. Samples carry the host's time of
arrival.
"""
import math
import time

from .meter import LineBuffer, MeterError, Sample, SerialMeter, open_port, read_some

UNITS = {"V": ("v", 1.0), "mV": ("v", 1e-3), "A": ("i", 1.0), "mA": ("i", 1e-3), "W": ("p", 1.0), "mW": ("p", 1e-3)}


class LineParser:
    """CSV line -> (volts, amps, watts) with None for what the columns do not give, or None if not data."""

    def __init__(self, spec: str, columns: str):
        self.columns = [UNITS.get(name.strip(), (None, 0.0)) for name in columns.split(",")]
        have = {q for q, _ in self.columns if q}
        if "p" not in have and not {"v", "i"} <= have:
            raise MeterError(f"{spec}: columns={columns} gives neither power (W, mW) nor voltage and current "
                             "(V or mV, and A or mA)")
        self.gives_vi = {"v", "i"} <= have

    def parse(self, line: str) -> tuple[float | None, float | None, float] | None:
        fields = line.split(",")
        if len(fields) != len(self.columns):
            return None
        got = {}
        for text, (quantity, scale) in zip(fields, self.columns):
            try:
                value = float(text)
            except ValueError:
                return None
            if not math.isfinite(value):
                return None
            if quantity:
                got[quantity] = value * scale
        v, i = got.get("v"), got.get("i")
        return v, i, got["p"] if "p" in got else v * i


class InaMeter(SerialMeter):
    """`ina:PORT?baud=115200&columns=ms,V,mA&timeout=3[&interval=S]` (by default the period is measured)."""

    PROBE_LINES = 5

    def __init__(self, spec: str, url: str, baud: int = 115200, columns: str = "ms,V,mA", timeout: float = 3.0,
                 interval: float = 0.0):
        super().__init__()
        self.spec, self.url, self.baud, self.timeout = spec, url, baud, timeout
        self.interval_s = interval
        self.parser = LineParser(spec, columns)
        self.gives_vi = self.parser.gives_vi
        self.open()

    def _connect(self):
        self.port = open_port(self.spec, self.url, self.baud, timeout=0.1)
        self.port.reset_input_buffer()  # stale lines queued before we opened
        self.lines = LineBuffer(skip_first=True)

    def _probe(self):
        """Wait for a few data lines (an Arduino takes about 2 s to boot) and measure their period."""
        deadline, stamps, last = time.monotonic() + self.timeout, [], None
        while time.monotonic() < deadline and len(stamps) < self.PROBE_LINES:
            for line in self.lines.feed(read_some(self.port, self.spec)):
                last = line
                if self.parser.parse(line) is not None:
                    stamps.append(time.monotonic())
        if len(stamps) < self.PROBE_LINES:
            seen = f"last line seen: {last[:60]!r}" if last is not None else "no complete line at all"
            raise MeterError(f"{self.spec}: fewer than {self.PROBE_LINES} data lines within {self.timeout:g} s "
                             f"({seen})")
        if not self.interval_s:
            self.interval_s = max((stamps[-1] - stamps[0]) / (len(stamps) - 1), 1e-3)

    def read(self) -> list[Sample]:
        out = []
        data = read_some(self.port, self.spec)
        now = time.monotonic()
        for line in self.lines.feed(data):
            vip = self.parser.parse(line)
            if vip is None:
                self.stats["discarded"] += 1
                continue
            v, i, p = vip
            out.append(Sample(now, p, v, i))
        self.stats["samples"] += len(out)
        return out
