"""Which (op, backend) pairs exist, whether each is usable here, and the one place inputs are checked.

Every backend module `deepx.kernels.<backend>.<family>` defines the op functions of that family with
the reference's signature: tensors first, then the canonical attributes that `check` returns, then
`out=None` (a float32 buffer of the output shape to write into). `run` checks once and calls.
"""
import functools
import importlib
import os
import pkgutil
import re
import sys
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..errors import KernelError
from . import ref
from .spec import fail as _fail


@dataclass(frozen=True)
class Backend:
    """A kernel backend: the package `deepx.kernels.<name>`, its op families in modules `<prefix><family>`.
    `device`: its kernels take tensors in a device's memory, and the package has the memory hooks the
    executor uses (see kernels/opencl/__init__.py); `jit`: it compiles at run time, so a board's runtime,
    which has no compiler, runs its blocks on another backend; `reference`: the definition of the ops,
    never optimised, so never measured or planned for speed."""

    name: str
    device: bool = False
    jit: bool = False
    reference: bool = False
    prefix: str = ""


#: every kernel backend, one line each, in the order `auto` takes them on a CPU
_BACKENDS = (Backend("cython", prefix="_"), Backend("numba", jit=True), Backend("ref", reference=True),
             Backend("opencl", device=True))
INFO = {b.name: b for b in _BACKENDS}
BACKENDS = tuple(INFO)


def _gather_specs() -> dict:
    """name -> OpSpec of every op: the `SPECS` of each reference module (a family), families in their `ORDER`."""
    families = [importlib.import_module(f"{ref.__name__}.{m.name}") for m in pkgutil.iter_modules(ref.__path__)]
    return {s.name: replace(s, family=f.__name__.rpartition(".")[2])
            for f in sorted(families, key=lambda f: f.ORDER) for s in f.SPECS}


OPS = _gather_specs()

_unusable: dict = {}  # backend -> reason it cannot be imported here


def info(backend: str) -> Backend:
    """The registry's line for `backend`; KernelError for a name that is not a backend."""
    if backend not in INFO:
        raise KernelError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    return INFO[backend]


def backend_usable(backend: str):
    """(True, "") when the backend's package imports here (and its `usable()`, if any, agrees: a
    device found), else (False, the reason)."""
    info(backend)
    if backend not in _unusable:
        try:
            module = importlib.import_module(f"{__package__}.{backend}")
            ok, why = module.usable() if hasattr(module, "usable") else (True, "")
            _unusable[backend] = "" if ok else f"{backend} backend unavailable: {why}"
        except ImportError as e:
            _unusable[backend] = f"{backend} backend unavailable: {e}"
    return not _unusable[backend], _unusable[backend]


def backend(name: str):
    """The backend's package (its hooks: memory, device choice); KernelError when it is unusable here."""
    ok, why = backend_usable(name)
    if not ok:
        raise KernelError(why)
    return importlib.import_module(f"{__package__}.{name}")


def host_backend(choice: str = "auto", jit: bool = True) -> str:
    """`choice`, or for `auto` the first usable backend that computes in host memory (without `jit`: the
    first that needs no compiler at run time, as on a board)."""
    if choice != "auto":
        info(choice)
        return choice
    return next(b.name for b in _BACKENDS
                if not b.device and (jit or not b.jit) and backend_usable(b.name)[0])


def lookup(op: str, backend: str) -> Callable:
    """The kernel function for (op, backend); KernelError if there is none or it is unusable here."""
    if op not in OPS:
        raise KernelError(f"unknown op {op!r}")
    ok, why = backend_usable(backend)
    if not ok:
        raise KernelError(f"{op}: {why}")
    name = f"{__package__}.{backend}.{INFO[backend].prefix}{OPS[op].family}"
    try:
        return getattr(importlib.import_module(name), op)
    except (ImportError, AttributeError) as e:
        raise KernelError(f"{op}: no {backend} kernel ({e})") from None


@functools.lru_cache(maxsize=None)
def supports(op: str, backend: str) -> bool:
    """Whether `backend` has a kernel for `op`, known without running it: its family module defines the op
    (read from the module's source where the backend cannot be imported, so a plan for a board with an
    OpenCL GPU is right on a workstation without one)."""
    if op not in OPS:
        raise KernelError(f"unknown op {op!r}")
    if backend_usable(backend)[0]:
        try:
            lookup(op, backend)
            return True
        except KernelError:
            return False
    return in_source(op, backend)


def in_source(op: str, backend: str) -> bool:
    """Whether the backend's family module for `op` defines it, read from the module's source file."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), backend)
    for ext in (".py", ".pyx"):
        path = os.path.join(folder, f"{INFO[backend].prefix}{OPS[op].family}{ext}")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return op in _top_level_names(f.read())
    return False


def _top_level_names(source: str) -> set:
    """The names a Python or Cython module's source defines at top level: `def`/`cpdef`, assignment targets."""
    names = set()
    for line in source.replace("\\\n", " ").splitlines():
        if m := re.match(r"(?:cp)?def (\w+)\(", line):
            names.add(m.group(1))
        elif m := re.match(r"([A-Za-z_][\w, ]*?)\s*=(?!=)", line):
            names.update(t.strip() for t in m.group(1).split(","))
    return names


def weights(op: str, rest) -> tuple:
    """The weights among an op's tensors after the first (`rest`): all of them but a residual, the runtime tensor
    an op with `residual` takes last."""
    rest = tuple(rest)
    return rest[:len(OPS[op].tensors) - 2] if OPS[op].residual else rest


def prepare(op: str, backend: str, rest) -> Callable:
    """The kernel for (op, backend) bound to its constant weights (`weights` of its tensors after the first,
    `rest`) when the backend prepares them once (its `prepare_<op>`), else lookup's; called like lookup's."""
    fn = lookup(op, backend)
    prep = getattr(sys.modules[fn.__module__], f"prepare_{op}", None)
    return prep(*weights(op, rest)) if prep else fn


def bind(op: str, backend: str, args, attrs: dict, constant: bool) -> Callable | None:
    """The kernel for (op, backend) bound to all its arguments (`attrs` with `out`), arrays that stay put (an
    executor's arena views, a model's weights), called with none, when the backend binds the op (its `bind_<op>`:
    arguments read once, not at every call); else None. An op that prepares its weights (`prepare_<op>`) is bound
    only when they are `constant` (what it makes of them is kept)."""
    module = sys.modules[lookup(op, backend).__module__]
    b = getattr(module, f"bind_{op}", None)
    return b(*args, **attrs) if b and (constant or not hasattr(module, f"prepare_{op}")) else None


def bind_chain(backend: str, bound: list) -> Callable | None:
    """Two or three conv2d calls bound by `bind` on `backend`, each reading the one before's output (which nothing
    else reads), as one call when the backend runs such a chain together (its `bind_conv_chain`: MobileNetV2's
    inverted residuals on the Cython kernels at 2+ threads); else None."""
    b = getattr(sys.modules[lookup("conv2d", backend).__module__], "bind_conv_chain", None)
    return b(*bound) if b else None


def over_residual(op: str, backend: str, shapes, attrs: dict) -> bool:
    """Whether (op, backend)'s kernel may write its output over its residual (the op's last tensor: one buffer for
    both) for tensors of these `shapes` (None for an absent one): the backend's `<op>_over_residual(shapes,
    **attrs)` says, for kernels that read each residual value before they write that output; False without one."""
    fn = getattr(sys.modules[lookup(op, backend).__module__], f"{op}_over_residual", None)
    return OPS[op].residual and fn is not None and bool(fn(shapes, **attrs))


def available() -> list:
    """[(op, backend, usable, reason)] for every op and backend."""
    rows = []
    for op in OPS:
        for backend in BACKENDS:
            try:
                lookup(op, backend)
                rows.append((op, backend, True, ""))
            except KernelError as e:
                rows.append((op, backend, False, str(e)))
    return rows


def _device_array(t) -> bool:
    """A pyopencl device array (only the opencl backend takes them); pyopencl is not imported here."""
    cla = sys.modules.get("pyopencl.array")
    return cla is not None and isinstance(t, cla.Array)


def _as_f32(op, tensors, t, optional):
    if t is None:
        if not optional:
            _fail(op, tensors, "a required tensor is None")
        return None
    if _device_array(t):
        if t.dtype != np.float32 or not t.flags.c_contiguous:
            _fail(op, tensors, f"device arrays must be C-contiguous float32, got {t.dtype}")
        return t
    if not isinstance(t, np.ndarray) or t.dtype != np.float32:
        _fail(op, tensors, f"tensors must be float32 numpy arrays, got {getattr(t, 'dtype', type(t).__name__)}")
    return np.ascontiguousarray(t)


def check(op: str, tensors, attrs: dict):
    """Validate tensors and attributes once: (contiguous float32 tensors, canonical attrs, out shape)."""
    if op not in OPS:
        raise KernelError(f"unknown op {op!r}")
    spec = OPS[op]
    if len(tensors) > len(spec.tensors) or len(tensors) < sum(not n.endswith("?") for n in spec.tensors):
        _fail(op, tensors, f"takes tensors ({', '.join(spec.tensors)}), got {len(tensors)}")
    tensors = list(tensors) + [None] * (len(spec.tensors) - len(tensors))
    if spec.tensors == ("xs",):
        tensors = [[_as_f32(op, tensors[0], x, False) for x in tensors[0]]]
    else:
        tensors = [_as_f32(op, tensors, t, n.endswith("?")) for t, n in zip(tensors, spec.tensors)]
    canon, shape = spec.check(op, tensors, attrs)
    unknown = set(attrs) - set(canon)
    if unknown:
        _fail(op, tensors, f"unknown attribute(s) {', '.join(sorted(unknown))}")
    return tensors, canon, shape


def run(op: str, backend: str, *tensors, out=None, **attrs):
    """Check the inputs, then run (op, backend); returns the float32 output (a device array from the
    opencl backend given device arrays)."""
    fn = lookup(op, backend)
    tensors, canon, shape = check(op, tensors, attrs)
    flat = tensors[0] if OPS[op].tensors == ("xs",) else tensors
    if not INFO[backend].device and any(_device_array(t) for t in [*flat, out]):
        _fail(op, flat, f"the {backend} backend takes numpy arrays, not OpenCL device arrays")
    if out is not None and (out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous):
        _fail(op, tensors, f"out must be a C-contiguous float32 array of shape {shape}")
    return fn(*tensors, **canon, out=out)

