"""An emulated board's power model read as a meter: `emulated:BOARD[?model=M.onnx&plan=P.json&interval=0.1]`."""
import time

from .meter import Meter, MeterError, Sample


class EmulatedMeter(Meter):
    """Samples the board's power(t): idle, or a plan's inference on it repeated back to back."""

    replays_model = True

    def __init__(self, spec: str, board: str, model: str = "", plan: str = "", interval: float = 0.1):
        super().__init__()
        from ..emulate import board_power_source

        if bool(model) != bool(plan):
            raise MeterError(f"{spec}: model= and plan= go together")
        self.spec, self.interval_s = spec, interval
        self.source = board_power_source(board, model or None, plan or None)

    def read(self) -> list[Sample]:
        self._pace()
        t = time.monotonic()
        self.stats["samples"] += 1
        return [Sample(t, self.source(t))]
