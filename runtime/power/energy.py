"""Energy and power statistics of a window of samples (trapezoidal rule), and the gaps in it."""
from dataclasses import dataclass, field

import numpy as np

GAP_FACTOR = 2.5  # a stretch with no sample longer than this many sample intervals is a gap


@dataclass
class WindowReport:
    """What a meter saw between two markers. Times are seconds; gaps are (start from window start, length)."""

    name: str
    start: float
    duration_s: float
    energy_j: float
    mean_w: float
    min_w: float
    max_w: float
    samples: int
    gaps: list[tuple[float, float]] = field(default_factory=list)
    baseline_w: float | None = None

    @property
    def net_energy_j(self) -> float | None:
        """Energy above the idle baseline (None when no baseline was measured)."""
        return None if self.baseline_w is None else self.energy_j - self.baseline_w * self.duration_s


def integrate(t: np.ndarray, p: np.ndarray, t0: float, t1: float) -> float:
    """Joules between t0 and t1 of the piecewise-linear power through the samples (held flat past the ends)."""
    inside = (t > t0) & (t < t1)
    tt = np.concatenate(([t0], t[inside], [t1]))
    pp = np.interp(tt, t, p)
    return float(np.sum((pp[1:] + pp[:-1]) * np.diff(tt)) / 2)


def find_gaps(t: np.ndarray, t0: float, t1: float, max_dt: float,
              outages: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, length) of each stretch in [t0, t1] with no sample for longer than max_dt, or with the meter
    disconnected (outages are (start, end) with end possibly None = still out), merged, absolute times."""
    times = np.concatenate(([t0], t[(t >= t0) & (t <= t1)], [t1]))
    holes = [(a, b) for a, b in zip(times[:-1], times[1:]) if b - a > max_dt]
    holes += [(max(a, t0), min(t1 if b is None else b, t1)) for a, b in outages
              if a < t1 and (b is None or b > t0)]
    merged = []
    for a, b in sorted(holes):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(float(a), float(b - a)) for a, b in merged]


def window_report(name: str, t: np.ndarray, p: np.ndarray, t0: float, t1: float, interval_s: float,
                  outages: list[tuple[float, float]], baseline_w: float | None = None) -> WindowReport:
    """Energy, mean/min/max power, sample count and gaps of the samples (t, p) between t0 and t1."""
    inside = (t >= t0) & (t <= t1)
    n = int(inside.sum())
    gaps = [(a - t0, length) for a, length in find_gaps(t, t0, t1, GAP_FACTOR * interval_s, outages)]
    if len(t) == 0:
        nan = float("nan")
        return WindowReport(name, t0, t1 - t0, nan, nan, nan, nan, 0, gaps or [(0.0, t1 - t0)], baseline_w)
    energy = integrate(t, p, t0, t1)
    pin = p[inside] if n else np.interp([t0, t1], t, p)
    return WindowReport(name, t0, t1 - t0, energy, energy / (t1 - t0) if t1 > t0 else float(pin.mean()),
                        float(pin.min()), float(pin.max()), n, gaps, baseline_w)
