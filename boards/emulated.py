"""The emulated board: a virtual clock that advances by a board's cost model, with each processor's
activity over time and the board's power as a function of time (idle + active per processor).

The runtime runs the kernels for real on the host and tells the clock what ran where (`busy`,
`hand_over`); the clock knows nothing of models. `power_source` lets a meter emulator read the power.
"""
import time

from .profile import Board

HAND_OVER = "transfer"  # the activity name of hand-overs between processors


class EmulatedBoard:
    def __init__(self, board: Board):
        self.board = board
        self.now_ms = 0.0
        self.intervals = []  # (processor id or HAND_OVER, start ms, end ms, watts above idle)

    def busy(self, parts, duration_ms: float | None = None):
        """Processors computing at once from now: parts [(Processor, ms)]; the clock advances by
        `duration_ms` (default: the longest part)."""
        for p, ms in parts:
            self.intervals.append((p.id, self.now_ms, self.now_ms + ms, p.active_w))
        self.now_ms += max(ms for _, ms in parts) if duration_ms is None else duration_ms

    def hand_over(self, ms: float):
        self.intervals.append((HAND_OVER, self.now_ms, self.now_ms + ms, self.board.transfer_w))
        self.now_ms += ms

    def activity(self) -> dict:
        """{processor id or "transfer": [(start ms, end ms)]}."""
        out = {}
        for who, a, b, _ in self.intervals:
            out.setdefault(who, []).append((a, b))
        return out

    def power_w(self, t_ms: float) -> float:
        return self.board.idle_w + sum(w for _, a, b, w in self.intervals if a <= t_ms < b)

    def energy_mj(self, t0_ms: float = 0.0, t1_ms: float | None = None) -> float:
        """Exact energy between two virtual times (W x ms = mJ)."""
        t1_ms = self.now_ms if t1_ms is None else t1_ms
        active = sum(w * max(0.0, min(b, t1_ms) - max(a, t0_ms)) for _, a, b, w in self.intervals)
        return self.board.idle_w * (t1_ms - t0_ms) + active

    def power_source(self, start: float | None = None, period_ms: float | None = None):
        """A meter emulator's power source, f(time.monotonic()) -> watts: the virtual timeline replayed in
        real time from `start`, repeated every `period_ms` (default: its length; idle if it is empty)."""
        start = time.monotonic() if start is None else start
        period = period_ms or self.now_ms

        def source(t: float) -> float:
            if period <= 0:
                return self.board.idle_w
            return self.power_w(((t - start) * 1e3) % period)

        return source
