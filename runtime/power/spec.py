"""Meter spec strings: `KIND[:TARGET][?option=value&...]`, e.g. `um25c:/dev/rfcomm0?interval=0.2`.

Options are the keyword arguments of the driver's constructor, converted to the type of their default.
"""
import inspect
import re
from urllib.parse import parse_qsl

from .emulated import EmulatedMeter
from .ina import InaMeter
from .jetson import JetsonMeter
from .meter import Meter, MeterError
from .nvml import NvmlMeter
from .rpi5 import Rpi5Meter
from .scpi import ScpiMeter
from .tegrastats import TegrastatsMeter
from .um import MODELS, UMMeter

PORT_KINDS = {**{k: UMMeter for k in MODELS}, "ina": InaMeter, "scpi": ScpiMeter}
OTHER_KINDS = {"jetson": JetsonMeter, "rpi5": Rpi5Meter, "tegrastats": TegrastatsMeter, "nvml": NvmlMeter,
               "emulated": EmulatedMeter}
TARGET_ARG = {TegrastatsMeter: "path", NvmlMeter: "index", EmulatedMeter: "board"}  # drivers taking a :TARGET
KINDS = sorted(PORT_KINDS) + sorted(OTHER_KINDS)


def open_meter(spec: str) -> Meter:
    """Open (and probe) the meter a spec names; `MeterError` with a one-line reason otherwise."""
    m = re.fullmatch(r"([a-z0-9]+)(?::([^?]*))?(?:\?(.*))?", spec.strip())
    if not m or m.group(1) not in KINDS:
        raise MeterError(f"meter spec {spec!r}: expected KIND[:PORT][?options] with KIND one of {', '.join(KINDS)}")
    kind, target, query = m.group(1), m.group(2) or "", m.group(3) or ""
    if kind == "emulated" and not target:
        raise MeterError(f"{spec}: give the board, e.g. emulated:jetson-nano (one of `deepx boards`)")
    cls = PORT_KINDS.get(kind) or OTHER_KINDS[kind]
    kwargs = _options(spec, cls, query)
    if kind in PORT_KINDS:
        if not target:
            raise MeterError(f"{spec}: give the port, e.g. {kind}:/dev/ttyUSB0 or {kind}:socket://HOST:PORT")
        return cls(spec, kind, target, **kwargs) if cls is UMMeter else cls(spec, target, **kwargs)
    if target:
        if cls not in TARGET_ARG:
            raise MeterError(f"{spec}: {kind} takes no ':{target}' (options go after '?')")
        kwargs[TARGET_ARG[cls]] = target
    return cls(spec, **kwargs)


def _options(spec: str, cls: type, query: str) -> dict:
    params = inspect.signature(cls).parameters
    allowed = [p for p in params if params[p].default is not inspect.Parameter.empty
               and p not in TARGET_ARG.values()]
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise MeterError(f"{spec}: options must look like name=value&name=value") from None
    kwargs = {}
    for key, text in pairs:
        if key not in allowed:
            raise MeterError(f"{spec}: unknown option {key!r}; this meter takes {', '.join(allowed)}")
        typ = type(params[key].default)
        try:
            value = typ(text)
        except ValueError:
            raise MeterError(f"{spec}: option {key}={text} is not {'an' if typ is int else 'a'} "
                             f"{typ.__name__}") from None
        if typ in (int, float) and value <= 0:
            raise MeterError(f"{spec}: option {key}={text} must be positive")
        kwargs[key] = value
    return kwargs
