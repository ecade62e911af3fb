"""What every meter driver shares: the sample, the errors, the serial port opener and a line splitter."""
import os
import time
from abc import ABC, abstractmethod
from typing import NamedTuple

import serial

from ...errors import DeepxError


class MeterError(DeepxError):
    """A meter cannot be opened or does not answer as its model should."""


class MeterLost(MeterError):
    """The meter went away in the middle of a run (unplugged, port closed)."""


class Sample(NamedTuple):
    """One reading, stamped with the host's `time.monotonic()`."""

    t: float
    power_w: float
    voltage_v: float | None = None
    current_a: float | None = None


class Meter(ABC):
    """A driver: `read()` blocks for at most about a second and returns the new samples (maybe none).

    `read()` raises `MeterLost` when the device is gone; `reopen()` raises `MeterError` while it stays gone.
    `interval_s` is the sampling period; `gives_vi` says whether samples carry voltage and current;
    `replays_model` says the samples are an emulated board's modelled power, not a measurement.
    """

    spec = ""
    interval_s = 0.1
    gives_vi = False
    replays_model = False

    def __init__(self):
        self.stats = {"samples": 0, "discarded": 0, "timeouts": 0}
        self._next = None

    @abstractmethod
    def read(self) -> list[Sample]:
        """The samples read since the last call."""

    def open(self):
        """(Re)connect to the device; the constructor calls it."""

    def close(self):
        """Release the device."""

    def _pace(self):
        """Sleep until the next tick of a drift-free `interval_s` clock (skipping ticks already missed)."""
        now = time.monotonic()
        if self._next is None or now - self._next > self.interval_s:
            self._next = now
        time.sleep(max(0.0, self._next - now))
        self._next += self.interval_s


class SerialMeter(Meter):
    """A meter on a serial line: `_connect()` opens `self.port` and resets the reading state, `_probe()`
    checks that the device answers as its model should (raising MeterError, the port then closed again)."""

    def open(self):
        self._connect()
        try:
            self._probe()
        except MeterError:
            self.port.close()
            raise

    def close(self):
        self.port.close()

    @abstractmethod
    def _connect(self):
        """Open self.port."""

    @abstractmethod
    def _probe(self):
        """Raise MeterError unless the device answers."""


def open_port(spec: str, url: str, baudrate: int, timeout: float, **kwargs) -> serial.SerialBase:
    """`serial.serial_for_url` with an exclusive lock; failures become one-line `MeterError`s."""
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, exclusive=True, **kwargs)
    except (serial.SerialException, OSError, ValueError) as e:
        if "exclusively lock" in str(e):
            raise MeterError(f"{spec}: port {url} is busy (another program holds it open)") from None
        text = os.strerror(e.errno) if getattr(e, "errno", None) else str(e)
        raise MeterError(f"{spec}: cannot open port {url}: {text}") from None


def read_some(port: serial.SerialBase, spec: str) -> bytes:
    """Whatever the port has (waiting up to its timeout for one byte); `MeterLost` if the port is gone."""
    try:
        return port.read(max(1, port.in_waiting))
    except (serial.SerialException, OSError) as e:
        raise MeterLost(f"{spec}: {e}") from None


def write(port: serial.SerialBase, spec: str, data: bytes):
    try:
        port.write(data)
    except (serial.SerialException, OSError) as e:
        raise MeterLost(f"{spec}: {e}") from None


class LineBuffer:
    """Splits a byte stream into text lines; drops undecodable bytes and lines longer than `max_len`.

    The first (possibly partial) line is dropped when `skip_first` is set, as after opening a live stream.
    """

    def __init__(self, max_len: int = 256, skip_first: bool = False):
        self.max_len = max_len
        self._buf = b""
        self._skip = skip_first

    def feed(self, data: bytes) -> list[str]:
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        if lines and self._skip:
            lines.pop(0)
            self._skip = False
        if len(self._buf) > self.max_len:  # a line this long is noise: drop it up to its end
            self._buf, self._skip = b"", True
        return [line.decode("ascii", "replace").strip() for line in lines if len(line) <= self.max_len]
