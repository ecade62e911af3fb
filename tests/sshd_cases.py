"""An OpenSSH server on a free 127.0.0.1 port for the tests that flash over ssh (the `sshd` fixture)."""
import getpass
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@contextmanager
def sshd(folder):
    """An sshd with its own host key in `folder`, accepting one client key for this user (ssh_config); skips
    the test when OpenSSH is missing or sshd does not start."""
    exe = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(exe) or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        pytest.skip("OpenSSH server or client missing (apt-get install openssh-server openssh-client)")
    d = Path(folder)
    user, port = getpass.getuser(), free_port()
    host, key, stranger = _keygen(d / "host_key"), _keygen(d / "id"), _keygen(d / "stranger")
    shutil.copy(f"{key}.pub", d / f"{user}.keys")
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {d}/%u.keys\nPidFile {d}/pid\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel ERROR\n")
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} " + (d / "host_key.pub").read_text())
    for name, identity in (("ssh_config", key), ("stranger_config", stranger)):
        (d / name).write_text(f"Host 127.0.0.1\n  User {user}\n  IdentityFile {identity}\n  IdentitiesOnly yes\n"
                              f"  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking yes\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    if proc.poll() is not None:
        pytest.skip(f"sshd did not start: {proc.stderr.read().strip()}")
    try:
        yield SimpleNamespace(port=port, user=user, config=d / "ssh_config", stranger=d / "stranger_config")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
