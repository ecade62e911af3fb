"""`deepx demo` end to end on digits-dnn: plan with RLC, pack, flash to a folder, deepx-run with an emulated
UM25C on a pty, the table and the power trace PNG."""
import re

import pytest

from deepx.runtime.power import read_trace
from deepx.tools import cli


def test_demo_digits_dnn(tmp_path, capsys):
    cli.main(["demo", "--models", "digits-dnn", "--board", "jetson-nano", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| digits-dnn")]
    labels = [r[2].strip() for r in rows]
    assert labels == ["CPU only, uncompressed", "GPU only, uncompressed", "deepx plan, uncompressed",
                      "deepx: RLC (0.05) + plan"]
    energy = [float(r[4]) for r in rows]
    assert energy[3] < min(energy[:3])  # the compressed plan beats every uncompressed configuration
    measured = float(rows[3][5])
    assert measured == pytest.approx(energy[3], rel=0.05)
    accuracy = [float(r[7].strip().rstrip("%")) for r in rows]
    assert accuracy[0] > 95 and accuracy[3] > 95
    assert float(rows[3][6]) < float(rows[0][6])  # fewer weights

    png = re.search(r"power trace: (\S+)", out).group(1)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    trace = read_trace(str(tmp_path / "digits-dnn-jetson-nano-trace.csv"))
    assert trace.window.count("inference") >= 20  # the meter was read over deepx-run's window
    assert (tmp_path / "board-jetson-nano" / "deepx-run").exists()


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
