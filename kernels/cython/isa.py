"""The -march levels the Cython kernels are built for on x86-64, and what each needs of the CPU (as /proc/cpuinfo
names it). No imports: setup.py reads this file before the package exists."""

# best first: setup.py builds for the first one the building CPU has
NEEDS = {
    "x86-64-v4": ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe",
                  "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
    "x86-64-v3": ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"),
}


def cpu_flags() -> set:
    """This CPU's flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1] for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def best(flags: set) -> str:
    """The best level a CPU with these flags runs ("": the compiler's default)."""
    return next((level for level, needs in NEEDS.items() if set(needs) <= flags), "")
