"""Timed runs of an executor, with energy per inference when a meter reads the board meanwhile."""
import statistics
import time

import numpy as np


def timed_runs(ex, feeds, repeat: int, meter=None, baseline_s=1.0, **meter_kw) -> tuple:
    """([seconds of each of `repeat` runs], energy_per_run's report with `meter`, else None)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        ex.run(feeds)
        times.append(time.perf_counter() - t)
    if not meter:
        return times, None
    from ..power.measure import energy_per_run

    return times, energy_per_run(meter, lambda: ex.run(feeds), max(1, repeat), baseline_s, **meter_kw)


def latency(times_s) -> dict:
    ms = sorted(1e3 * t for t in times_s)
    return dict(median=statistics.median(ms), p90=float(np.percentile(ms, 90)), min=ms[0], max=ms[-1])
