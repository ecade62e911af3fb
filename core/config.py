"""Defaults for the whole package, each overridable by a `DEEPX_*` environment variable."""
import os


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


#: numba `njit` options (DEEPX_NUMBA_CACHE, DEEPX_NUMBA_FASTMATH, DEEPX_NUMBA_PARALLEL)
NUMBA_CACHE = _flag("DEEPX_NUMBA_CACHE", True)
NUMBA_FASTMATH = _flag("DEEPX_NUMBA_FASTMATH", False)
NUMBA_PARALLEL = _flag("DEEPX_NUMBA_PARALLEL", True)

#: threads for kernels (numba, OpenMP, BLAS); 0 = leave the libraries' own default
THREADS = _int("DEEPX_THREADS", 0)

#: columns of the im2col buffer per GEMM call in conv2d (bounds its memory: C*R*S*CONV_TILE floats)
CONV_TILE = _int("DEEPX_CONV_TILE", 4096)

#: OpenCL device choice, "substring[:index]" (of the platform's name or vendor, or the device's name);
#: empty = the first device found
OPENCL_DEVICE = os.environ.get("DEEPX_OPENCL_DEVICE", "")

#: files deepx writes once and reuses (random-weight variants of the light models), DEEPX_CACHE_DIR
CACHE_DIR = os.environ.get("DEEPX_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deepx")
