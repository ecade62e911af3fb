"""The process's resident memory, read from /proc on Linux (getrusage elsewhere)."""
import resource
import sys


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
