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


class ScpiError(Exception):
    """An error for an SCPI instrument's queue: `ScpiError(-113, "Undefined header")`."""


def _header_rx(pattern: str) -> re.Pattern:
    """A regex for an SCPI header pattern: each mnemonic in its short (upper-case part) or long form,
    `[...]` an optional node, `#` an optional channel suffix (named group `n`)."""
    def token(m: re.Match) -> str:
        t = m.group(0)
        if t.isalpha():
            return f"(?:{t.upper()}|{''.join(c for c in t if c.isupper())})"
        return {"[": "(?:", "]": ")?", "#": "(?P<n>[123])?"}.get(t, re.escape(t))
    return re.compile(re.sub(r"[A-Za-z]+|.", token, pattern))


def _channel(arg: str) -> int | None:
    m = re.fullmatch(r"(?:CH)?([123])", arg)
    return int(m.group(1)) if m else None


def _no_args(args: list[str]):
    if args:
        raise ScpiError(-108, "Parameter not allowed")


def _one_arg(args: list[str]) -> str:
    if len(args) != 1:
        raise ScpiError(-109, "Missing parameter") if not args else ScpiError(-108, "Parameter not allowed")
    return args[0]


class ScpiEmulator(Emulator):
    """A Rigol DP832 to the commands a DP800 answers for sigrok's scpi-pps driver and the deepx driver:
    identification, remote/local, beeper and OTP state, channel selection, per-channel output state, set
    and measured voltage and current, OVP/OCP state and values (they never trip), `*OPC?`, `*ESR?`.

    The source's power is drawn from channel `powered` (1..3) at its set voltage; the other channels carry
    no load. A command it does not know, or a bad parameter, queues an SCPI error that `SYST:ERR?` pops
    and sets `*ESR?` bits; a query with an error gets no reply, as IEEE 488.2 has it.
    """

    IDN = "RIGOL TECHNOLOGIES,DP832,DP8E000000001,00.01.16"
    VOLTS = {1: 5.0, 2: 12.0, 3: 3.3}  # set voltages at start and after *RST
    LIMITS = {1: {"volt": 32.0, "curr": 3.2, "ovp_value": 33.0, "ocp_value": 3.3},
              2: {"volt": 32.0, "curr": 3.2, "ovp_value": 33.0, "ocp_value": 3.3},
              3: {"volt": 5.3, "curr": 3.2, "ovp_value": 5.5, "ocp_value": 3.3}}
    # settings: header pattern, key, kind; the query is the pattern with "?" (ON/OFF or a number)
    SETTINGS = [("OUTPut[:STATe]", "output", bool), ("OUTPut:OVP[:STATe]", "ovp", bool),
                ("OUTPut:OVP:VALue", "ovp_value", float), ("OUTPut:OCP[:STATe]", "ocp", bool),
                ("OUTPut:OCP:VALue", "ocp_value", float),
                ("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", "volt", float),
                ("[SOURce#:]CURRent[:LEVel][:IMMediate][:AMPLitude]", "curr", float),
                ("SYSTem:BEEPer[:STATe]", "beeper", bool), ("SYSTem:OTP", "otp", bool)]
    SYSTEM = {"beeper", "otp"}  # instrument-wide settings; the others are per channel
    # queries without parameters: header pattern, per channel, reply of (emulator, channel)
    QUERIES = [("*IDN?", False, lambda s, ch: s.IDN), ("*OPC?", False, lambda s, ch: "1"),
               ("*ESR?", False, lambda s, ch: s._pop_esr()),
               ("SYSTem:ERRor[:NEXT]?", False, lambda s, ch: s.errors.pop(0) if s.errors else '0,"No error"'),
               ("INSTrument[:SELect]?", False, lambda s, ch: f"CH{s.channel}"),
               ("INSTrument:NSELect?", False, lambda s, ch: str(s.channel)),
               ("MEASure[:VOLTage][:DC]?", True, lambda s, ch: f"{s._vi(ch)[0]:.4f}"),
               ("MEASure:CURRent[:DC]?", True, lambda s, ch: f"{s._vi(ch)[1]:.4f}"),
               ("MEASure:POWEr[:DC]?", True, lambda s, ch: f"{s._all(ch)[2]:.3f}"),
               ("MEASure:ALL[:DC]?", True, lambda s, ch: "{:.4f},{:.4f},{:.3f}".format(*s._all(ch))),
               ("OUTPut:MODE?", True, lambda s, ch: "CC" if s._vi(ch)[1] >= s.state[ch]["curr"] else "CV"),
               ("OUTPut:OVP:QUEStion?", True, lambda s, ch: "NO"),
               ("OUTPut:OCP:QUEStion?", True, lambda s, ch: "NO")]
    # commands without parameters: header pattern, action on the emulator
    ACTIONS = [("*RST", lambda s: s.reset()), ("*CLS", lambda s: s.clear()),
               ("SYSTem:REMote", lambda s: setattr(s, "remote", True)),
               ("SYSTem:LOCal", lambda s: setattr(s, "remote", False))]

    def __init__(self, source: PowerSource, powered: int = 1, **kw):
        super().__init__(source, **kw)
        self.powered, self.remote = powered, False
        self.errors: list[str] = []
        self.esr = 0
        self.reset()
        self._buf = b""
        self._table = self._build_table()

    def reset(self):
        """The state at start (`*RST`): channel 1 selected, the powered channel's output on, protections off."""
        self.channel = 1
        self.state = {0: {"beeper": True, "otp": True}}
        for ch, top in self.LIMITS.items():
            self.state[ch] = {"output": ch == self.powered, "volt": self.VOLTS[ch], "curr": 3.0, "ovp": False,
                              "ovp_value": top["ovp_value"], "ocp": False, "ocp_value": top["ocp_value"]}

    def clear(self):
        """`*CLS`: empty the error queue and the event status register."""
        self.errors.clear()
        self.esr = 0

    def _build_table(self) -> list[tuple[re.Pattern, bool, Callable]]:
        """(header regex, per channel, handler(channel, args) -> reply or None) for every command."""
        table = []
        for pattern, key, kind in self.SETTINGS:
            per_channel = key not in self.SYSTEM
            table.append((_header_rx(pattern + "?"), per_channel, lambda ch, args, k=key: self._get(ch, k, args)))
            table.append((_header_rx(pattern), per_channel, lambda ch, args, k=key, t=kind: self._set(ch, k, t, args)))
        for pattern, per_channel, reply in self.QUERIES:
            table.append((_header_rx(pattern), per_channel, lambda ch, args, f=reply: _no_args(args) or f(self, ch)))
        for pattern, action in self.ACTIONS:
            table.append((_header_rx(pattern), False, lambda ch, args, f=action: _no_args(args) or f(self)))
        table.append((_header_rx("INSTrument[:SELect]"), False, lambda ch, args: self._select(args)))
        table.append((_header_rx("INSTrument:NSELect"), False, lambda ch, args: self._select(args)))
        return table

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

    def execute(self, command: str) -> str | None:
        """One SCPI command; the reply for a query, None otherwise (errors go to SYST:ERR?)."""
        if not command:
            return None
        head, _, arg = command.partition(" ")
        head = head.upper().lstrip(":")
        args = [a.strip().upper() for a in arg.split(",")] if arg.strip() else []
        for rx, per_channel, handler in self._table:
            m = rx.fullmatch(head)
            if m:
                break
        else:
            return self._error(-113, "Undefined header")
        try:
            return handler(self._target(m.groupdict().get("n"), args) if per_channel else None, args)
        except ScpiError as e:
            return self._error(*e.args)

    def _target(self, suffix: str | None, args: list[str]) -> int:
        """The channel a command acts on: a `SOURce<n>` suffix, a leading `CHn` parameter, or the selected one."""
        if suffix:
            return int(suffix)
        if args and args[0].startswith("CH"):
            ch = _channel(args.pop(0))
            if ch is None:
                raise ScpiError(-224, "Illegal parameter value")
            return ch
        return self.channel

    def _select(self, args: list[str]) -> None:
        ch = _channel(_one_arg(args))
        if ch is None:
            raise ScpiError(-224, "Illegal parameter value")
        self.channel = ch

    def _get(self, ch: int | None, key: str, args: list[str]) -> str:
        _no_args(args)
        value = self.state[ch or 0][key]
        return ("ON" if value else "OFF") if isinstance(value, bool) else f"{value:.3f}"

    def _set(self, ch: int | None, key: str, kind: type, args: list[str]) -> None:
        arg = _one_arg(args)
        if kind is bool:
            if arg not in ("ON", "OFF", "1", "0"):
                raise ScpiError(-224, "Illegal parameter value")
            self.state[ch or 0][key] = arg in ("ON", "1")
            return
        if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(E[-+]?\d+)?", arg):
            raise ScpiError(-104, "Data type error")
        value = float(arg)
        if not 0 <= value <= self.LIMITS[ch][key]:
            raise ScpiError(-222, "Data out of range")
        self.state[ch][key] = value

    def _vi(self, ch: int) -> tuple[float, float]:
        """Measured volts and amps of channel `ch` now: the set voltage and the source's power on it."""
        volts = self.state[ch]["volt"]
        if not self.state[ch]["output"] or not volts:
            return 0.0, 0.0
        return volts, self.source(time.monotonic()) / volts if ch == self.powered else 0.0

    def _all(self, ch: int) -> tuple[float, float, float]:
        v, i = self._vi(ch)
        return v, i, v * i

    def _error(self, code: int, text: str) -> None:
        self.errors.append(f'{code},"{text}"')
        self.esr |= 32 if code > -200 else 16  # command error, execution error

    def _pop_esr(self) -> str:
        esr, self.esr = self.esr, 0
        return str(esr)


def make(kind: str, source: PowerSource, **kw) -> Emulator:
    """The emulator for `kind`: um24c, um25c, um34c, ina or scpi."""
    if kind in MODELS:
        return UMEmulator(kind, source, **kw)
    if kind == "ina":
        return InaEmulator(source, **kw)
    if kind == "scpi":
        return ScpiEmulator(source, **kw)
    raise DeepxError(f"no emulator for {kind!r}; choose among {', '.join([*MODELS, 'ina', 'scpi'])}")
