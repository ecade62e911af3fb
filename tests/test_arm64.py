"""`python -m deepx.tools.arm64`: the arm64 root through QEMU. The fast part (argument handling, the one-line
errors without root or without debootstrap / QEMU, status of a root that is not there) runs everywhere; the
end-to-end part (up, flash over ssh into the root, deepx-run there against the host's outputs, down) runs only
where an arm64 root with deepx installed is already cached, since building one takes ~20 minutes."""
import json
import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
from bundle_cases import deepx, outputs, pack
from deepx.tools import arm64
from sshd_cases import free_port


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "deepx.tools.arm64", *args], capture_output=True, text=True,
                          timeout=kw.pop("timeout", 120), **kw)


def one_line_error(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        arm64.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    return err


def test_help_lists_the_commands():
    p = cli("--help")
    assert p.returncode == 0
    for command in ("up", "install", "exec", "status", "down"):
        assert command in p.stdout
    p = cli("sideways")
    assert p.returncode == 2 and "invalid choice" in p.stderr


@pytest.mark.parametrize("command", [["up"], ["down"], ["install", "."], ["exec", "--", "true"]])
def test_not_root_is_a_one_line_error(capsys, monkeypatch, tmp_path, command):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    one_line_error(capsys, ["--root", str(tmp_path / "root"), *command], "this needs root")
    assert not os.listdir(tmp_path)


def test_no_debootstrap_nor_apt_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(arm64, "native", lambda: False)
    err = one_line_error(capsys, ["--root", str(tmp_path / "root"), "up"], "no debootstrap or qemu-user-static")
    assert "apt-get install debootstrap qemu-user-static" in err
    assert not os.listdir(tmp_path)


def test_install_and_exec_need_a_built_root(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    one_line_error(capsys, ["--root", str(tmp_path / "r"), "install", "."], "no arm64 root at")
    one_line_error(capsys, ["--root", str(tmp_path / "r"), "exec", "true"], "no arm64 root at")


def test_status_of_a_missing_root(tmp_path):
    p = cli("--root", str(tmp_path / "root"), "status")
    assert p.returncode == 0, p.stderr
    assert "not built" in p.stdout and "sshd: not running" in p.stdout and "not installed" in p.stdout


def test_source_files_of_a_plain_tree(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "x.o").write_text("")
    (tmp_path / "k").mkdir()
    for name in ("setup.py", "k/_a.pyx", "k/_a.c", "k/_a.so"):
        (tmp_path / name).write_text("")
    assert sorted(arm64.source_files(str(tmp_path))) == ["k/_a.pyx", "setup.py"]


def cached_root():
    """The cached root with deepx installed, usable here; else the reason to skip."""
    root = arm64.Root(arm64.default_root())
    if os.geteuid() != 0:
        return None, "needs root (chroot, mount)"
    if not root.built() or not os.path.exists(root.inside("root", "deepx-venv", "bin", "deepx-run")):
        return None, (f"no arm64 root with deepx at {root.path}: `python -m deepx.tools.arm64 up` then "
                      f"`python -m deepx.tools.arm64 install .` (~20 min) and this test runs")
    if not (arm64.native() or shutil.which("qemu-aarch64-static")):
        return None, "no qemu-user-static (apt-get install qemu-user-static)"
    return root, ""


def test_flash_into_the_arm64_root_and_run(tmp_path, emulator):
    root, reason = cached_root()
    if root is None:
        pytest.skip(reason)
    was_up = root.sshd_pid() is not None
    p = cli("up", "--port", str(free_port()), timeout=300)
    assert p.returncode == 0, p.stderr
    target = next(s.split(": ", 1)[1] for s in p.stdout.splitlines() if s.startswith("target: "))
    try:
        bundle = pack(tmp_path / "cnn.dxb", "rpi4b")
        np.savez(tmp_path / "in.npz", x=np.random.default_rng(1).random((1, 1, 32, 32), dtype=np.float32))
        h = subprocess.run([sys.executable, "-m", "deepx.runtime.onboard.deepx_run", str(bundle), "--board", "rpi4b",
                            "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "host.npz")],
                           capture_output=True, text=True, timeout=300)
        assert h.returncode == 0, h.stderr
        host = outputs(tmp_path / "host.npz")
        dest = target.rsplit("/", 1)[0] + "/test-arm64"
        f = deepx("flash", str(bundle), "--board", "rpi4b", "--to", dest, "--ssh-config",
                  os.path.join(root.ssh_dir, "ssh_config"), "--python", "/root/deepx-venv/bin/python")
        assert f.returncode == 0, f.stderr
        assert "runtime pip-" in f.stdout  # the cross-architecture path: the bundle only
        run = shlex.split(next(s for s in f.stdout.splitlines() if s.startswith("run it with: "))[13:])
        shutil.copy(tmp_path / "in.npz", root.inside("tmp", "in.npz"))
        r = subprocess.run(run + ["--input", "/tmp/in.npz", "--output", "/tmp/out.npz"], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        got = outputs(root.inside("tmp", "out.npz"))
        for k, v in host.items():
            np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-6 * np.abs(v).max())
        pty = emulator("um25c")  # a pseudo-terminal of this machine: /dev/pts is mounted in the root
        r = subprocess.run(run + ["--repeat", "3", "--meter", f"um25c:{pty}", "--baseline", "0.5", "--json"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["energy_mj_per_inference"] is not None
    finally:
        if not was_up:
            assert cli("down").returncode == 0


def test_binfmt_registration_is_idempotent(monkeypatch, tmp_path):
    """The handler's line goes to binfmt_misc's register file once; a registered handler is left alone."""
    binfmt, conf = tmp_path / "binfmt_misc", tmp_path / "qemu-aarch64.conf"
    binfmt.mkdir()
    (binfmt / "register").write_text("")
    conf.write_text("# comment\n:qemu-aarch64:M::\\x7fELF:\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF\n")
    monkeypatch.setattr(arm64, "BINFMT", str(binfmt))
    monkeypatch.setattr(arm64, "HANDLER", str(conf))
    monkeypatch.setattr(arm64, "native", lambda: False)
    root = arm64.Root(str(tmp_path / "root"))
    arm64.ensure_binfmt(root)
    assert (binfmt / "register").read_text().startswith(":qemu-aarch64:M::")
    assert root.state() == {"binfmt_registered": True}
    (binfmt / "register").write_text("")
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter …\n")
    arm64.ensure_binfmt(root)
    assert (binfmt / "register").read_text() == ""
