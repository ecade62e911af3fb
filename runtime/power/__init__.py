"""deepx.runtime.power: meters chosen by spec string, background sampling, energy per marked window.

    meter = open_meter("um25c:/dev/rfcomm0")
    with Sampler(meter) as s:
        s.measure_baseline(2.0)
        with s.window("inference"):
            run()
    print(s.report("inference").net_energy_j)
"""
from .energy import WindowReport
from .meter import Meter, MeterError, MeterLost, Sample
from .sampler import Sampler
from .spec import KINDS, open_meter
from .trace import TraceWriter, read_trace

__all__ = ["KINDS", "Meter", "MeterError", "MeterLost", "Sample", "Sampler", "TraceWriter", "WindowReport",
           "open_meter", "read_trace"]
