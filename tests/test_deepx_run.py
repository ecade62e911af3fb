"""`deepx-run`: the board runtime, in a subprocess where importing numba, onnx or Cython fails; its
outputs equal the host's `deepx run`; its JSON report, its meter, and one-line errors."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from bundle_cases import BLOCKED, blocked_env, inputs, outputs, pack

RUN = [sys.executable, "-m", "deepx.runtime.onboard.deepx_run"]


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    bundle = pack(d / "cnn.dxb")
    return bundle, d / "in.npz", inputs(d / "in.npz", bundle)


def run(*args, env=None):
    return subprocess.run([*RUN, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def test_runs_without_numba_onnx_or_a_compiler_and_matches_the_host(cnn, tmp_path):
    bundle, x, host = cnn
    env = blocked_env(tmp_path / "blocker")
    assert subprocess.run([sys.executable, "-c", "import numba"], env=env, capture_output=True).returncode != 0
    p = run(bundle, "--input", x, "--output", tmp_path / "out.npz", "--board", "jetson-nano", env=env)
    assert p.returncode == 0, p.stderr
    got = outputs(tmp_path / "out.npz")
    assert got.keys() == host.keys() and all(np.array_equal(got[k], host[k]) for k in got)
    tried, *modules = (tmp_path / "blocker" / "modules").read_text().splitlines()
    assert tried.split()[1:] in ([], ["cython"])  # scipy._lib tries the optional `cython` shim itself
    assert "deepx.kernels.cython._conv" in modules
    assert not {m for m in modules if m.partition(".")[0] in (*BLOCKED, "serial")}  # no meter: no pyserial
    assert "scipy.optimize" not in modules  # the planner's solver stays on the workstation


def test_json_report(cnn):
    bundle, x, _ = cnn
    p = run(bundle, "--input", x, "--repeat", "5", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["board"] == "jetson-nano" and r["model"] == "digits-cnn" and r["runtime"]["version"] == "0.1.0"
    lat = r["latency_ms"]
    assert lat["runs"] == 5 and 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
    assert r["peak_rss_bytes"] > r["weights_bytes"] > 2_000_000 and r["energy_mj_per_inference"] is None
    assert 0 < r["start_s"] < 30 and r["outputs"]["logits"]["shape"] == [1, 10]


def test_energy_per_inference(cnn, deepx_meter):
    p = run(cnn[0], "--meter", deepx_meter("um25c", watts=2.5).spec, "--baseline", "0", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    m = r["meter"]
    assert m["samples"] >= 20 and r["energy_mj_per_inference"] == pytest.approx(2.5 * m["window_s"] / m["runs"] * 1e3,
                                                                                rel=0.02)
    assert m["latency_ms"]["runs"] == m["runs"] and m["latency_ms"]["min"] <= m["latency_ms"]["median"]
    assert m["replays_model"] is False  # a UM25C: deepx-run cannot tell that an emulator answers


def _newer(src, dst):
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            out.writestr(info.filename, z.read(info))
        out.comment = b"deepx-bundle/2 " + b"0" * 64


@pytest.mark.parametrize("damage,args,message", [
    (lambda b: b.__setitem__(len(b) // 2, b[len(b) // 2] ^ 0x04), (), "corrupt: member weights.npz"),
    (lambda b: b.__setitem__(100, b[100] ^ 0x04), (), "corrupt: the zip headers, manifest or directory"),
    (lambda b: b.__delitem__(slice(len(b) - 100, None)), (), "not a deepx bundle, or truncated"),
    (None, ("--board", "rpi4b"), "packed for board 'jetson-nano', this board is 'rpi4b'"),
    ("newer", (), "bundle format deepx-bundle/2 is newer than this runtime reads"),
    (None, ("--input", "missing.npz"), "missing.npz: no such file"),
])
def test_bad_bundles_are_one_line_and_exit_2(cnn, tmp_path, damage, args, message):
    bad = tmp_path / "bad.dxb"
    if damage == "newer":
        _newer(cnn[0], bad)
    else:
        data = bytearray(cnn[0].read_bytes())
        if damage:
            damage(data)
        bad.write_bytes(data)
    p = run(bad, *args)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith("deepx-run: error: ")
    assert message in p.stderr


def test_board_from_the_environment(cnn):
    p = run(cnn[0], env=dict(os.environ, DEEPX_BOARD="rpi5"))
    assert p.returncode == 2 and "this board is 'rpi5'" in p.stderr


def test_runs_a_plan_for_a_calibrated_profile_that_is_not_shipped(tmp_path, deepx_board):
    """A profile `deepx calibrate` wrote under any name: the bundle carries it, deepx-run runs on it."""
    from deepx import boards

    text = boards.load("jetson-nano").text.replace('name = "jetson-nano"', 'name = "my-nano"')
    assert 'name = "my-nano"' in text
    (tmp_path / "my-nano.toml").write_text(text)
    bundle = pack(tmp_path / "m.dxb", str(tmp_path / "my-nano.toml"))
    p = run(bundle, "--board", "my-nano", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["board"] == "my-nano"
    p = run(bundle, "--board", "jetson-nano")
    assert p.returncode == 2 and "packed for board 'my-nano'" in p.stderr
    board = deepx_board(tmp_path / "my-nano.toml")  # flashed, and run by the launcher, numba and onnx blocked
    assert board.run(bundle).report["board"] == "my-nano"


@pytest.mark.parametrize("option,value,message", [("--repeat", "-1", "expected a whole number >= 0"),
                                                  ("--baseline", "-1", "expected seconds >= 0"),
                                                  ("--window", "nan", "expected seconds >= 0")])
def test_numbers_out_of_range_are_usage_errors(option, value, message, capsys):
    from deepx.runtime.onboard.deepx_run import parser

    with pytest.raises(SystemExit) as e:
        parser().parse_args(["m.dxb", option, value])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert e.value.code == 2 and last == f"deepx-run: error: argument {option}: {message}, got {value!r}"
