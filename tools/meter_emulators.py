"""Meter emulators that speak the real wire formats on a pseudo-terminal or a TCP port.

Each takes its power from a *power source*: any callable `source(t) -> watts` of a `time.monotonic()`
time (a `Steps` trace, `constant(w)`, or later the emulated board's power model). `Faults` corrupts or
drops outgoing bytes (seeded), silences the meter, and `unplug()` closes its port.
"""
import bisect
import os
import pty
import random
import re
import select
import socket
import struct
import threading
import time
import tty
from typing import Callable

from ..errors import DeepxError
from ..runtime.power.um import END_MARKER, FRAME_LEN, MODELS, POWER_LSB, Model, um34c_checksum

PowerSource = Callable[[float], float]


def constant(watts: float) -> PowerSource:
    return lambda t: watts


class Steps:
    """A piecewise-constant trace: `steps` are (seconds from `start`, watts); each value holds until the next."""

    def __init__(self, steps: list[tuple[float, float]], start: float | None = None):
        if not steps or any(b[0] <= a[0] for a, b in zip(steps, steps[1:])) or steps[0][0] != 0:
            raise DeepxError("power trace: steps must start at 0 s and have increasing times")
        if any(w < 0 for _, w in steps):
            raise DeepxError("power trace: watts must not be negative")
        self.times = [float(s) for s, _ in steps]
        self.watts = [float(w) for _, w in steps]
        self.start = time.monotonic() if start is None else start

    @classmethod
    def from_csv(cls, path: str, start: float | None = None) -> "Steps":
        """`seconds,watts` lines (a header line and blank lines are skipped)."""
        steps = []
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise DeepxError(f"{path}: cannot read: {e.strerror}") from None
        for n, line in enumerate(lines, start=1):
            fields = [x.strip() for x in line.split(",")]
            if not line.strip() or (n == 1 and not re.match(r"[-+.\d]", fields[0])):
                continue
            try:
                steps.append((float(fields[0]), float(fields[1])))
            except (ValueError, IndexError):
                raise DeepxError(f"{path}:{n}: expected 'seconds,watts', got {line!r}") from None
        try:
            return cls(steps, start)
        except DeepxError as e:
            raise DeepxError(f"{path}: {e}") from None

    def __call__(self, t: float) -> float:
        i = bisect.bisect_right(self.times, t - self.start) - 1
        return self.watts[max(i, 0)]

    def energy(self, a: float, b: float) -> float:
        """Exact joules between `a` and `b` seconds from the start."""
        edges = sorted({a, b, *[x for x in self.times if a < x < b]})
        return sum(self(self.start + (lo + hi) / 2) * (hi - lo) for lo, hi in zip(edges, edges[1:]))


class Faults:
    """Byte faults on what a meter sends: each byte corrupted (random value) or dropped with a probability."""

    def __init__(self, corrupt: float = 0.0, drop: float = 0.0, seed: int = 0):
        self.corrupt, self.drop = corrupt, drop
        self.silent = False
        self.corrupted = self.dropped = 0
        self.writes = self.clean_writes = 0  # writes (one per answer or line), and those left intact
        self._rng = random.Random(seed)

    def apply(self, data: bytes) -> bytes:
        if self.silent:
            return b""
        self.writes += 1
        if not (self.corrupt or self.drop):
            self.clean_writes += 1
            return data
        out = bytearray()
        for b in data:
            r = self._rng.random()
            if r < self.drop:
                self.dropped += 1
            elif r < self.drop + self.corrupt:
                out.append(b ^ self._rng.randrange(1, 256))
                self.corrupted += 1
            else:
                out.append(b)
        self.clean_writes += out == data
        return bytes(out)


class Emulator:
    """Serves one meter on a pseudo-terminal (default) or on 127.0.0.1:`tcp_port` until `unplug()`.

    Subclasses answer requests in `answer(data)`; a streaming one also sets `period` and writes `tick(t)`.
    """

    period: float | None = None

    def __init__(self, source: PowerSource, faults: Faults | None = None, tcp_port: int | None = None):
        self.source, self.faults, self.tcp_port = source, faults or Faults(), tcp_port
        self._thread = None

    def answer(self, data: bytes) -> bytes:
        return b""

    def tick(self, t: float) -> bytes:
        return b""

    def greeting(self) -> bytes:
        """What the device prints when it starts (or resets)."""
        return b""

    def start(self) -> str:
        """Open the port and serve in a thread; returns the pyserial URL (a /dev/pts path or socket://)."""
        self._halt = threading.Event()
        if self.tcp_port is None:
            self._master, self._slave = pty.openpty()
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self.url, self._listener = os.ttyname(self._slave), None
        else:
            try:
                self._listener = socket.create_server(("127.0.0.1", self.tcp_port))
            except OSError as e:
                raise DeepxError(f"cannot listen on 127.0.0.1:{self.tcp_port}: {e.strerror}") from None
            self.tcp_port = self._listener.getsockname()[1]
            self.url, self._master = f"socket://127.0.0.1:{self.tcp_port}", None
        self._thread = threading.Thread(target=self._serve, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        return self.url

    @property
    def serving(self) -> bool:
        return self._thread is not None and not self._halt.is_set()

    def unplug(self):
        """Close the port, as pulling the cable does; `start()` serves again (a new pty, the same TCP port)."""
        self._halt.set()
        self._thread.join()

    def _serve(self):
        conn = None
        if self._master is not None:
            self._send(self._master, self.greeting())
        next_tick = time.monotonic()
        try:
            while not self._halt.is_set():
                if self._master is None and conn is None:
                    if select.select([self._listener], [], [], 0.02)[0]:
                        conn = self._listener.accept()[0]
                        self._send(conn, self.greeting())
                    continue
                target = self._master if conn is None else conn
                wait = 0.02 if self.period is None else max(0.0, min(0.02, next_tick - time.monotonic()))
                if select.select([target], [], [], wait)[0]:
                    data = self._recv(target)
                    if data is None:  # the TCP client went away: wait for the next one
                        conn.close()
                        conn = None
                        continue
                    self._send(target, self.answer(data))
                if self.period is not None and time.monotonic() >= next_tick:
                    self._send(target, self.tick(time.monotonic()))
                    next_tick = max(next_tick + self.period, time.monotonic() - self.period)
        finally:
            for closable in (conn, self._listener):
                if closable is not None:
                    closable.close()
            if self._master is not None:
                os.close(self._master)
                os.close(self._slave)

    def _recv(self, target) -> bytes | None:
        try:
            data = target.recv(4096) if isinstance(target, socket.socket) else os.read(target, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return None
        return None if isinstance(target, socket.socket) and not data else data

    def _send(self, target, data: bytes):
        data = self.faults.apply(data) if data else b""
        if not data:
            return
        try:
            if isinstance(target, socket.socket):
                target.sendall(data)
            else:
                os.write(target, data)  # a full pty buffer drops the rest, as an overrun UART would
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass


def um_frame(model: Model, volts: float, watts: float, mwh: int = 0) -> bytes:
    """The 130-byte answer of a UM meter to the 0xF0 poll."""
    watts = max(watts, 0.0)
    amps = watts / volts if volts else 0.0
    f = bytearray(FRAME_LEN)
    struct.pack_into(">HHHI", f, 0, model.model_id, _clip(volts / model.volt_lsb, 0xFFFF),
                     _clip(amps / model.amp_lsb, 0xFFFF), _clip(watts / POWER_LSB, 0xFFFFFFFF))
    struct.pack_into(">HHH", f, 10, 25, 77, 0)  # 25 °C, 77 °F, data group 0
    struct.pack_into(">II", f, 16, round(amps * 1000), mwh)  # group 0: mAh (one hour's worth), mWh
    struct.pack_into(">HHH", f, 96, 60, 0, 1)  # D+ 0.6 V, D- 0 V, charging mode
    struct.pack_into(">IIHIH", f, 102, 0, mwh, 10, 0, 1)  # recorded mAh, mWh, threshold 0.1 A, time, on
    struct.pack_into(">HHIH", f, 118, 1, 5, _clip(volts / amps * 10 if amps else 9999999, 9999999), 0)
    if model.xor_check:
        f[129] = um34c_checksum(f)
    else:
        struct.pack_into(">H", f, 128, END_MARKER)
    return bytes(f)


def _clip(x: float, top: int) -> int:
    """A field's raw value, saturated as the meter's display would be."""
    return round(min(max(x, 0.0), top))


class UMEmulator(Emulator):
    """A UM24C / UM25C / UM34C: answers each 0xF0 with a frame of the source's power at `volts`."""

    def __init__(self, kind: str, source: PowerSource, volts: float = 5.08, **kw):
        super().__init__(source, **kw)
        self.model, self.volts = MODELS[kind], volts
        self.frames = 0
        self._mwh, self._t = 0.0, None

    def answer(self, data: bytes) -> bytes:
        out = b""
        for _ in range(data.count(0xF0)):
            t = time.monotonic()
            watts = self.source(t)
            self._mwh += watts * (t - self._t) / 3.6 if self._t is not None else 0.0
            self._t = t
            out += um_frame(self.model, self.volts, watts, int(self._mwh))
            self.frames += 1
        return out


class InaEmulator(Emulator):
    """A microcontroller printing `columns` as CSV every `period` s after a boot banner (see drivers' ina)."""

    BANNER = "\r\nINA219 power logger 1.3\r\nsensor found at 0x40, calibrating\r\nmillis,busV,current_mA\r\n"

    def __init__(self, source: PowerSource, columns: str = "ms,V,mA", volts: float = 5.0, period: float = 0.05,
                 **kw):
        super().__init__(source, **kw)
        self.columns, self.volts, self.period = columns.split(","), volts, period
        self._boot = time.monotonic()
        self.lines = 0

    def greeting(self) -> bytes:
        self._boot = time.monotonic()
        return self.BANNER.encode()

    def tick(self, t: float) -> bytes:
        watts = self.source(t)
        values = {"ms": f"{int((t - self._boot) * 1000)}", "V": f"{self.volts:.3f}", "mV": f"{self.volts * 1e3:.1f}",
                  "A": f"{watts / self.volts:.5f}", "mA": f"{watts / self.volts * 1e3:.2f}",
                  "W": f"{watts:.4f}", "mW": f"{watts * 1e3:.1f}"}
        self.lines += 1
        return (",".join(values.get(c, "0.00") for c in self.columns) + "\r\n").encode()


class ScpiEmulator(Emulator):
    """A Rigol DP832 as far as identifying, selecting a channel, measuring and output state go.

    The source's power is drawn from channel `powered` (1..3); the other channels carry no load.
    """

    IDN = "RIGOL TECHNOLOGIES,DP832,DP8E000000001,00.01.16"
    VOLTS = {1: 5.0, 2: 12.0, 3: 3.3}

    def __init__(self, source: PowerSource, powered: int = 1, **kw):
        super().__init__(source, **kw)
        self.powered, self.channel = powered, 1
        self.output = {1: True, 2: False, 3: False}
        self.errors: list[str] = []
        self.remote = False
        self._buf = b""

    def answer(self, data: bytes) -> bytes:
        self._buf += data
        *lines, self._buf = re.split(rb"\r?\n", self._buf)
        replies = []
        for line in lines:
            for command in line.decode("ascii", "replace").split(";"):
                reply = self.execute(command.strip())
                if reply is not None:
                    replies.append(reply + "\n")
        return "".join(replies).encode()

    def _vi(self, ch: int) -> tuple[float, float]:
        if not self.output[ch]:
            return 0.0, 0.0
        volts = self.VOLTS[ch]
        return volts, self.source(time.monotonic()) / volts if ch == self.powered else 0.0

    def execute(self, command: str) -> str | None:
        """One SCPI command; the reply for a query, None otherwise (errors go to SYST:ERR?)."""
        if not command:
            return None
        head, _, arg = command.partition(" ")
        words = [w for w in head.upper().lstrip(":").split(":")]
        arg = arg.strip().upper()
        if words == ["*IDN?"]:
            return self.IDN
        if words in (["*RST"], ["*CLS"]):
            return None
        if _is(words, "SYSTem", "REMote") or _is(words, "SYSTem", "LOCal"):
            self.remote = words[1].startswith("REM")
            return None
        if _is(words, "SYSTem", "ERRor?"):
            return self.errors.pop(0) if self.errors else '0,"No error"'
        if _is(words, "INSTrument") or _is(words, "INSTrument", "SELect") or _is(words, "INSTrument", "NSELect"):
            ch = _channel(arg)
            if ch is None:
                return self._error(-224, "Illegal parameter value")
            self.channel = ch
            return None
        if _is(words, "INSTrument?") or _is(words, "INSTrument", "SELect?"):
            return f"CH{self.channel}"
        if _is(words, "INSTrument", "NSELect?"):
            return str(self.channel)
        if len(words) == 2 and _is(words[:1], "MEASure"):
            ch = self.channel if not arg else _channel(arg)
            if ch is None:
                return self._error(-224, "Illegal parameter value")
            v, i = self._vi(ch)
            for name, value in (("VOLTage?", f"{v:.4f}"), ("CURRent?", f"{i:.4f}"), ("POWEr?", f"{v * i:.3f}"),
                                ("ALL?", f"{v:.4f},{i:.4f},{v * i:.3f}")):
                if _is(words[1:], name):
                    return value
        if _is(words, "OUTPut?") or _is(words, "OUTPut", "STATe?"):
            ch = self.channel if not arg else _channel(arg)
            return self._error(-224, "Illegal parameter value") if ch is None else ("ON" if self.output[ch] else "OFF")
        if _is(words, "OUTPut") or _is(words, "OUTPut", "STATe"):
            parts = arg.split(",")
            ch = self.channel if len(parts) == 1 else _channel(parts[0])
            if ch is None or parts[-1] not in ("ON", "OFF", "1", "0"):
                return self._error(-224, "Illegal parameter value")
            self.output[ch] = parts[-1] in ("ON", "1")
            return None
        return self._error(-113, "Undefined header")

    def _error(self, code: int, text: str) -> None:
        self.errors.append(f'{code},"{text}"')


def _is(words: list[str], *mnemonics: str) -> bool:
    """Whether header words match SCPI mnemonics, each in its short (upper-case part) or long form."""
    if len(words) != len(mnemonics):
        return False
    for word, m in zip(words, mnemonics):
        short = "".join(c for c in m if not c.islower())
        if word not in (short, m.upper()):
            return False
    return True


def _channel(arg: str) -> int | None:
    m = re.fullmatch(r"(?:CH)?([123])", arg)
    return int(m.group(1)) if m else None


def make(kind: str, source: PowerSource, **kw) -> Emulator:
    """The emulator for `kind`: um24c, um25c, um34c, ina or scpi."""
    if kind in MODELS:
        return UMEmulator(kind, source, **kw)
    if kind == "ina":
        return InaEmulator(source, **kw)
    if kind == "scpi":
        return ScpiEmulator(source, **kw)
    raise DeepxError(f"no emulator for {kind!r}; choose among {', '.join([*MODELS, 'ina', 'scpi'])}")
