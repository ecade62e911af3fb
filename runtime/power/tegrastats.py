"""Jetson `tegrastats` output: `VDD_IN 5832mW/5852mW ...` (new L4T) or `POM_5V_IN 3500/3500 ...` (old Nano).

The first number of a pair is the instant power in mW. `tegrastats` runs the tool, `tegrastats:FILE`
follows a log written by `tegrastats --logfile FILE`.
"""
import os
import re
import select
import subprocess
import time

from .meter import LineBuffer, Meter, MeterError, MeterLost, Sample

RAIL = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?\b")
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


def parse_line(line: str) -> dict[str, float]:
    """rail -> instant watts for every `NAME a/b` or `NAME amW/bmW` pair on a tegrastats line."""
    return {m.group(1): int(m.group(2)) / 1e3 for m in RAIL.finditer(line)}


class TegrastatsMeter(Meter):
    """`tegrastats?rail=VDD_IN&interval=0.1&timeout=3`, or `tegrastats:FILE` to follow a log."""

    def __init__(self, spec: str, path: str = "", rail: str = "", interval: float = 0.1, timeout: float = 3.0):
        super().__init__()
        self.spec, self.path, self.rail, self.interval_s, self.timeout = spec, path, rail, interval, timeout
        self.proc = None
        self.open()

    def open(self):
        if self.path:
            try:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as e:
                raise MeterError(f"{self.spec}: cannot open {self.path}: {e.strerror}") from None
            os.lseek(self.fd, 0, os.SEEK_END)
        else:
            cmd = ["tegrastats", "--interval", str(round(self.interval_s * 1000))]
            try:
                self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as e:
                raise MeterError(f"{self.spec}: cannot run tegrastats ({e.strerror}); is this a Jetson?") from None
            self.fd = self.proc.stdout.fileno()
        self.lines = LineBuffer(max_len=4096, skip_first=bool(self.path))
        self._choose_rail()

    def close(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        else:
            os.close(self.fd)

    def _choose_rail(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for line in self.lines.feed(self._read_some()):
                rails = parse_line(line)
                if not rails:
                    continue
                if not self.rail:
                    self.rail = next((r for r in INPUT_RAILS if r in rails), "")
                if self.rail in rails:
                    return
                self.close()
                raise MeterError(f"{self.spec}: no rail {self.rail or 'VDD_IN or POM_5V_IN'} in tegrastats "
                                 f"output; rails there: {', '.join(rails)} (choose with rail=NAME)")
        self.close()
        raise MeterError(f"{self.spec}: no tegrastats line with power rails within {self.timeout:g} s")

    def _read_some(self) -> bytes:
        if not select.select([self.fd], [], [], self.interval_s)[0]:
            return b""
        data = os.read(self.fd, 65536)
        if not data:
            if self.proc:
                raise MeterLost(f"{self.spec}: tegrastats exited with code {self.proc.wait()}")
            time.sleep(self.interval_s / 2)  # end of a log file for now
        return data

    def read(self) -> list[Sample]:
        data = self._read_some()
        now, out = time.monotonic(), []
        for line in self.lines.feed(data):
            watts = parse_line(line).get(self.rail)
            if watts is None:
                self.stats["discarded"] += 1
            else:
                out.append(Sample(now, watts))
        self.stats["samples"] += len(out)
        return out
