"""Thread counts that survive contention. A parallel loop of the kernels ends when every one of its threads has
arrived: when another process holds a core, a descheduled thread holds up each loop for a scheduler slice, and
an inference of tens of loops takes tens of times longer (measured: 0.5 ms -> 26 ms on 2 cores with two other
busy processes). One thread is then faster. `Adaptive` times each run and drops to one thread when the runs at
the full count slow down and one thread is measured faster; it tries the full count again after a wait that
doubles while one thread stays faster (0.05 s up to 2 s), so a quiet machine is back at full speed soon and a
busy one pays little for the tries.
"""
import statistics
import time
from collections import deque

SLOW = 1.5  # a run this much slower than the best recent one at the full count: the cores may be busy
FIRST_WAIT, LONGEST_WAIT = 0.05, 2.0  # seconds before the other count is tried again


class Adaptive:
    """begin() sets and returns the thread count of the next run, end(seconds) records how long it took."""

    def __init__(self, switch):
        self.switch, self.full = switch, switch.threads
        self.recent = {self.full: deque(maxlen=8), 1: deque(maxlen=8)}
        self.tried = {self.full: time.perf_counter(), 1: float("-inf")}
        self.mode, self.wait, self.k = self.full, FIRST_WAIT, self.full

    def _estimate(self, k) -> float:
        return statistics.median(list(self.recent[k])[-3:])

    def _try_other(self, now) -> bool:
        if now - self.tried[1 if self.mode == self.full else self.full] < self.wait:
            return False
        if self.mode == 1:  # busy: try the full count again, less and less often while one thread wins
            return True
        r = self.recent[self.full]  # quiet so far: try one thread once the runs slow down
        return len(r) >= 2 and r[-1] > SLOW * min(r)

    def begin(self) -> int:
        self.k = self.mode
        if self._try_other(time.perf_counter()):
            self.k = 1 if self.mode == self.full else self.full
        if self.k != self.full:
            self.switch.use(self.k)
        return self.k

    def end(self, seconds: float):
        k = self.k
        if k != self.full:
            self.switch.use(self.full)  # other code in this process keeps the full count
        self.recent[k].append(seconds)
        self.tried[k] = time.perf_counter()
        if k == self.mode:
            return
        if seconds < self._estimate(self.mode):
            self.mode, self.wait = k, FIRST_WAIT
        else:
            self.wait = min(2 * self.wait, LONGEST_WAIT)

    @property
    def threads(self) -> int:
        """The count runs use now."""
        return self.mode
