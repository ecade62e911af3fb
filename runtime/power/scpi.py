"""An SCPI bench supply or DMM on a serial line or a TCP socket (Rigol DP800, Keysight E36xx style).

After `*IDN?`, `SYST:REM` and `:INST:NSEL <channel>`, each sample is `:MEAS:VOLT?` and `:MEAS:CURR?`;
power is their product (`:MEAS:POWE?` is DP800-only). Replies end in a newline.
"""
import math
import time

from .meter import LineBuffer, MeterError, Sample, SerialMeter, open_port, read_some, write


def parse_number(reply: str | None) -> float | None:
    """The finite number a measurement query returned, or None."""
    try:
        value = float(reply)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class ScpiMeter(SerialMeter):
    """`scpi:PORT?baud=9600&channel=1&interval=0.1&timeout=1` (PORT may be `socket://HOST:5555`)."""

    gives_vi = True

    def __init__(self, spec: str, url: str, baud: int = 9600, channel: int = 1, interval: float = 0.1,
                 timeout: float = 1.0):
        super().__init__()
        self.spec, self.url, self.baud, self.channel = spec, url, baud, channel
        self.interval_s, self.timeout = interval, timeout
        self.stats["polls"] = 0
        self.open()

    def _connect(self):
        self.port = open_port(self.spec, self.url, self.baud, timeout=0.05)
        self.lines = LineBuffer()

    def _probe(self):
        self.idn = self.query("*IDN?")
        if not self.idn:
            raise MeterError(f"{self.spec}: no reply to *IDN? within {self.timeout:g} s")
        write(self.port, self.spec, f"SYST:REM\n:INST:NSEL {self.channel}\n".encode())

    def query(self, command: str) -> str | None:
        """Send one query and return its reply line, or None after `timeout`."""
        self.port.reset_input_buffer()
        self.lines = LineBuffer()
        write(self.port, self.spec, command.encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            lines = self.lines.feed(read_some(self.port, self.spec))
            if lines:
                return lines[0]
        return None

    def read(self) -> list[Sample]:
        self._pace()
        self.stats["polls"] += 1
        v = self._measure(":MEAS:VOLT?")
        i = None if v is None else self._measure(":MEAS:CURR?")
        if i is None:
            return []
        self.stats["samples"] += 1
        return [Sample(time.monotonic(), v * i, v, i)]

    def _measure(self, command: str) -> float | None:
        reply = self.query(command)
        value = parse_number(reply)
        if reply is None:
            self.stats["timeouts"] += 1
        elif value is None:
            self.stats["discarded"] += 1
        return value
