"""`deepx demo` end to end on digits-dnn: plan with RLC, pack, flash to a folder, deepx-run with an emulated
UM25C on a pty, the table and the power trace PNG."""
import re
import tempfile

import pytest
from deepx.runtime.power import MeterError, read_trace
from deepx.runtime.power.measure import MIN_SAMPLES, energy_per_run
from deepx.tools import cli


def test_demo_digits_dnn_emulated_meter_plumbing(tmp_path, capsys):
    """On the emulated board the meter reads the model back: its figure equal to the model's checks the plumbing
    (pty, wire format, windows, energy accounting), and the output says it is no measurement."""
    cli.main(["demo", "--models", "digits-dnn", "--board", "jetson-nano", "--window", "2",
              "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| digits-dnn")]
    assert "| emulated meter mJ (model replayed) |" in out and "measured" not in out
    labels = [r[2].strip() for r in rows]
    assert labels[:3] == ["CPU only, uncompressed", "GPU only, uncompressed", "deepx plan, uncompressed"]
    assert re.fullmatch(r"deepx: RLC \(accuracy loss <= 1%, budget [\d.]+\) \+ plan", labels[3])
    energy = [float(r[4]) for r in rows]
    assert energy[3] < min(energy[:3])  # the compressed plan beats every uncompressed configuration
    replayed = float(rows[3][5])
    assert replayed == pytest.approx(energy[3], rel=0.05)
    closing = next(line for line in out.splitlines() if line.startswith("- digits-dnn on jetson-nano"))
    assert "emulated meter (model replayed)" in closing and re.search(r"median [\d.]+ ms, p90 [\d.]+, min", closing)
    accuracy = [float(r[7].strip().rstrip("%")) for r in rows]
    assert accuracy[0] > 95 and accuracy[3] > 95
    assert "- digits-dnn: ranks chosen on 432 images of the digits validation split" in out
    assert "on test data: the digits test split (360 images)" in out
    assert float(rows[3][6]) < float(rows[0][6])  # fewer weights

    png = re.search(r"power trace: (\S+)", out).group(1)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    trace = read_trace(str(tmp_path / "digits-dnn-jetson-nano-trace.csv"))
    assert trace.window.count("inference") >= 20  # the meter was read over deepx-run's window
    assert (tmp_path / "board-jetson-nano" / "deepx-run").exists()


def test_demo_real_board_python(tmp_path, capsys):
    """With --meter, flash uses the board's Python given by --python."""
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--models", "digits-dnn", "--board", "jetson-nano", "--meter", "um25c:/dev/null",
                  "--to", str(tmp_path / "board"), "--python", str(tmp_path / "no-python"), "--workdir", str(tmp_path)])
    assert e.value.code == 2
    assert f"no Python at {str(tmp_path / 'no-python')!r}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet"], "--models resnet: expected some of"),
    (["--meter", "um25c:/dev/null"], "--meter measures one real board"),
])
def test_demo_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["demo"] + argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_energy_per_run_window_and_trace(emulator, tmp_path):
    port = emulator("um25c")  # 2.5 W
    path = tmp_path / "trace.csv"
    r = energy_per_run(f"um25c:{port}?interval=0.02", lambda: None, baseline_s=0.2, min_window_s=0.6,
                       trace=str(path))
    assert r["window_s"] >= 0.6 and r["mean_w"] == pytest.approx(2.5, rel=0.01)
    trace = read_trace(str(path))
    assert {"baseline", "inference"} <= set(trace.window)
    assert trace.window.count("inference") >= r["samples"] - 1


def test_energy_per_run_window_holds_its_samples(emulator):
    """The window runs on until MIN_SAMPLES samples are in it, not just for MIN_SAMPLES meter intervals: samples
    arrive late and a span of 20 intervals held 12-17 of them (40 intervals on a busy 2-core host: 18)."""
    port = emulator("um25c")
    for _ in range(5):
        r = energy_per_run(f"um25c:{port}?interval=0.02", lambda: None, baseline_s=0)
        assert r["samples"] >= MIN_SAMPLES


def test_energy_per_run_window_ends_when_its_meter_falls_silent(monkeypatch):
    """Past its span a window short of samples runs on only while samples still come: a meter that falls silent
    ends it about STALL_MIN_S after its last sample, the window's gap reported."""
    import time

    from deepx.runtime.power import measure
    from deepx.runtime.power.meter import Meter, Sample

    class Silent(Meter):  # 5 samples at 0.02 s, then none (a frozen logger)
        interval_s = 0.02

        def __init__(self):
            super().__init__()
            self.left = 5

        def read(self):
            self._pace()
            self.left -= 1
            return [Sample(time.monotonic(), 2.0)] if self.left >= 0 else []

    monkeypatch.setattr(measure, "open_meter", lambda spec: Silent())
    t = time.monotonic()
    r = energy_per_run("silent", lambda: time.sleep(0.001), baseline_s=0)
    assert r["samples"] < MIN_SAMPLES and r["gaps"] and time.monotonic() - t < 2.0


def test_energy_per_run_unwritable_trace(emulator, tmp_path):
    bad = tmp_path / "missing" / "trace.csv"
    with pytest.raises(MeterError, match=f"{bad}: cannot write"):
        energy_per_run(f"um25c:{emulator('um25c')}", lambda: None, trace=str(bad))


def test_demo_plain_progress_and_no_temporary_folder_left(tmp_path, monkeypatch, capsys):
    """stderr is not a terminal here: one plain line per step; the temporary work folder goes at the end (the
    PNG is copied to the current folder), and a failed demo leaves none either."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    cli.main(["demo", "--models", "digits-dnn", "--board", "jetson-nano", "--window", "2"])
    out, err = capsys.readouterr()
    steps = [line for line in err.splitlines() if line.startswith("deepx demo: [")]
    assert [s.split("] ")[0] for s in steps] == [f"deepx demo: [{i}/5" for i in range(1, 6)]
    assert steps[0].endswith("] digits-dnn: compress + plan for jetson-nano")
    assert "power trace: demo-power.png" in out and "work folder: removed" in out
    assert (tmp_path / "demo-power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(SystemExit) as e:
        cli.main(["demo", "--models", "digits-dnn", "--board", "foo"])
    assert e.value.code == 2 and "unknown board 'foo'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["demo", "--models", "digits-dnn", "--board", "jetson-nano", "--python", "/no/python",
                  "--meter", "um25c:/dev/null", "--to", str(tmp_path / "board")])
    assert list((tmp_path / "tmp").iterdir()) == []
