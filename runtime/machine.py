"""What this machine is: its CPU's name, clock and vector extensions, and the OpenCL devices pyopencl finds."""
import platform


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = dict(line.split(":", 1) for line in f if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        if info.get("model name") or info.get("Hardware"):
            return info.get("model name") or info["Hardware"]
    except OSError:
        pass
    try:
        with open("/proc/device-tree/model") as f:
            return f.read().strip("\0\n ")
    except OSError:
        return platform.machine() or "unknown CPU"


def cpu_clock_ghz() -> tuple:
    """(GHz, where it was read); the cost model does not use it, `deepx boards show` prints it."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
        if mhz:
            return max(mhz) / 1e3, "/proc/cpuinfo cpu MHz"
    except (OSError, ValueError):
        pass
    return 1.0, "unknown: neither cpufreq nor /proc/cpuinfo gives it (a placeholder)"


def opencl_devices() -> tuple:
    """([(spec, pyopencl device)], why there are none). A spec is "platform name:index", the index counted
    as the opencl backend's `find_device` counts: among the devices whose platform name or vendor, or
    whose own name, contains the platform name."""
    try:
        import pyopencl as cl
    except ImportError as e:
        return [], f"pyopencl is not installed ({e})"
    try:
        pairs = [(plat, dev) for plat in cl.get_platforms() for dev in plat.get_devices()]
    except cl.Error as e:
        return [], f"no OpenCL platform ({e})"
    found = []
    for plat, dev in pairs:
        key = plat.name.strip().lower()
        same = [d for p, d in pairs if key in p.name.lower() or key in p.vendor.lower() or key in d.name.lower()]
        found.append((f"{plat.name.strip()}:{same.index(dev)}", dev))
    return found, "" if found else "no OpenCL device"


def is_gpu(dev) -> bool:
    import pyopencl as cl

    return not dev.type & cl.device_type.CPU


def unified_memory(dev) -> bool:
    """Whether the OpenCL device shares the host's memory (a Jetson's GPU does, a desktop card does not)."""
    import pyopencl as cl

    try:
        return bool(dev.host_unified_memory)
    except (cl.Error, AttributeError):
        return False


#: /proc/cpuinfo flags of the vector extensions, and their names
VECTOR_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("fma", "FMA"), ("asimd", "NEON"), ("neon", "NEON"))


def cpu_flags() -> list:
    """The vector extensions /proc/cpuinfo lists (AVX-512, AVX2, FMA, NEON), in that order."""
    try:
        with open("/proc/cpuinfo") as f:
            words = set(" ".join(line.split(":", 1)[1] for line in f if line.split(":")[0].strip()
                                 in ("flags", "Features")).split())
    except OSError:
        return []
    return list(dict.fromkeys(name for flag, name in VECTOR_FLAGS if flag in words))
