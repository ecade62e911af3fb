"""`deepx-power` end to end in subprocesses: record, measure, plot, emulate; one-line errors with exit 2."""
import re
import signal
import subprocess
import sys

import pytest
import serial

from deepx.tools.meter_emulators import Faults, Steps


def power(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "deepx.tools.power_cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(p, text):
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("deepx-power: error: ") and text in last, last


def test_record_then_plot(emulator, tmp_path):
    url = emulator("um25c", Steps([(0, 1.0), (0.6, 4.0)]))
    csv, png = tmp_path / "t.csv", tmp_path / "t.png"
    p = power("record", "--meter", f"um25c:{url}?interval=0.05", "--duration", "1.2", "-o", str(csv))
    assert p.returncode == 0, p.stderr
    rows = csv.read_text().splitlines()
    assert rows[0] == "time_s,power_w,voltage_v,current_a" and len(rows) > 15
    assert {r.split(",")[1] for r in rows[1:]} <= {"1", "4"}
    assert "samples, gaps: none" in p.stderr
    p = power("plot", str(csv), "-o", str(png))
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_record_reports_the_samples_it_writes(emulator, tmp_path):
    """Every row record writes is inside the window it reports: a read that ended after the window used to be
    written but not counted (101 samples reported, 102 rows written for 10 s at 0.1 s)."""
    url = emulator("um25c")
    csv = tmp_path / "t.csv"
    p = power("record", "--meter", f"um25c:{url}?interval=0.05", "--duration", "1", "-o", str(csv))
    assert p.returncode == 0, p.stderr
    rows = csv.read_text().splitlines()[1:]
    reported = int(re.search(r", (\d+) samples, gaps", p.stderr)[1])
    assert reported == len(rows) == int(re.search(r"meter samples (\d+),", p.stderr)[1]) >= 15
    assert 1.0 <= float(re.search(r"duration ([\d.]+) s", p.stderr)[1]) < 1.2


def test_record_from_an_emulated_board_says_it_is_the_model_and_plot_draws_it(tmp_path):
    """An `emulated:` meter's trace is the cost model replayed: record says so; a trace with a modelled_w column is
    plotted with the modelled mean power dashed and a note on the aliasing."""
    csv, png = tmp_path / "t.csv", tmp_path / "t.png"
    p = power("record", "--meter", "emulated:jetson-nano?interval=0.05", "--duration", "0.3", "-o", str(csv))
    assert p.returncode == 0, p.stderr
    assert "emulated meter: the board's modelled power replayed, not measured" in p.stderr
    csv.write_text("time_s,power_w,window,modelled_w\n0,2,a,3\n0.1,4,a,3\n0.2,2,,3\n")
    p = power("plot", str(csv), "-o", str(png))
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv.write_text("time_s,power_w,modelled_w\n0,2,x\n")
    one_line_error(power("plot", str(csv), "-o", str(png)), "t.csv:2: expected a number in column modelled_w")


def test_measure_keeps_the_exit_code_and_reports_energy(emulator, tmp_path):
    url = emulator("scpi", tcp_port=0)
    csv = tmp_path / "m.csv"
    p = power("measure", "--meter", f"scpi:{url}?interval=0.05", "--baseline", "0.3", "-o", str(csv), "--",
              sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(3)")
    assert p.returncode == 3, p.stderr
    assert "energy " in p.stderr and "net " in p.stderr and "gaps: none" in p.stderr
    windows = {r.rsplit(",", 1)[1] for r in csv.read_text().splitlines()[1:]}
    assert {"baseline", "command"} <= windows
    p = power("plot", str(csv), "-o", str(tmp_path / "m.png"))
    assert p.returncode == 0, p.stderr


def test_emulate_serves_until_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "deepx.tools.power_cli", "emulate", "um34c", "--watts", "1.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        p = power("record", "--meter", f"um34c:{port}", "--duration", "0.5", "-o", str(tmp_path / "e.csv"))
        assert p.returncode == 0 and "mean 1.5000 W" in p.stderr, p.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_errors_are_one_line(emulator, tmp_path):
    out = str(tmp_path / "x.csv")
    one_line_error(power("record", "--meter", "um25c:/dev/nonexistent", "-o", out),
                   "um25c:/dev/nonexistent: cannot open port /dev/nonexistent: No such file or directory")
    url = emulator("um24c")
    one_line_error(power("record", "--meter", f"um25c:{url}", "-o", out),
                   "model id 0x0963 (UM24C) at byte 0, expected 0x09C9 (UM25C)")
    with serial.Serial(url, exclusive=True):
        one_line_error(power("record", "--meter", f"um24c:{url}", "-o", out), f"port {url} is busy")
    url = emulator("um25c", faults=Faults())
    emulator.last.faults.silent = True
    one_line_error(power("record", "--meter", f"um25c:{url}?timeout=0.3", "-o", out),
                   "no answer to poll 0xF0 within 0.3 s")
    one_line_error(power("emulate", "um25c", "--board", "emulated:jetson-nanoo"), "unknown board 'jetson-nanoo'")
    (tmp_path / "bad.csv").write_text("time_s,power_w\n0,1\n0.1,x\n")
    one_line_error(power("plot", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "b.png")), "bad.csv:3:")


@pytest.mark.parametrize("args", [["measure", "--meter", "um25c:/dev/null"], ["record", "--meter", "x", "-o"]])
def test_usage_mistakes_exit_2(args):
    assert power(*args).returncode == 2


@pytest.mark.parametrize("argv,message", [
    (["record", "--meter", "x", "-o", "t.csv", "--duration", "-1"], "argument --duration: expected seconds >= 0"),
    (["measure", "--meter", "x", "--baseline", "-2", "--", "true"], "argument --baseline: expected seconds >= 0"),
    (["emulate", "um25c", "--watts", "-1"], "argument --watts: expected a number >= 0, got '-1'"),
    (["emulate", "um25c", "--corrupt", "1.5"], "argument --corrupt: expected a fraction from 0 to 1"),
    (["emulate", "um25c", "--drop", "-0.1"], "argument --drop: expected a fraction from 0 to 1"),
    (["emulate", "um25c", "--tcp", "70000"], "argument --tcp: expected a TCP port, 0 to 65535"),
])
def test_numbers_out_of_range_are_usage_errors(argv, message, capsys):
    from deepx.tools.power_cli import parser

    with pytest.raises(SystemExit) as e:
        parser().parse_args(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and last.startswith(f"deepx-power {argv[0]}: error: ") and message in last, last


def test_version():
    from deepx import __version__

    p = power("--version")
    assert p.returncode == 0 and p.stdout == f"deepx-power {__version__}\n"
