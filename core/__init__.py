"""deepx: run trained deep models on single-board computers with less time, memory and energy."""
import os

# Idle worker threads spin only briefly, then sleep: long enough to bridge the gaps between the kernels
# of one inference (waking a sleeping OpenMP team costs tens of µs per parallel region, ~10% of a
# small model), short enough that a pool spinning after the last kernel (OpenMP's, OpenBLAS's) does
# not hold the cores that ONNX Runtime in a benchmark, or the board's idle power, needs next.
# libgomp and OpenBLAS read these once, when they load, so they are set before deepx imports numpy;
# a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "20000")  # libgomp: ~0.5 ms of spinning after a region
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # 2^4 cycles of spinning before sleeping

from .errors import DeepxError, KernelError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DeepxError", "KernelError", "__version__"]
