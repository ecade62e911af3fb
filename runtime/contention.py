"""Thread counts that survive contention. A parallel loop of the kernels ends when every one of its threads has
arrived: when another process holds a core, a descheduled thread holds up each loop for a scheduler slice, and
an inference of tens of loops takes tens of times longer (measured: 0.5 ms -> 26 ms on 2 cores with two other
busy processes). One thread is then faster. `Adaptive` times each run and drops to one thread when the runs at
the full count slow down and one thread is measured faster; it tries the full count again after a wait that
doubles while one thread stays faster (0.05 s up to 2 s), so a quiet machine is back at full speed soon and a
busy one pays little for the tries. One thread is also tried once at the start (busy from the start). The first
run at one thread is not a measure (the kernels make their plans for that count then: weights packed, Winograd
transforms) and is run again at once.
"""
import statistics
import time
from collections import deque

SLOW = 1.5  # a run this much slower than the best recent one at the full count: the cores may be busy
FIRST_WAIT, LONGEST_WAIT = 0.05, 2.0  # seconds before the other count is tried again
FULL, ONE = "full", "one"  # the thread count in force, or one thread


class Adaptive:
    """begin() sets the thread count of the next run (the count in force, or one), end(seconds) records how long
    it took. Nothing adapts while the count in force is one."""

    def __init__(self, switch):
        self.switch = switch
        self.recent = {FULL: deque(maxlen=8), ONE: deque(maxlen=8)}
        self.tried = {FULL: time.perf_counter(), ONE: float("-inf")}
        self.mode, self.wait, self.k, self.full = FULL, FIRST_WAIT, None, 1
        self.planned_one = False  # a run at one thread has made the kernels' plans for it

    def _estimate(self, k) -> float:
        return statistics.median(list(self.recent[k])[-3:])

    def _try_other(self, now) -> bool:
        if now - self.tried[ONE if self.mode == FULL else FULL] < self.wait:
            return False
        if self.mode == ONE:  # busy: try the full count again, less and less often while one thread wins
            return True
        r = self.recent[FULL]  # quiet so far: try one thread once (busy from the start?), then when runs slow down
        return len(r) >= 2 and (not self.recent[ONE] or r[-1] > SLOW * min(r))

    def begin(self):
        self.full = self.switch.current()
        if self.full <= 1:
            self.k = None
            return
        self.k = self.mode
        if self._try_other(time.perf_counter()):
            self.k = ONE if self.mode == FULL else FULL
        if self.k == ONE:
            self.switch.use(1)

    def end(self, seconds: float):
        k = self.k
        if k is None:
            return
        if k == ONE:
            self.switch.use(self.full)  # other code in this process keeps the count in force
            if not self.planned_one:  # not a measure: tried again at the next run
                self.planned_one, self.tried[ONE] = True, float("-inf")
                return
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
        return 1 if self.mode == ONE else self.full
