"""The README's tables of ONNX operators, boards and meters, made from the code's own lists.

    python -m deepx.tools.readme_tables README.md            # rewrite the tables in place
    python -m deepx.tools.readme_tables README.md --check    # exit 1 when a table differs from the code

Each table sits between `<!-- table:NAME -->` and `<!-- end table -->` in the README.
"""
import argparse
import inspect
import re
import sys

from .. import boards
from ..boards.profile import HOST
from ..models.onnx_import import _Importer
from ..runtime.power import spec as meter_spec
from ..runtime.power.um import MODELS

BLOCK = re.compile(r"(<!-- table:(\w+) -->\n)(.*?)(<!-- end table -->)", re.S)

#: meter kind -> (what it is, transport, wire format); the spec form and the sample period come from the driver
METERS = {
    "um24c": ("RuiDeng UM24C USB meter", "serial: Bluetooth SPP (`rfcomm`), pty, `socket://`",
              "poll byte 0xF0 → 130-byte big-endian frame ending 0xFFF1"),
    "um25c": ("RuiDeng UM25C USB meter", "serial: Bluetooth SPP (`rfcomm`), pty, `socket://`",
              "poll byte 0xF0 → 130-byte big-endian frame ending 0xFFF1"),
    "um34c": ("RuiDeng UM34C USB meter", "serial: Bluetooth SPP (`rfcomm`), pty, `socket://`",
              "poll byte 0xF0 → 130-byte big-endian frame, XOR checksum in the last byte"),
    "ina": ("INA219 / INA226 / INA260 read by a microcontroller", "serial (USB CDC), pty, `socket://`",
            "one CSV line per sample, columns named by `columns=` (V/mV, A/mA, W/mW)"),
    "scpi": ("SCPI bench supply or DMM (Rigol DP800, Keysight E36xx style)", "serial, or `socket://HOST:5555`",
             "`*IDN?`, `:INST:NSEL n`, then `:MEAS:VOLT?` and `:MEAS:CURR?` per sample"),
    "jetson": ("a Jetson's INA3221 monitor, the module's input rail (`VDD_IN` or `POM_5V_IN`) by default",
               "sysfs files", "hwmon `in*_input` mV × `curr*_input` mA, or L4T iio `in_power*_input` mW"),
    "tegrastats": ("a Jetson's `tegrastats` (the tool, or a log it writes)", "a subprocess or a file",
                   "text lines `VDD_IN 5832mW/5852mW …`, instant power of the rail"),
    "rpi5": ("a Raspberry Pi 5's PMIC, every rail summed by default", "`vcgencmd pmic_read_adc`",
             "text lines `VDD_CORE_A current(7)=0.75A` / `…_V volt(15)=0.72V`, paired by rail"),
    "nvml": ("an NVIDIA GPU's own power reading (the `nvidia-ml-py` package)", "NVML library calls",
             "`nvmlDeviceGetPowerUsage` mW"),
    "emulated": ("an emulated board's power model: idle, or a plan's inference repeated", "in process",
                 "the board profile's idle + active watts on the emulator's clock"),
}


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def importer_ops() -> dict:
    """ONNX operator -> the docstring of its importer method ("deepx op: limits")."""
    return {name[3:]: " ".join((inspect.getdoc(fn) or "").split())
            for name, fn in inspect.getmembers(_Importer, inspect.isfunction) if name.startswith("op_")}


def operators() -> str:
    rows = []
    for op, doc in sorted(importer_ops().items()):
        becomes, _, limits = doc.rstrip(".").partition(": ")
        rows.append((f"`{op}`", becomes, limits))
    return _table(("ONNX operator", "becomes", "limits"), rows)


def _processor(p) -> str:
    return (f"{p.cores} × {p.clock_ghz:g} GHz, {p.peak_gflops:g} GFLOP/s, "
            f"{', '.join(f'`{b}`' for b in p.backends)}")


def board_rows() -> list:
    rows = []
    for name in boards.names():
        b = boards.load(name)
        cpu = [p for p in b.processors if p.kind == "cpu"]
        gpu = [p for p in b.processors if p.kind == "gpu"]
        rows.append((f"`{name}`", b.about, "; ".join(map(_processor, cpu)), "; ".join(map(_processor, gpu)) or "—",
                     f"{b.memory_mb:g}", "yes" if b.shared_memory else "no", f"{b.idle_w:g}",
                     " / ".join(f"{p.id} {p.active_w:g}" for p in b.processors)))
    rows.append((f"`{HOST}`", "this machine, as `deepx calibrate` measured it", "measured", "an OpenCL GPU, if any",
                 "measured", "—", "with `--meter`", "with `--meter`"))
    rows.append(("`emulated:NAME`", "board NAME run on this host: real outputs from the CPU kernels, time and "
                 "power from NAME's cost model on a virtual clock", "as NAME", "as NAME", "as NAME", "as NAME",
                 "as NAME", "as NAME"))
    return rows


def boards_table() -> str:
    return _table(("board", "what", "CPU", "GPU", "memory MB", "shared memory", "idle W", "active W"), board_rows())


def _spec(kind: str, cls) -> str:
    if kind in meter_spec.PORT_KINDS:
        target = ":PORT"
    elif cls in meter_spec.TARGET_ARG:
        target = {"path": "[:LOGFILE]", "index": "[:GPU]", "board": ":BOARD"}[meter_spec.TARGET_ARG[cls]]
    else:
        target = ""
    params = inspect.signature(cls).parameters
    options = [p for p in params if params[p].default is not inspect.Parameter.empty
               and p not in meter_spec.TARGET_ARG.values()]
    return f"`{kind}{target}`" + (f" `?{'&'.join(options)}`" if options else "")


def _rate(cls) -> str:
    interval = inspect.signature(cls).parameters["interval"].default
    return f"{1 / interval:g} Hz (`interval={interval:g}`)" if interval else "the logger's own, measured on opening"


def meters() -> str:
    rows = []
    for kind in meter_spec.KINDS:
        cls = meter_spec.PORT_KINDS.get(kind) or meter_spec.OTHER_KINDS[kind]
        what, transport, wire = METERS[kind]
        if kind in MODELS:
            m = MODELS[kind]
            wire += f"; {m.volt_lsb * 1e3:g} mV, {m.amp_lsb * 1e3:g} mA, 1 mW steps"
        rows.append((_spec(kind, cls), what, transport, wire, _rate(cls)))
    return _table(("spec and options", "what", "transport", "wire format", "default sample rate"), rows)


TABLES = {"operators": operators, "boards": boards_table, "meters": meters}


def render(text: str) -> str:
    """text with every table block replaced by what the code says now."""
    def fill(m):
        if m.group(2) not in TABLES:
            raise SystemExit(f"README: unknown table {m.group(2)!r} (known: {', '.join(TABLES)})")
        return m.group(1) + TABLES[m.group(2)]() + m.group(4)
    return BLOCK.sub(fill, text)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m deepx.tools.readme_tables", description=__doc__.splitlines()[0])
    p.add_argument("readme", metavar="README.md")
    p.add_argument("--check", action="store_true", help="exit 1 when a table differs from the code")
    args = p.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: tables differ from the code; run python -m deepx.tools.readme_tables "
                  f"{args.readme}", file=sys.stderr)
            sys.exit(1)
        return
    if new != text:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(new)


if __name__ == "__main__":
    main()
