"""Thread counts that survive contention. A parallel loop of the kernels ends when every one of its threads has arrived:
when another process holds a core, a descheduled thread holds up each loop for a scheduler slice, and an inference of
tens of loops takes tens of times longer (measured: 0.5 ms -> 26 ms on 2 cores with two other busy processes). One
thread is then faster. `Adaptive` times each run and drops to one thread when the runs at the full count slow down and
one thread is measured clearly faster (by GAIN: a noisy machine's lucky run is not enough), or a little faster (NEAR)
in NEAR_TRIES tries with none behind between; it tries the full count again after a wait that doubles while one thread
stays faster (0.05 s up to 2 s), so a quiet machine is back at full speed soon and a busy one pays little for the
tries. One thread is also tried once at the start (busy from the start). The first run at a count after runs at the
other is not a measure, and a try runs again at once: one thread's first run makes the kernels' plans for that count
(weights packed, Winograd transforms), and the first at the full count after one-thread runs wakes the other threads
(measured at 2-6x a steady run on a shared 2-core VM), which made one thread look the faster. When a try hands the
full count back and its next two runs are slower than one thread's were (the try was a lucky run on busy cores), one
thread is tried again.
"""
import statistics
import time
from collections import deque

SLOW = 1.5  # two runs in a row this much slower than the best recent one at the full count: the cores may be busy
# one thread takes over only when this much faster than the full count's recent runs: on a quiet shared VM the
# speed swings +-40% from run to run and one thread is slower by only 1.3x on some models, while busy cores make
# the full count ten times slower
GAIN = 0.75
# or when this much faster in NEAR_TRIES tries with none slower than the full count between (each a run after a
# wait that doubles): busy cores that make one thread only a little faster (ZFNet512 beside a busy loop on 2 cores:
# 47-52 ms against 57) keep it tried after a near try while it stays ahead, until it takes over; a lucky run on a
# noisy quiet VM rarely repeats three times before one behind
NEAR, NEAR_TRIES = 0.9, 3
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
        self.near = 0  # tries of one thread that came within NEAR of the full count's runs, none behind between
        self.back = float("inf")  # one thread's recent runs when the full count took over from it, until a try
        self.last = None  # the count of the previous run

    def _estimate(self, k) -> float:
        return statistics.median(list(self.recent[k])[-3:])

    def _try_other(self, now) -> bool:
        if now - self.tried[ONE if self.mode == FULL else FULL] < self.wait:
            return False
        if self.mode == ONE:  # busy: try the full count again, less and less often while one thread wins
            return True
        r = self.recent[FULL]  # quiet so far: try one thread once (busy from the start?), then when runs slow down
        # (two slow: not noise), or again after a try that came near, or when two runs after the full count took
        # over from one thread are slower than one thread's were (a lucky run on busy cores)
        return len(r) >= 2 and (not self.recent[ONE] or self.near or min(r[-1], r[-2]) > min(SLOW * min(r), self.back))

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
        changed, self.last = self.last not in (None, k), k
        if changed:  # the first run at a count after the other: not a measure (a try runs again at once)
            if k != self.mode:
                self.tried[k] = float("-inf")
            return
        self.recent[k].append(seconds)
        self.tried[k] = time.perf_counter()
        if k == self.mode:
            return
        held = self._estimate(self.mode)  # the count in force's recent runs
        if k == ONE:  # near: one more; ahead but not near: as it was; behind: none
            self.near = self.near + 1 if seconds < held * NEAR else self.near if seconds < held else 0
            self.back = float("inf")
        if seconds < held * (GAIN if k == ONE else 1.0) or self.near >= NEAR_TRIES:
            self.mode, self.wait, self.near = k, FIRST_WAIT, 0
            self.back = held if k == FULL else float("inf")
        else:
            self.wait = min(2 * self.wait, LONGEST_WAIT)

    @property
    def probing(self) -> bool:
        """Whether the start-up try of one thread is still to come (a benchmark warms up past it)."""
        return self.switch.current() > 1 and self.mode == FULL and not self.recent[ONE]

    @property
    def threads(self) -> int:
        """The count runs use now."""
        return 1 if self.mode == ONE else self.full
