"""Timed runs of an executor, with energy per inference when a meter reads the board meanwhile."""
import statistics
import time

import numpy as np


def timed_runs(ex, feeds, repeat: int, meter=None, baseline_s=1.0, **meter_kw) -> tuple:
    """([seconds of each of `repeat` runs], energy_per_run's report with `meter` (and `latency_ms` of the runs in
    its window), else None)."""
    def run(into: list):
        t = time.perf_counter()
        ex.run(feeds)
        into.append(time.perf_counter() - t)

    times = []
    for _ in range(repeat):
        run(times)
    if not meter:
        return times, None
    from ..power.measure import energy_per_run

    window = []  # each run in the metered window, timed too: hundreds of runs where `repeat` gives a few
    energy = energy_per_run(meter, lambda: run(window), max(1, repeat), baseline_s, **meter_kw)
    return times, dict(energy, latency_ms=dict(latency(window), runs=len(window)))


def latency(times_s) -> dict:
    ms = sorted(1e3 * t for t in times_s)
    return dict(median=statistics.median(ms), p90=float(np.percentile(ms, 90)), min=ms[0], max=ms[-1])
