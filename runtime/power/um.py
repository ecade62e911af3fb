"""RuiDeng UM24C / UM25C / UM34C USB meters: poll with 0xF0, read a 130-byte big-endian frame.

Frame layout and checks follow libsigrok `src/hardware/rdtech-um/protocol.c`: UM24C and UM25C end with
0xFFF1; the UM34C's last byte is the XOR of 32 fixed bytes. Neither check covers the voltage, current and
power fields fully, so a frame is also rejected when its power disagrees with voltage × current by more
than the fields' rounding plus 1 %.
"""
import struct
import time
from typing import NamedTuple

from .meter import MeterError, Sample, SerialMeter, open_port, read_some, write

FRAME_LEN = 130
POLL = b"\xf0"
END_MARKER = 0xFFF1
UM34C_XOR_POSITIONS = (1, 3, 7, 9, 15, 17, 19, 23, 31, 39, 41, 45, 49, 53, 55, 57, 59, 63, 67, 69, 73, 79,
                       83, 89, 97, 99, 109, 111, 113, 119, 121, 127)
POWER_LSB = 0.001


class Model(NamedTuple):
    name: str
    model_id: int
    volt_lsb: float
    amp_lsb: float
    xor_check: bool  # UM34C: XOR checksum in the last byte; others: end marker 0xFFF1


MODELS = {
    "um24c": Model("UM24C", 0x0963, 0.01, 0.001, False),
    "um25c": Model("UM25C", 0x09C9, 0.001, 0.0001, False),
    "um34c": Model("UM34C", 0x0D4C, 0.01, 0.001, True),
}


def um34c_checksum(frame: bytes) -> int:
    x = 0
    for i in UM34C_XOR_POSITIONS:
        x ^= frame[i]
    return x


def integrity_error(model: Model, frame: bytes) -> str | None:
    """Why a 130-byte frame is bad (naming the byte at fault), or None when it is good."""
    (mid,) = struct.unpack_from(">H", frame, 0)
    if mid != model.model_id:
        return f"model id 0x{mid:04X} at byte 0, expected 0x{model.model_id:04X}"
    if model.xor_check:
        want = um34c_checksum(frame)
        if frame[129] != want:
            return f"checksum 0x{frame[129]:02X} at byte 129, expected 0x{want:02X}"
    else:
        (end,) = struct.unpack_from(">H", frame, 128)
        if end != END_MARKER:
            return f"end marker 0x{end:04X} at byte 128, expected 0x{END_MARKER:04X}"
    v, i, p = decode(model, frame)
    tol = model.volt_lsb / 2 * i + model.amp_lsb / 2 * v + model.volt_lsb * model.amp_lsb + POWER_LSB + 0.01 * p
    if abs(p - v * i) > tol:
        return f"power {p:.3f} W at byte 6 disagrees with {v:.3f} V x {i:.4f} A"
    return None


def decode(model: Model, frame: bytes) -> tuple[float, float, float]:
    """(volts, amps, watts) of a frame."""
    v, i, p = struct.unpack_from(">HHI", frame, 2)
    return v * model.volt_lsb, i * model.amp_lsb, p * POWER_LSB


class FrameParser:
    """Finds good frames in a byte stream, resynchronising on the model id after any bad byte."""

    def __init__(self, model: Model):
        self.model = model
        self._id = struct.pack(">H", model.model_id)
        self._buf = b""
        self.discarded = 0

    def feed(self, data: bytes) -> list[bytes]:
        buf, frames = self._buf + data, []
        while True:
            start = buf.find(self._id)
            if start < 0:
                buf = buf[-1:]  # may be the first byte of the next model id
                break
            buf = buf[start:]
            if len(buf) < FRAME_LEN:
                break
            verdict = self._judge(buf)
            if verdict is None:  # a later frame overlapping this one is not complete yet
                break
            if verdict:
                frames.append(buf[:FRAME_LEN])
                buf = buf[FRAME_LEN:]
            else:
                self.discarded += 1
                buf = buf[1:]
        self._buf = buf
        return frames

    def _good(self, frame: bytes) -> bool:
        return integrity_error(self.model, frame) is None

    def _judge(self, buf: bytes) -> bool | None:
        """Whether buf starts with a good frame. A torn frame (bytes lost) followed by the next frame can
        pass a weak check by chance; real frames never overlap, so a good frame starting inside the
        candidate wins over it (None: wait until that frame is complete, which delays a good frame whose
        own bytes contain the model id until the next answer)."""
        if not self._good(buf[:FRAME_LEN]):
            return False
        j = buf.find(self._id, 1, FRAME_LEN)
        while j > 0:
            if len(buf) < j + FRAME_LEN:
                return None
            if self._good(buf[j:j + FRAME_LEN]):
                return False
            j = buf.find(self._id, j + 1, FRAME_LEN)
        return True


class UMMeter(SerialMeter):
    """`um24c:PORT`, `um25c:PORT`, `um34c:PORT` (options: baud, interval, timeout)."""

    gives_vi = True

    def __init__(self, spec: str, kind: str, url: str, baud: int = 115200, interval: float = 0.1,
                 timeout: float = 1.0):
        super().__init__()
        self.spec, self.model, self.url = spec, MODELS[kind], url
        self.baud, self.interval_s, self.timeout = baud, interval, timeout
        self.stats["polls"] = 0
        self.open()

    def _connect(self):
        self.port = open_port(self.spec, self.url, self.baud, timeout=min(0.05, self.interval_s / 2))
        self.parser = FrameParser(self.model)

    def _probe(self):
        """Poll until one good frame arrives within `timeout`; else say what came back instead."""
        self.port.reset_input_buffer()
        deadline, reply = time.monotonic() + self.timeout, b""
        while time.monotonic() < deadline:
            write(self.port, self.spec, POLL)
            reply, poll_end = b"", min(deadline, time.monotonic() + max(self.interval_s, 0.2))
            while time.monotonic() < poll_end and len(reply) < FRAME_LEN:
                reply += read_some(self.port, self.spec)
            if self.parser.feed(reply):
                return
            if len(reply) >= 2 and reply[:2] in {struct.pack(">H", m.model_id) for m in MODELS.values()
                                                 if m is not self.model}:
                break  # another model answered: no point in asking again (a damaged frame of this one: ask again)
        raise MeterError(f"{self.spec}: {self._describe(reply)}")

    def _describe(self, reply: bytes) -> str:
        if not reply:
            return f"no answer to poll 0xF0 within {self.timeout:g} s (meter off, or not paired?)"
        if len(reply) >= 2:
            (mid,) = struct.unpack_from(">H", reply, 0)
            other = [m.name for m in MODELS.values() if m.model_id == mid]
            if mid != self.model.model_id:
                what = other[0] if other else "unknown"
                return (f"model id 0x{mid:04X} ({what}) at byte 0, expected 0x{self.model.model_id:04X} "
                        f"({self.model.name})")
        if len(reply) < FRAME_LEN:
            return f"answer of {len(reply)} bytes to poll 0xF0, expected {FRAME_LEN}"
        return f"bad frame: {integrity_error(self.model, reply[:FRAME_LEN])}"

    def read(self) -> list[Sample]:
        self._pace()
        write(self.port, self.spec, POLL)
        self.stats["polls"] += 1
        got_any, until = False, self._next  # wait for the answer until the next poll is due
        while True:
            data = read_some(self.port, self.spec)
            got_any |= bool(data)
            frames = self.parser.feed(data)
            if frames:
                v, i, p = decode(self.model, frames[-1])
                self.stats["samples"] += 1
                self.stats["discarded"] = self.parser.discarded
                return [Sample(time.monotonic(), p, v, i)]
            if time.monotonic() >= until:
                self.stats["discarded"] = self.parser.discarded
                self.stats["timeouts"] += not got_any
                return []
