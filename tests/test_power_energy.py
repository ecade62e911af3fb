"""Energy, gaps and windows: exact on synthetic samples, within 1 % end to end through a UM25C emulator."""
import time

import numpy as np
import pytest

from deepx.runtime.power import Sampler, open_meter
from deepx.runtime.power.energy import find_gaps, integrate, window_report
from deepx.tools.meter_emulators import Steps

STEPS = [(0.0, 2.0), (0.8, 5.0), (1.6, 3.0), (2.4, 0.5)]


def test_trapezoid_is_exact_for_linear_power():
    t = np.linspace(0, 10, 11)
    p = 1.0 + 0.5 * t  # a ramp: the trapezoidal rule is exact
    assert integrate(t, p, 0, 10) == pytest.approx(10 + 25)
    assert integrate(t, p, 2.5, 7.5) == pytest.approx(5 * (1 + 0.5 * 5))  # window between samples
    assert integrate(t, p, -1, 0) == pytest.approx(1.0)  # held flat before the first sample


@pytest.mark.parametrize("rate_hz", [20, 100])
def test_piecewise_constant_trace_sampled_synthetically_within_1_percent(rate_hz):
    steps = Steps(STEPS, start=0.0)
    rng = np.random.default_rng(0)
    t = np.arange(0, 3.2, 1 / rate_hz) + rng.uniform(0, 0.2 / rate_hz, int(np.ceil(3.2 * rate_hz)))
    p = np.array([steps(x) for x in t])
    exact = steps.energy(0.1, 3.0)
    assert integrate(t, p, 0.1, 3.0) == pytest.approx(exact, rel=0.01)


def test_gaps_from_missing_samples_and_outages():
    t = np.array([0.0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.2])
    assert find_gaps(t, 0.0, 1.2, 0.25, []) == [(pytest.approx(0.3), pytest.approx(0.7))]
    # an outage overlapping the hole is merged with it; one still open runs to the window's end
    gaps = find_gaps(t, 0.0, 2.0, 0.25, [(0.25, 0.5), (1.5, None)])
    assert gaps == [(pytest.approx(0.25), pytest.approx(0.75)), (pytest.approx(1.2), pytest.approx(0.8))]


def test_window_report_statistics_and_baseline():
    t = np.arange(0, 2.01, 0.1)
    p = np.where(t < 1, 1.0, 3.0)
    r = window_report("w", t, p, 1.0, 2.0, 0.1, [], baseline_w=1.0)
    assert r.samples == 11 and r.min_w == 3.0 and r.max_w == 3.0 and r.gaps == []
    assert r.energy_j == pytest.approx(3.0) and r.net_energy_j == pytest.approx(2.0)
    empty = window_report("w", np.array([]), np.array([]), 0.0, 1.0, 0.1, [])
    assert empty.samples == 0 and empty.gaps == [(0.0, 1.0)] and np.isnan(empty.energy_j)


def test_energy_of_scripted_trace_through_um25c_emulator_within_1_percent(emulator):
    start = time.monotonic() + 0.3
    steps = Steps(STEPS, start=start)
    url = emulator("um25c", steps)
    meter = open_meter(f"um25c:{url}?interval=0.05")
    with Sampler(meter) as sampler:
        time.sleep(max(0.0, start + 0.1 - time.monotonic()))
        with sampler.window("run"):
            time.sleep(2.8)
        report = sampler.report("run")
        sampler.measure_baseline(0.3)  # the last step, 0.5 W
    meter.close()
    exact = steps.energy(report.start - start, report.start + report.duration_s - start)
    assert report.energy_j == pytest.approx(exact, rel=0.01)
    assert report.gaps == [] and report.samples >= 50
    assert sampler.baseline_w == pytest.approx(0.5, abs=0.01)
