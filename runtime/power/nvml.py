"""An NVIDIA GPU's own power reading through NVML (the `nvidia-ml-py` package, imported only when used)."""
import time

from .meter import Meter, MeterError, Sample


class NvmlMeter(Meter):
    """`nvml` or `nvml:INDEX` (GPU index, default 0), `?interval=0.05`."""

    def __init__(self, spec: str, index: str = "0", interval: float = 0.05):
        super().__init__()
        self.spec, self.index, self.interval_s = spec, index or "0", interval
        try:
            import pynvml
        except ImportError:
            raise MeterError(f"{spec}: needs the nvidia-ml-py package (pip install nvidia-ml-py)") from None
        self.nvml = pynvml
        self.open()

    def open(self):
        try:
            self.nvml.nvmlInit()
            self.handle = self.nvml.nvmlDeviceGetHandleByIndex(int(self.index))
            self.nvml.nvmlDeviceGetPowerUsage(self.handle)
        except (self.nvml.NVMLError, ValueError) as e:
            raise MeterError(f"{self.spec}: NVML: {e}") from None

    def close(self):
        self.nvml.nvmlShutdown()

    def read(self) -> list[Sample]:
        self._pace()
        try:
            milliwatts = self.nvml.nvmlDeviceGetPowerUsage(self.handle)
        except self.nvml.NVMLError:
            self.stats["discarded"] += 1
            return []
        self.stats["samples"] += 1
        return [Sample(time.monotonic(), milliwatts / 1e3)]
