"""deepx: run trained deep models on single-board computers with less time, memory and energy."""
from .errors import DeepxError, KernelError

__version__ = "0.1.0"
__all__ = ["DeepxError", "KernelError", "__version__"]
