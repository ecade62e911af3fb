"""deepx: run trained deep models on single-board computers with less time, memory and energy."""
import os

# Idle worker threads must sleep, not spin: a spinning pool (OpenMP's, OpenBLAS's) holds the cores
# that the next kernel -- or ONNX Runtime in a benchmark -- needs. libgomp and OpenBLAS read these
# once, when they load, so they are set before deepx imports numpy; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # 2^4 cycles of spinning before sleeping

from .errors import DeepxError, KernelError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DeepxError", "KernelError", "__version__"]
