"""Energy per inference: repeat a run inside one meter window until the window holds enough samples."""
import time
from contextlib import ExitStack

from .meter import MeterError
from .sampler import Sampler
from .spec import open_meter
from .trace import TraceWriter

MIN_SAMPLES = 20  # a window must span at least this many meter samples
# past its span, a window short of samples runs on while the meter's newest sample is younger than this many
# intervals (or seconds): a slow meter's samples come late (a busy 2-core host's UM25C at 0.02 s: 18 in 0.8 s), a
# lost meter's not at all
STALL_INTERVALS, STALL_MIN_S = 10, 0.5


def energy_per_run(meter_spec: str, run, min_runs: int = 1, baseline_s: float = 1.0, min_window_s: float = 0.0,
                   trace: str | None = None) -> dict:
    """Run `run()` at least min_runs times, and until the window spans MIN_SAMPLES meter samples and
    min_window_s seconds. `trace`: a CSV path for every sample, with its window ("baseline", "inference").

    Returns energy_mj_per_inference (above the idle baseline when baseline_s > 0), the runs, the
    window's samples, mean power and gaps (start from the window's start, length; seconds), and
    replays_model (an `emulated:` meter: the board's cost model read back, not measured)."""
    with ExitStack() as stack:
        meter = open_meter(meter_spec)
        stack.callback(meter.close)
        on_sample = None
        if trace:
            try:
                f = stack.enter_context(open(trace, "w", newline=""))
            except OSError as e:
                raise MeterError(f"{trace}: cannot write: {e.strerror}") from None
            on_sample = TraceWriter(f, time.monotonic(), meter.gives_vi, with_window=True).write
        with Sampler(meter, on_sample) as sampler:
            if baseline_s > 0:
                sampler.measure_baseline(baseline_s)
            runs, span = 0, max(MIN_SAMPLES * meter.interval_s, min_window_s)
            stall = max(STALL_INTERVALS * meter.interval_s, STALL_MIN_S)
            with sampler.window("inference"):
                start = time.monotonic()
                while runs < min_runs or time.monotonic() - start < span or (
                        sampler.count("inference") < MIN_SAMPLES and sampler.idle_s() < stall):
                    run()  # past `span`, on while samples still come until they are in (a lost meter: a gap)
                    runs += 1
            w = sampler.report("inference")
    energy = w.energy_j if w.net_energy_j is None else w.net_energy_j
    return dict(energy_mj_per_inference=1e3 * energy / runs, runs=runs, window_s=w.duration_s, samples=w.samples,
                mean_w=w.mean_w, baseline_w=w.baseline_w, gaps=w.gaps, replays_model=meter.replays_model)
