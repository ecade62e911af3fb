"""Every serial meter spec against its emulator over a real pseudo-terminal (or TCP), with faults."""
import os
import time

import pytest
import serial

from deepx.runtime.power import MeterError, Sampler, TraceWriter, open_meter
from deepx.runtime.power.um import MODELS
from deepx.tools.meter_emulators import Faults, ScpiEmulator, constant

SOAK_S = float(os.environ.get("DEEPX_POWER_SOAK_S", "3"))  # the figure: DEEPX_POWER_SOAK_S=60


def run(spec, seconds):
    """Open the meter, sample for `seconds` in window "w"; (report, sampler, meter)."""
    meter = open_meter(spec)
    with Sampler(meter) as sampler:
        with sampler.window("w"):
            time.sleep(seconds)
    meter.close()
    return sampler.report("w"), sampler, meter


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_um_meters(emulator, kind):
    url = emulator(kind, constant(3.217))
    report, sampler, meter = run(f"{kind}:{url}?interval=0.05", 0.8)
    assert report.samples >= 14 and report.gaps == []
    assert report.mean_w == pytest.approx(3.217, abs=0.002)
    s = sampler.samples[-1]
    assert s.voltage_v == pytest.approx(5.08, abs=0.01) and s.current_a == pytest.approx(3.217 / 5.08, abs=0.001)
    assert meter.stats["discarded"] == 0


@pytest.mark.parametrize("emulated, driver", [("ms,V,mA", "ms,V,mA"), ("ms,V,mV,V,mA", "ms,_,_,V,mA"),
                                              ("ms,mW", "ms,mW")])
def test_ina_logger_skips_its_banner(emulator, emulated, driver):
    url = emulator("ina", constant(1.25), columns=emulated, period=0.02)
    report, sampler, meter = run(f"ina:{url}?columns={driver}", 0.6)
    assert report.mean_w == pytest.approx(1.25, rel=1e-3) and report.gaps == []
    assert report.samples >= 20 and meter.interval_s == pytest.approx(0.02, rel=0.5)
    assert meter.gives_vi == ("V" in driver)


@pytest.mark.parametrize("tcp", [False, True])
def test_scpi_supply(emulator, tcp):
    url = emulator("scpi", constant(2.0), tcp_port=0 if tcp else None)
    assert url.startswith("socket://127.0.0.1:") == tcp
    report, sampler, meter = run(f"scpi:{url}?channel=1&interval=0.05", 0.6)
    assert meter.idn.startswith("RIGOL TECHNOLOGIES,DP832")
    assert report.mean_w == pytest.approx(2.0, abs=1e-3) and report.samples >= 8
    assert emulator.last.remote and emulator.last.channel == 1
    report, _, _ = run(f"scpi:{url}?channel=2&interval=0.05", 0.3)  # output off, no load
    assert report.mean_w == 0 and emulator.last.channel == 2


def test_scpi_emulator_commands():
    dp = ScpiEmulator(constant(2.5))
    assert dp.execute("*IDN?").split(",")[:2] == ["RIGOL TECHNOLOGIES", "DP832"]
    assert dp.execute(":MEAS:VOLT? CH1") == "5.0000" and dp.execute(":MEASure:CURRent?") == "0.5000"
    assert dp.execute(":MEAS:POWE? CH1") == "2.500" and dp.execute(":MEAS:ALL? CH1") == "5.0000,0.5000,2.500"
    assert dp.execute(":INST CH2") is None and dp.execute(":INST?") == "CH2"
    assert dp.execute(":INST:NSEL 3") is None and dp.execute(":INST:NSEL?") == "3"
    assert dp.execute(":OUTP? CH2") == "OFF" and dp.execute(":OUTP CH2,ON") is None
    assert dp.execute(":OUTP? CH2") == "ON" and dp.execute(":MEAS:VOLT? CH2") == "12.0000"
    assert dp.execute("SYST:REM") is None and dp.remote
    assert dp.execute(":BOGUS?") is None and dp.execute("SYST:ERR?") == '-113,"Undefined header"'
    assert dp.execute(":INST CH9") is None and dp.execute("SYST:ERR?").startswith("-224")
    assert dp.execute("SYST:ERR?") == '0,"No error"'
    assert dp.answer(b"*IDN?;:MEAS:CURR? CH1\n:OUTP? CH1\r\n") == f"{dp.IDN}\n0.5000\nON\n".encode()


def test_scpi_emulator_dp800_settings():
    """The queries and settings of sigrok's DP800 profile, per channel (`:INST:NSEL n`, `CHn` or `:SOURn`)."""
    dp = ScpiEmulator(constant(2.5))
    assert dp.execute("SYST:BEEP:STAT?") == "ON" and dp.execute("SYST:BEEP:STAT OFF") is None
    assert dp.execute(":SYSTem:BEEPer?") == "OFF" and dp.execute(":SYST:OTP?") == "ON"
    channel_1 = {":OUTP?": "ON", ":OUTP:MODE?": "CV", ":SOUR:VOLT?": "5.000", ":SOUR:CURR?": "3.000",
                 ":OUTP:OVP?": "OFF", ":OUTP:OVP:QUES?": "NO", ":OUTP:OVP:VAL?": "33.000", ":OUTP:OCP?": "OFF",
                 ":OUTP:OCP:QUES?": "NO", ":OUTP:OCP:VAL?": "3.300"}
    assert {q: dp.execute(q) for q in channel_1} == channel_1
    assert dp.answer(b":INST:NSEL 2\n:SOUR:VOLT 7.5\n:OUTP ON\n") == b""
    assert dp.execute(":MEAS:VOLT?") == "7.5000" and dp.execute(":MEAS:CURR?") == "0.0000"  # no load on CH2
    assert dp.execute(":OUTP:OCP:STAT ON") is None and dp.execute(":OUTP:OCP? CH2") == "ON"
    assert dp.execute(":OUTP:OCP? CH1") == "OFF" and dp.execute(":SOUR3:VOLT?") == "3.300"
    assert dp.execute(":SOUR:VOLT 40") is None and dp.execute("SYST:ERR?") == '-222,"Data out of range"'
    assert dp.execute(":VOLT?") == "7.500" and dp.execute("*RST") is None and dp.execute(":SOUR2:VOLT?") == "12.000"


def test_scpi_error_queue_over_tcp(emulator):
    """An unknown query queues -113 and, as on an SCPI instrument, gets no reply; SYST:ERR? pops the queue."""
    url = emulator("scpi", tcp_port=0)
    with serial.serial_for_url(url, timeout=0.3) as port:
        port.write(b":BOGUS?\n")
        assert port.readline() == b""
        port.write(b"*ESR?\nSYST:ERR?\nSYST:ERR?\n*ESR?\n")
        assert [port.readline() for _ in range(4)] == [b"32\n", b'-113,"Undefined header"\n', b'0,"No error"\n',
                                                       b"0\n"]
        port.write(b":SOUR:VOLT ABC;:FOO;*CLS;SYST:ERR?\n")
        assert port.readline() == b'0,"No error"\n'


def test_um25c_10hz_no_lost_frame(emulator):
    """The issue asks for 60 s: DEEPX_POWER_SOAK_S=60 pytest tests/test_power_meters.py -k 10hz."""
    url = emulator("um25c", constant(4.5))
    report, sampler, meter = run(f"um25c:{url}", SOAK_S)
    st = meter.stats
    print(f"\nUM25C 10 Hz for {SOAK_S:g} s: {st}, {report.samples} samples in window, gaps {report.gaps}")
    assert st["polls"] == st["samples"] == emulator.last.frames - 1  # less the probe at open
    assert st["discarded"] == st["timeouts"] == 0
    assert report.gaps == [] and abs(report.samples - 10 * SOAK_S) <= 2


@pytest.mark.parametrize("kind, corrupt, drop", [("um25c", 0.005, 0.005), ("um24c", 0.0, 0.01),
                                                 ("um34c", 0.01, 0.0)])
def test_um_faults_discarded_and_resynchronised(emulator, kind, corrupt, drop):
    faults = Faults(seed=7)
    url = emulator(kind, constant(3.217), faults=faults)
    meter = open_meter(f"{kind}:{url}?interval=0.05")
    faults.corrupt, faults.drop = corrupt, drop  # after the probe: a bad link from now on
    with Sampler(meter) as sampler:
        time.sleep(2.5)
    meter.close()
    m, st = MODELS[kind], meter.stats
    print(f"\n{kind} corrupt {corrupt} drop {drop}: {faults.writes} answers, {faults.clean_writes} intact, "
          f"{faults.corrupted} bytes corrupted, {faults.dropped} dropped; driver {st}")
    assert faults.corrupted + faults.dropped > 10 and faults.writes - faults.clean_writes > 10
    for s in sampler.samples:  # no bad value got through
        assert s.power_w == pytest.approx(3.217, abs=0.001 + 0.01 * 3.217)
        assert s.voltage_v == pytest.approx(5.08, abs=m.volt_lsb)
    # every intact answer was decoded: a bad one never costs the next one (resync within one frame)
    assert st["samples"] >= faults.clean_writes - 1
    assert st["discarded"] > 0


def test_unplugged_mid_run_keeps_samples_and_reports_the_gap(emulator, tmp_path):
    url = emulator("um25c", constant(2.0))
    meter = open_meter(f"um25c:{url}")
    path = tmp_path / "trace.csv"
    with open(path, "w") as f:
        writer = TraceWriter(f, time.monotonic(), meter.gives_vi, with_window=True)
        with Sampler(meter, on_sample=writer.write) as sampler:
            with sampler.window("run"):
                time.sleep(1.0)
                emulator.last.unplug()
                time.sleep(1.0)
    report = sampler.report("run")
    assert len(sampler.lost) == 1 and report.samples >= 8
    (gap_start, gap_len), = report.gaps
    assert gap_start == pytest.approx(1.0, abs=0.25) and gap_len == pytest.approx(1.0, abs=0.25)
    rows = path.read_text().splitlines()
    assert rows[0] == "time_s,power_w,voltage_v,current_a,window"
    assert len(rows) - 1 == len(sampler.samples) == writer.rows


def test_tcp_meter_comes_back_after_an_outage(emulator):
    url = emulator("um25c", constant(2.0), tcp_port=0)
    em = emulator.last
    meter = open_meter(f"um25c:{url}")
    with Sampler(meter) as sampler:
        with sampler.window("run"):
            time.sleep(0.7)
            em.unplug()
            time.sleep(0.7)
            em.start()  # the same port
            time.sleep(1.0)
    meter.close()
    report = sampler.report("run")
    (gap_start, gap_len), = report.gaps
    assert gap_start == pytest.approx(0.7, abs=0.25) and gap_len == pytest.approx(0.7, abs=0.35)
    assert sampler.samples[-1].t > sampler.outages[0][1] and report.samples >= 15


class FirstAnswerDamaged(Faults):
    """The meter's first answer arrives with its end marker damaged (its model id intact)."""

    def apply(self, data: bytes) -> bytes:
        data = super().apply(data)
        return data[:-1] + bytes([data[-1] ^ 0xFF]) if self.writes == 1 else data


def test_a_damaged_first_frame_is_polled_again(emulator):
    """Opening polls again after a damaged frame of the right model (it gave up on it before: a noisy link
    failed to open one time in ten)."""
    url = emulator("um25c", constant(3.0), faults=FirstAnswerDamaged())
    meter = open_meter(f"um25c:{url}")
    assert meter.parser.discarded >= 1 and meter.read()[0].power_w == pytest.approx(3.0, abs=0.001)
    meter.close()


def test_wrong_model_id_names_the_byte(emulator):
    url = emulator("um24c")
    with pytest.raises(MeterError, match=r"model id 0x0963 \(UM24C\) at byte 0, expected 0x09C9 \(UM25C\)"):
        open_meter(f"um25c:{url}")


@pytest.mark.parametrize("kind, message", [("um25c", "no answer to poll 0xF0 within 0.3 s"),
                                           ("scpi", r"no reply to \*IDN\? within 0.3 s"),
                                           ("ina", "fewer than 5 data lines within 0.3 s")])
def test_silent_meter_times_out(emulator, kind, message):
    url = emulator(kind, faults=Faults())
    emulator.last.faults.silent = True
    t = time.monotonic()
    with pytest.raises(MeterError, match=message):
        open_meter(f"{kind}:{url}?timeout=0.3")
    assert time.monotonic() - t < 1.5


def test_missing_and_busy_ports(emulator):
    with pytest.raises(MeterError, match="um25c:/dev/nonexistent: cannot open port /dev/nonexistent: No such file"):
        open_meter("um25c:/dev/nonexistent")
    url = emulator("um25c")
    with serial.Serial(url, exclusive=True):
        with pytest.raises(MeterError, match=f"port {url} is busy"):
            open_meter(f"um25c:{url}")


@pytest.mark.parametrize("spec, message", [
    ("um25c", "give the port"), ("um25c:/dev/x?speed=1", "unknown option 'speed'"),
    ("um25c:/dev/x?interval=-1", "must be positive"), ("ina:/dev/x?columns=ms,V", "neither power"),
    ("emulated", "give the board"), ("emulated:jetson-nano?model=m.onnx", "model= and plan= go together"),
    ("joulescope", "KIND one of")])
def test_bad_specs(spec, message):
    with pytest.raises(MeterError, match=message):
        open_meter(spec)
