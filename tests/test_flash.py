"""`deepx flash` to a local folder (an emulated board's root) and over ssh to an OpenSSH server on
127.0.0.1 (the `sshd` fixture); full disks on a small tmpfs; nothing half-written left behind on failure."""
import json
import os
import shlex
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from bundle_cases import blocked_env, deepx, inputs, outputs, pack, snapshot
from sshd_cases import free_port

PY = ("--python", sys.executable)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnn")
    bundle = pack(d / "cnn.dxb")
    return SimpleNamespace(bundle=bundle, other=pack(d / "rpi.dxb", "rpi4b"), input=d / "in.npz",
                           host=inputs(d / "in.npz", bundle))


def run_printed(stdout, *extra, env=None):
    """Run the command `deepx flash` printed, with extra deepx-run arguments."""
    line = next(s for s in stdout.splitlines() if s.startswith("run it with: "))
    return subprocess.run(shlex.split(line.removeprefix("run it with: ")) + [str(a) for a in extra],
                          capture_output=True, text=True, timeout=300, env=env)


def assert_one_line_error(p, message):
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert message in p.stderr, p.stderr


@pytest.fixture(scope="module")
def flashed(cnn, tmp_path_factory):
    """A local board with the bundle flashed: (folder, deepx flash's stdout)."""
    board = tmp_path_factory.mktemp("flashed") / "board"
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(board), *PY)
    assert p.returncode == 0, p.stderr
    return SimpleNamespace(folder=board, stdout=p.stdout)


def test_flash_to_a_folder_and_run(cnn, flashed, tmp_path):
    assert "runtime 0.1.0-" in flashed.stdout and "installed" in flashed.stdout
    files = snapshot(flashed.folder)
    runtime = next(f.split(os.sep)[1] for f in files if f.startswith(".deepx" + os.sep + "runtime-"))
    assert {"cnn.dxb", "deepx-run", os.path.join(".deepx", "board")} <= set(files)
    shipped = {f.split(os.sep, 2)[2] for f in files if f.startswith(os.path.join(".deepx", runtime))}
    assert os.path.join("deepx", "runtime", "onboard", "deepx_run.py") in shipped
    assert not [f for f in shipped if "numba" in f or f.startswith(os.path.join("deepx", "tools"))
                or f.endswith((".pyx", ".c"))]
    env = blocked_env(tmp_path / "blocker")  # the runtime copy needs nothing it left behind
    r = run_printed(flashed.stdout, "--input", cnn.input, "--output", tmp_path / "out.npz", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["runtime"]["path"] == str(flashed.folder / ".deepx" / runtime / "deepx")
    got = outputs(tmp_path / "out.npz")
    assert got.keys() == cnn.host.keys() and all(np.array_equal(got[k], cnn.host[k]) for k in got)
    tried, *modules = (tmp_path / "blocker" / "modules").read_text().splitlines()
    assert tried.split()[1:] in ([], ["cython"]) and not [m for m in modules if m.startswith(("numba", "onnx"))]

    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(flashed.folder), *PY)
    assert p.returncode == 0 and f"runtime {runtime.removeprefix('runtime-')} already there" in p.stdout


def test_flash_upgrades_a_runtime_of_another_version(cnn, tmp_path):
    board = tmp_path / "board"
    assert deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(board), *PY).returncode == 0
    new = next(d for d in os.listdir(board / ".deepx") if d.startswith("runtime-"))
    os.rename(board / ".deepx" / new, board / ".deepx" / "runtime-0.0.9-0123456789ab")  # an older board
    launcher = board / "deepx-run"
    launcher.write_text(launcher.read_text().replace(new.removeprefix("runtime-"), "0.0.9-0123456789ab"))
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(board), *PY)
    assert p.returncode == 0, p.stderr
    assert f"runtime {new.removeprefix('runtime-')} installed (was 0.0.9-0123456789ab)" in p.stdout
    assert [d for d in os.listdir(board / ".deepx") if d.startswith("runtime-")] == [new]
    assert run_printed(p.stdout).returncode == 0


def test_flash_refusals_leave_the_board_as_it_was(cnn, tmp_path):
    board = tmp_path / "board"
    assert deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(board), *PY).returncode == 0
    before = snapshot(board)
    assert_one_line_error(deepx("flash", str(cnn.bundle), "--board", "rpi4b", "--to", str(board), *PY),
                          "packed for board 'jetson-nano', this board is 'rpi4b'")
    assert_one_line_error(deepx("flash", str(cnn.other), "--board", "rpi4b", "--to", str(board), *PY),
                          "this is a jetson-nano board (.deepx/board), not rpi4b")
    damaged = tmp_path / "damaged.dxb"
    data = bytearray(cnn.bundle.read_bytes())
    data[len(data) // 2] ^= 0x20
    damaged.write_bytes(data)
    assert_one_line_error(deepx("flash", str(damaged), "--board", "jetson-nano", "--to", str(board), *PY),
                          "corrupt: member weights.npz")
    damaged.write_bytes(data[:1000])
    assert_one_line_error(deepx("flash", str(damaged), "--board", "jetson-nano", "--to", str(board), *PY),
                          "not a deepx bundle, or truncated")
    assert_one_line_error(deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(board),
                                "--python", "/no/python3"), "no Python at '/no/python3' on the target")
    assert snapshot(board) == before


@pytest.fixture
def small_disk(tmp_path):
    """small_disk(kb) -> a folder on a tmpfs of that size (needs mount, i.e. root)."""
    mounted = []

    def make(kb):
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(d)], capture_output=True,
                           text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): the full-disk tests need root")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


def room_for_runtime_kb(flashed):
    """KB the runtime takes on a tmpfs (whole pages), and a margin."""
    return sum(-(-os.path.getsize(os.path.join(d, f)) // 4096) * 4 for d, _, fs in os.walk(flashed.folder / ".deepx")
               for f in fs) + 512


@pytest.mark.parametrize("where", ["runtime", "bundle"])
def test_full_disk_leaves_nothing(cnn, flashed, small_disk, where):
    """A tmpfs too small for the runtime, or with room for the runtime but not the bundle."""
    room = room_for_runtime_kb(flashed)
    disk = small_disk(room // 2 if where == "runtime" else room + cnn.bundle.stat().st_size // 2048)
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", str(disk / "board"), *PY)
    assert_one_line_error(p, "installing the runtime failed" if where == "runtime" else "copying cnn.dxb failed")
    assert "No space left on device" in p.stderr
    assert os.listdir(disk) == []


# --- over ssh, to an OpenSSH server on 127.0.0.1 ---------------------------------------------------------

def test_flash_over_ssh_and_run(cnn, sshd, tmp_path):
    board = tmp_path / "sshboard"
    to = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{board}"
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", to, "--ssh-config", str(sshd.config), *PY)
    assert p.returncode == 0, p.stderr
    assert f"run it with: ssh -F {sshd.config} -p {sshd.port} {sshd.user}@127.0.0.1 " in p.stdout
    r = run_printed(p.stdout, "--input", cnn.input, "--output", tmp_path / "out.npz")
    assert r.returncode == 0, r.stderr
    got = outputs(tmp_path / "out.npz")
    for k in cnn.host:  # an ssh login has a clean environment: OpenBLAS may pick another kernel (OPENBLAS_CORETYPE)
        np.testing.assert_allclose(got[k], cnn.host[k], rtol=1e-5, atol=1e-5)
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", to, "--ssh-config", str(sshd.config), *PY)
    assert p.returncode == 0 and "already there" in p.stdout


def test_unreachable_and_refusing_ssh_targets(cnn, sshd, tmp_path):
    board = tmp_path / "never"
    closed = free_port()
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", f"ssh://127.0.0.1:{closed}{board}",
              "--ssh-config", str(sshd.config), *PY)
    assert_one_line_error(p, "ssh failed: ssh: connect to host 127.0.0.1 port")
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", f"ssh://127.0.0.1:{sshd.port}{board}",
              "--ssh-config", str(sshd.stranger), *PY)
    assert_one_line_error(p, "Permission denied")
    assert not board.exists()


def test_full_disk_over_ssh(cnn, flashed, sshd, small_disk):
    disk = small_disk(room_for_runtime_kb(flashed) + cnn.bundle.stat().st_size // 2048)
    p = deepx("flash", str(cnn.bundle), "--board", "jetson-nano", "--to", f"ssh://127.0.0.1:{sshd.port}{disk}/b",
              "--ssh-config", str(sshd.config), *PY)
    assert_one_line_error(p, "copying cnn.dxb failed")
    assert os.listdir(disk) == []
