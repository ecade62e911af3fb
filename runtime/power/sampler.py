"""Sampling a meter in a background thread, with windows marked by start/stop and energy per window."""
import threading
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np

from .energy import WindowReport, window_report
from .meter import Meter, MeterError, MeterLost, Sample

RETRY_S = 0.2  # at least this long between attempts to reopen a lost meter


class Sampler:
    """Reads `meter` until `stop()`; a lost meter becomes an outage (a gap) while it is reopened.

    `on_sample(sample, window)` is called in the sampling thread for each sample, with the name of the
    innermost open window ("" when none); an exception there, or a bug in a driver, is raised by `stop()`.
    """

    def __init__(self, meter: Meter, on_sample: Callable[[Sample, str], None] | None = None):
        self.meter, self.on_sample = meter, on_sample
        self.outages: list[list] = []  # [start, end or None] while the meter was gone
        self.lost: list[str] = []  # why, for each outage
        self.baseline_w: float | None = None
        self._samples: list[Sample] = []
        self._marks: dict[str, list] = {}  # window -> [start, stop or None]
        self._open: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="deepx-power-sampler", daemon=True)

    def start(self) -> "Sampler":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        if self._error:
            raise self._error

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def idle_s(self) -> float:
        """Seconds since the newest sample was taken (since the sampler started, before the first)."""
        with self._lock:
            last = self._samples[-1].t if self._samples else self._started
        return time.monotonic() - last

    def count(self, name: str) -> int:
        """Samples read so far inside window `name`."""
        with self._lock:
            t0, t1 = self._marks[name]
            n = 0
            for s in reversed(self._samples):  # newest first: stop at the window's start
                if s.t < t0:
                    break
                n += t1 is None or s.t <= t1
            return n

    def start_window(self, name: str):
        with self._lock:
            self._marks[name] = [time.monotonic(), None]
            self._open.append(name)

    def stop_window(self, name: str) -> WindowReport:
        with self._lock:
            self._marks[name][1] = time.monotonic()
            self._open.remove(name)
        return self.report(name)

    @contextmanager
    def window(self, name: str):
        self.start_window(name)
        try:
            yield
        finally:
            self.stop_window(name)

    def measure_baseline(self, seconds: float) -> float:
        """Mean power over `seconds` of idling (window "baseline"); later reports subtract it."""
        with self.window("baseline"):
            self._stop.wait(seconds)
        self.baseline_w = self.report("baseline").mean_w
        return self.baseline_w

    def report(self, name: str) -> WindowReport:
        """The window's report so far (up to now while it is open)."""
        with self._lock:
            t0, t1 = self._marks[name]
            samples = list(self._samples)
            outages = [tuple(o) for o in self.outages]
        t1 = time.monotonic() if t1 is None else t1
        t = np.array([s.t for s in samples])
        p = np.array([s.power_w for s in samples])
        baseline = None if name == "baseline" else self.baseline_w
        return window_report(name, t, p, t0, t1, self.meter.interval_s, outages, baseline)

    def _run(self):
        try:
            while not self._stop.is_set():
                try:
                    got = self.meter.read()
                except MeterLost as e:
                    self._reconnect(str(e))
                    continue
                with self._lock:
                    self._samples.extend(got)
                    window = self._open[-1] if self._open else ""
                if self.on_sample:
                    for s in got:
                        self.on_sample(s, window)
        except BaseException as e:  # handed to the caller by stop()
            self._error = e

    def _reconnect(self, why: str):
        outage = [time.monotonic(), None]
        with self._lock:
            self.outages.append(outage)
            self.lost.append(why)
        try:
            self.meter.close()
        except OSError:
            pass  # the device is already gone
        while not self._stop.wait(max(RETRY_S, self.meter.interval_s)):
            try:
                self.meter.open()
            except MeterError:
                continue
            with self._lock:
                outage[1] = time.monotonic()
            return
