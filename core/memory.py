"""The process's resident memory, read from /proc on Linux (getrusage elsewhere); buffers on huge pages."""
import mmap
import resource
import sys

import numpy as np


def _status_kib(key: str):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """The resident set now (pages touched and still mapped)."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else peak_rss_bytes()


def peak_rss_bytes() -> int:
    """This process's peak resident set. Linux: VmHWM, the high-water mark of its own memory; its
    ru_maxrss also counts the parent's resident set at fork when the process was started by fork + exec
    (`deepx demo` running deepx-run read 1683 MiB for a 340 MiB run)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _huge_page_bytes() -> int:
    """The size of Linux's transparent huge pages where a program may ask for them (madvise or always), else 0."""
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return 0
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[never]" in f.read():
                return 0
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


HUGE_PAGE = _huge_page_bytes()


def empty_huge(n: int) -> np.ndarray:
    """n float32s, uninitialised, on transparent huge pages where Linux has them (2 MiB on x86-64): the buffer starts
    on a huge page and is asked for as huge pages (madvise), so a kernel that strides through it (a GEMM reading a
    conv's input a row of pixels per channel, 12 KB apart) finds every row in a few TLB entries, not one 4 KiB page
    each. Elsewhere, or for a buffer under one huge page, numpy's allocation (aligned to a 4 KiB page)."""
    n = max(n, 1)
    nbytes = n * 4
    if nbytes < HUGE_PAGE or not HUGE_PAGE:
        raw = np.empty(n + 1024, np.float32)
        skip = (-raw.ctypes.data % 4096) // 4
        return raw[skip:skip + n]
    mm = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    raw = np.frombuffer(mm, np.uint8)
    skip = -raw.ctypes.data % HUGE_PAGE
    mm.madvise(mmap.MADV_HUGEPAGE, skip, nbytes)
    return raw[skip:skip + nbytes].view(np.float32)
