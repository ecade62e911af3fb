"""The OpenCL device of this process: its choice, one context and in-order queue, programs built once.

The device is picked by a spec "substring[:index]" (`deepx.config.OPENCL_DEVICE`, env DEEPX_OPENCL_DEVICE,
or a board profile's choice through `use_device`): the devices whose platform name or vendor, or whose own
name, contains the substring (any device when it is empty), and the index-th of them (default 0).
"""
import contextlib
import os
import weakref

import numpy as np
import pyopencl as cl
import pyopencl.array as cla
import pyopencl.tools as cl_tools

from ... import config
from ...errors import KernelError

HERE = os.path.dirname(os.path.abspath(__file__))
WM = WN = 4  # outputs per work-item of the tiled GEMM, along M (rows) and N (columns)
TK = 16  # depth of the GEMM's local-memory tiles


def _devices():
    """[(platform, device)] of every OpenCL platform here, and the platforms' descriptions."""
    try:
        platforms = cl.get_platforms()
    except cl.Error:  # no ICD loader entry at all
        platforms = []
    found, seen = [], []
    for p in platforms:
        try:
            devices = p.get_devices()
        except cl.Error:
            devices = []
        found += [(p, d) for d in devices]
        seen.append(f"{p.name.strip()} [{', '.join(d.name.strip() for d in devices) or 'no devices'}]")
    return found, seen


def find_device(spec: str):
    """The cl.Device for a spec "substring[:index]"; KernelError naming the platforms seen otherwise."""
    name, sep, index = spec.rpartition(":")
    if not (sep and index.isdigit()):
        name, index = spec, "0"
    key = name.strip().lower()
    found, seen = _devices()
    matches = [d for p, d in found
               if key in p.name.lower() or key in p.vendor.lower() or key in d.name.lower()]
    if int(index) < len(matches):
        return matches[int(index)]
    what = f"no OpenCL device matches {spec!r}" if spec else "no OpenCL device found"
    raise KernelError(f"{what} (platforms seen: {'; '.join(seen) or 'none'}); set DEEPX_OPENCL_DEVICE to "
                      f"'substring[:index]' of a platform or device seen, or use a CPU plan")


def _log_lines(err: cl.Error, n: int = 3) -> str:
    """The first n lines of the build log inside pyopencl's error message, joined on one line."""
    text = str(err)
    if "Build on" in text:
        text = text.split("Build on", 1)[1].split("\n", 1)[-1]
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("(options:")]
    return " | ".join(lines[:n])


def build(ctx, source: str, name: str, options=()):
    """A built cl.Program (pyopencl keeps the binary on disk); KernelError with the log's first lines."""
    try:
        return cl.Program(ctx, source).build(options=["-cl-std=CL1.2", *options])
    except cl.Error as e:
        dev = ctx.devices[0]
        raise KernelError(f"OpenCL build of {name} failed on {dev.name.strip()} ({dev.platform.name.strip()}): "
                          f"{_log_lines(e)}") from None


@contextlib.contextmanager
def failing(what: str, dev):
    """A pyopencl error (out of device memory, a lost device, ...) as a one-line KernelError."""
    try:
        yield
    except cl.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise KernelError(f"OpenCL {what} failed on {dev.name.strip()}: {first}") from None


def source(family: str) -> str:
    """common.cl then <family>.cl, each under a #line so that build logs name the file and line."""
    parts = []
    for name in ("common", family):
        with open(os.path.join(HERE, f"{name}.cl")) as f:
            parts.append(f'#line 1 "{name}.cl"\n{f.read()}')
    return "\n".join(parts)


class Device:
    """One OpenCL device: context, in-order queue, memory pool, programs and uploaded constants."""

    def __init__(self, dev):
        self.dev = dev
        self.ctx = cl.Context([dev])
        self.queue = cl.CommandQueue(self.ctx)
        self.alloc = cl_tools.ImmediateAllocator(self.queue)  # for constants: freed with them
        self.pool = cl_tools.MemoryPool(self.alloc)  # activations and temporaries: reused
        self.programs, self.kernels, self.consts = {}, {}, {}
        self._sizes(dev.max_work_group_size)

    def _sizes(self, limit: int):
        # work-group sizes within `limit` items: the GEMM's (L, L) grid, and 1-D groups of `group` items
        dim = min(self.dev.max_work_item_sizes[:2])
        self.L = max(n for n in (16, 8, 4, 2, 1) if n * n <= limit and n <= dim)
        self.group = max(n for n in (256, 128, 64, 32, 16, 8, 4, 2, 1) if n <= min(limit, dim))
        self.lanes = min(32, self.group)  # work-items per row of a matrix-vector product

    def options(self):
        return [f"-DGEMM_L={self.L}", f"-DGEMM_WM={WM}", f"-DGEMM_WN={WN}", f"-DGEMM_TK={TK}", f"-DGROUP={self.group}",
                f"-DLANES={self.lanes}"]

    def program(self, family: str):
        """The program of one op family, built on first use."""
        if family not in self.programs:
            prog = build(self.ctx, source(family), f"{family}.cl", self.options())
            allowed = min(k.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, self.dev)
                          for k in prog.all_kernels())
            if allowed < max(self.L * self.L, self.group):  # the kernels' registers allow less: shrink
                self._sizes(allowed)
                self.programs.clear()
                self.kernels.clear()
                return self.program(family)
            self.programs[family] = prog
        return self.programs[family]

    def kernel(self, family: str, name: str):
        if (family, name) not in self.kernels:
            self.kernels[family, name] = getattr(self.program(family), name)
        return self.kernels[family, name]

    def empty(self, shape, allocator=None) -> cla.Array:
        with failing(f"allocation of {'x'.join(map(str, shape))} floats", self.dev):
            return cla.empty(self.queue, tuple(shape), np.float32, allocator=allocator or self.pool)

    def to_device(self, a: np.ndarray, allocator=None) -> cla.Array:
        """A device copy of `a` (a blocking copy: the device array keeps no reference to `a`)."""
        a = np.ascontiguousarray(a, np.float32)
        d = self.empty(a.shape, allocator)
        if a.size:
            with failing("upload", self.dev):
                cl.enqueue_copy(self.queue, d.base_data, a, dst_offset=d.offset)
        return d

    def const(self, a: np.ndarray) -> cla.Array:
        """A graph constant's device copy, uploaded once; dropped when the host array is freed (so its
        id cannot be reused while the entry lives)."""
        key = id(a)
        if key not in self.consts:
            self.consts[key] = self.to_device(a, self.alloc)
            weakref.finalize(a, self.consts.pop, key, None)
        return self.consts[key]


_current = None


def current() -> Device:
    """This process's device (DEEPX_OPENCL_DEVICE, or the one `use_device` chose), opened on first use."""
    global _current
    if _current is None:
        _current = Device(find_device(config.OPENCL_DEVICE))
    return _current


def use_device(spec: str) -> str:
    """Switch to the device a spec names (a board profile's choice); returns its name."""
    global _current
    dev = find_device(spec)
    if _current is None or _current.dev != dev:
        if _current is not None:
            _current.queue.finish()
        _current = Device(dev)
    return f"{dev.name.strip()} ({dev.platform.name.strip()})"
