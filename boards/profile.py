"""Board profiles: one TOML file per board in this folder, read with tomllib into frozen dataclasses.

A profile names its processors (cpu or gpu: cores, clock, peak fp32 GFLOP/s, memory bandwidth, the
kernel backends each runs with a relative speed, efficiency per op type, launch overhead, active
watts), the board's memory and idle watts, and the cost of handing a tensor from one processor to
another. Errors name the file, the key and its line.
"""
import math
import os
import re
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ..errors import DeepxError
from ..kernels import BACKENDS

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("cpu", "gpu")
#: efficiency keys: the kernels' op families, depthwise convolutions, and the default for the rest
OP_TYPES = ("conv", "depthwise", "dense", "pool", "norm", "elementwise", "layout", "default")
#: a calibrated peak is a measured sgemm; kernels doing fewer multiplications than the FLOPs they are
#: credited with (Winograd convolutions) run faster than it, hence efficiencies above 1
MAX_EFFICIENCY = 2.0
HOST = "host"  # the calibrated machine itself (`deepx calibrate`)


class BoardError(DeepxError):
    """An unknown board or a profile that cannot be read: the message names the file, key and line."""


@dataclass(frozen=True)
class Processor:
    id: str
    kind: str  # cpu | gpu
    cores: int
    clock_ghz: float
    peak_gflops: float  # fp32
    bandwidth_gbps: float  # memory bandwidth it sees
    launch_us: float  # fixed cost of each kernel call (dispatch, for a GPU the launch and sync)
    active_w: float  # watts above the board's idle power while it computes
    backends: dict  # backend -> speed relative to the processor's efficiency (1.0 = as listed)
    efficiency: dict  # op type -> fraction of peak reached; "default" for op types not listed
    memory_mb: float  # memory it may use (the board's, unless a carve-out is smaller)
    opencl_device: str = ""  # the OpenCL device of its opencl backend ("platform:index"; "" = the default)

    def eff(self, op_type: str) -> float:
        return self.efficiency.get(op_type, self.efficiency["default"])


@dataclass(frozen=True)
class Board:
    name: str
    about: str
    path: str
    memory_mb: float
    shared_memory: bool  # CPU and GPU use one DRAM: no copy, but a flush / sync per hand-over
    idle_w: float
    transfer_us: float  # fixed cost of handing a tensor to another processor
    transfer_gbps: float  # bytes per second of that hand-over (copy, or cache maintenance)
    transfer_w: float  # watts above idle while a hand-over runs
    processors: tuple
    text: str = field(default="", repr=False, compare=False)  # the TOML it was read from (bundles carry it)

    def processor(self, pid: str) -> Processor:
        for p in self.processors:
            if p.id == pid:
                return p
        raise BoardError(f"board {self.name!r} has no processor {pid!r} "
                         f"(it has {', '.join(p.id for p in self.processors)})")


def names() -> list:
    """The boards that ship with deepx (one TOML file each in this folder)."""
    return sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".toml"))


def host_path() -> str:
    """Where the `host` profile lives: $DEEPX_HOST_PROFILE, else ${XDG_CONFIG_HOME:-~/.config}/deepx/host.toml."""
    if os.environ.get("DEEPX_HOST_PROFILE"):
        return os.environ["DEEPX_HOST_PROFILE"]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "deepx", HOST + ".toml")


def load(name_or_path: str) -> Board:
    """A board by name (`jetson-nano`, or `host`: this machine's profile as `deepx calibrate` wrote it), or
    from a TOML file path; BoardError otherwise. Loading never measures anything."""
    if name_or_path == HOST:
        path = host_path()
        if not os.path.exists(path):
            raise BoardError(f"board 'host' has no profile yet ({path}): `deepx calibrate` measures this machine")
    elif name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = name_or_path
    else:
        path = os.path.join(HERE, name_or_path + ".toml")
        if not os.path.exists(path):
            raise BoardError(f"unknown board {name_or_path!r} (known boards: {', '.join([HOST] + names())})")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise BoardError(f"{path}: cannot read: {e.strerror}") from None
    return from_text(raw.decode("utf-8", "replace"), path)


def from_text(text: str, origin: str) -> Board:
    """A board from a profile's TOML text (a file's, or the copy a bundle carries); `origin` names it in
    errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{origin}: malformed TOML: {e}") from None
    return _Reader(origin, text).board(data)


class _Reader:
    """Validates a parsed profile; `_fail` finds the line of the key it complains about."""

    def __init__(self, path, text):
        self.path, self.text, self.lines = path, text, text.splitlines()

    def _line(self, section, index, key):
        """1-based line of `key` inside the index-th `[section]` / `[[section]]` (0 when not found)."""
        start, end, seen = 0, len(self.lines), -1
        if section:
            for i, line in enumerate(self.lines):
                head = re.match(r"\s*\[\[?\s*([\w.-]+)\s*\]\]?", line)
                if head and start and i > start - 1 and head.group(1) != section:
                    end = i
                    break
                if head and head.group(1) == section:
                    seen += 1
                    if seen == index:
                        start = i + 1
            if seen < index:
                return 0
        for i in range(start, end):
            if section == "" and re.match(r"\s*\[", self.lines[i]):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", self.lines[i]):
                return i + 1
        return start  # the section's header line when the key is missing

    def _fail(self, section, index, key, why):
        where = f"{section}[{index}].{key}" if section else key
        line = self._line(section, index, key)
        raise BoardError(f"{self.path}:{line}: {where}: {why}" if line else f"{self.path}: {where}: {why}")

    def _get(self, table, section, index, key, typ, default=None, positive=True):
        if key not in table:
            if default is not None:
                return default
            self._fail(section, index, key, "missing")
        value = table[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
            self._fail(section, index, key, f"expected {typ.__name__}, got {type(value).__name__} {value!r}")
        if typ in (int, float) and positive and not (value > 0 and math.isfinite(value)):
            self._fail(section, index, key, f"must be a positive number, got {value!r}")
        return value

    def _fractions(self, table, section, index, key, allowed, need_default):
        t = self._get(table, section, index, key, dict)
        for k, v in t.items():
            if k not in allowed:
                self._fail(section, index, key, f"unknown entry {k!r} (one of {', '.join(allowed)})")
            top = MAX_EFFICIENCY if key == "efficiency" else 1
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= top:
                self._fail(section, index, key, f"{k} = {v!r}: must be a number in (0, {top:g}]")
        if need_default and "default" not in t:
            self._fail(section, index, key, "needs a 'default' entry")
        return {k: float(v) for k, v in t.items()}

    def board(self, d) -> Board:
        unknown = set(d) - {"name", "about", "memory_mb", "shared_memory", "idle_w", "transfer", "processors"}
        if unknown:
            self._fail("", 0, sorted(unknown)[0], "unknown key")
        memory_mb = self._get(d, "", 0, "memory_mb", float)
        t = d.get("transfer")
        if not isinstance(t, dict):
            self._fail("transfer", 0, "transfer", "missing [transfer] table")
        procs = d.get("processors")
        if not isinstance(procs, list) or not procs:
            self._fail("processors", 0, "processors", "missing [[processors]] tables")
        processors = tuple(self.processor(p, i, memory_mb) for i, p in enumerate(procs))
        ids = [p.id for p in processors]
        if len(set(ids)) != len(ids):
            self._fail("processors", len(ids) - 1, "id", f"duplicate processor ids {ids}")
        if processors[0].kind != "cpu":
            self._fail("processors", 0, "kind", "the first processor must be the host CPU (kind = \"cpu\")")
        name = self._get(d, "", 0, "name", str)
        stem = os.path.basename(self.path)[:-5]
        if stem != name and os.path.dirname(os.path.abspath(self.path)) == HERE:
            self._fail("", 0, "name", f"{name!r} differs from the file name {stem!r}")
        return Board(name=name, about=self._get(d, "", 0, "about", str), path=self.path, memory_mb=memory_mb,
                     shared_memory=self._get(d, "", 0, "shared_memory", bool),
                     idle_w=self._get(d, "", 0, "idle_w", float),
                     transfer_us=self._get(t, "transfer", 0, "latency_us", float, positive=False),
                     transfer_gbps=self._get(t, "transfer", 0, "gbps", float),
                     transfer_w=self._get(t, "transfer", 0, "active_w", float, positive=False),
                     processors=processors, text=self.text)

    def processor(self, p, i, board_memory_mb) -> Processor:
        s = "processors"
        if not isinstance(p, dict):
            self._fail(s, i, "processors", "must be a table")
        unknown = set(p) - {f for f in Processor.__dataclass_fields__}
        if unknown:
            self._fail(s, i, sorted(unknown)[0], "unknown key")
        kind = self._get(p, s, i, "kind", str)
        if kind not in KINDS:
            self._fail(s, i, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        return Processor(id=self._get(p, s, i, "id", str), kind=kind, cores=self._get(p, s, i, "cores", int),
                         clock_ghz=self._get(p, s, i, "clock_ghz", float),
                         peak_gflops=self._get(p, s, i, "peak_gflops", float),
                         bandwidth_gbps=self._get(p, s, i, "bandwidth_gbps", float),
                         launch_us=self._get(p, s, i, "launch_us", float, positive=False),
                         active_w=self._get(p, s, i, "active_w", float),
                         backends=self._fractions(p, s, i, "backends", BACKENDS, False),
                         efficiency=self._fractions(p, s, i, "efficiency", OP_TYPES, True),
                         memory_mb=self._get(p, s, i, "memory_mb", float, default=board_memory_mb),
                         opencl_device=self._get(p, s, i, "opencl_device", str, default=""))
