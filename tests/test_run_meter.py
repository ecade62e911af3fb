"""`deepx run --meter`: energy per inference from a meter emulator over a real pseudo-terminal."""
import json
import subprocess
import sys

import pytest

from deepx.models import zoo


@pytest.mark.parametrize("baseline", [0.0, 0.5])
def test_energy_per_inference(deepx_meter, baseline):
    p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "run", zoo.path("digits-dnn"), "--input-shape",
                        "x=16,64", "--meter", deepx_meter("um25c", watts=2.5).spec, "--baseline", str(baseline),
                        "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    m = json.loads(p.stdout)["meter"]
    assert m["samples"] >= 20 and not m["gaps"]
    expected = 0.0 if baseline else 2.5 * m["window_s"] / m["runs"] * 1e3  # constant power: nothing above idle
    assert m["energy_mj_per_inference"] == pytest.approx(expected, rel=0.02, abs=1e-3 * m["window_s"] / m["runs"] * 1e3)


def test_missing_meter_is_one_line():
    p = subprocess.run([sys.executable, "-m", "deepx.tools.cli", "run", zoo.path("digits-dnn"), "--input-shape",
                        "x=1,64", "--meter", "um25c:/dev/no-such-port"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("deepx: error: um25c:/dev/no-such-port: cannot open port")
