"""`python -m deepx.tools.arm64 up|install|exec|status|down`: an arm64 board on this machine, through QEMU.

As root on any Linux machine: `up` installs qemu-user-static and debootstrap when missing (apt-get), registers
QEMU's aarch64 handler with binfmt_misc (aarch64 programs then run transparently), builds a Debian bookworm
arm64 root file system once with `debootstrap --arch=arm64` (Python 3.11, python3-venv, gcc, OpenSSH's
server) and keeps it in ~/.cache/deepx/arm64-root, mounts /proc, /sys, /dev, /dev/pts (a meter's
pseudo-terminal made on the host is visible inside) and /dev/shm in it, starts sshd inside it (chroot) on a
loopback port with keys generated for it, and prints the `ssh://root@127.0.0.1:PORT/root/deepx` target and the
ssh_config that `deepx flash --ssh-config` takes. `install [SRC]` copies a clean deepx source tree into the root
and runs `pip install .` there in a venv (/root/deepx-venv: the Cython kernels compile with the aarch64 gcc).
`exec -- CMD…` runs a command inside the root. `down` stops sshd and unmounts what `up` mounted (`--purge`
also deletes the root). Every step is idempotent: a second `up` changes nothing and prints the same target.

Measured on a 2-core x86-64 machine (README, "An arm64 board on this machine (QEMU)"): the first `up` takes about
5 minutes (debootstrap, its second stage under emulation; 670 MB), `install` about 15 minutes (the Cython kernels
compile under emulation in ~11 of them); later `up`s take under a second.
"""
import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

from ..errors import DeepxError

SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python3-dev", "python3-pip", "gcc", "g++", "libc6-dev", "openssh-server",
            "ca-certificates", "procps")
BINFMT = "/proc/sys/fs/binfmt_misc"
HANDLER = "/usr/lib/binfmt.d/qemu-aarch64.conf"
DEFAULT_PORT = 22064
VENV = "/root/deepx-venv"
SRC = "/root/deepx-src"
FIRST_BUILD = "about 5 minutes on 2 cores"  # measured: README, "An arm64 board on this machine"
#: what is mounted in the root, in order (source, place inside the root, mount arguments)
MOUNTS = (("proc", "proc", ["-t", "proc"]), ("sysfs", "sys", ["-t", "sysfs"]), ("/dev", "dev", ["--bind"]),
          ("/dev/pts", "dev/pts", ["--bind"]), ("/dev/shm", "dev/shm", ["--bind"]))


def _json_or_empty(path) -> dict:
    """The JSON object in `path`, or {} when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


class Arm64Error(DeepxError):
    """The arm64 root could not be set up, used or stopped: one line says why and what to do."""


def default_root() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "deepx", "arm64-root")


class Root:
    """The arm64 root at `path`, its state (ROOT.state.json: what up started) and its ssh files (ROOT.ssh/)."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.state_file = self.path + ".state.json"
        self.ssh_dir = self.path + ".ssh"
        self.ready = os.path.join(self.path, ".deepx-arm64-ready")  # written when debootstrap finished

    def state(self) -> dict:
        return _json_or_empty(self.state_file)

    def save(self, **changes):
        s = {**self.state(), **changes}
        os.makedirs(os.path.dirname(self.state_file), exist_ok=True)
        with open(self.state_file, "w") as f:
            json.dump(s, f, indent=1)

    def built(self) -> dict:
        """{'seconds': …} of the finished build, or {} when there is none."""
        return _json_or_empty(self.ready)

    def inside(self, *parts) -> str:
        return os.path.join(self.path, *parts)

    def mounted(self) -> list:
        """Mount points at or below the root, deepest last (from /proc/self/mounts)."""
        with open("/proc/self/mounts") as f:
            points = [line.split()[1].replace("\\040", " ") for line in f]
        return [p for p in points if p == self.path or p.startswith(self.path + os.sep)]

    def sshd_pid(self):
        try:
            pid = int(open(self.inside("run", "sshd-deepx.pid")).read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def target(self, port: int, path="/root/deepx") -> str:
        return f"ssh://root@127.0.0.1:{port}{path}"


def say(msg):
    print(msg, flush=True)


def run(argv, what, **kw):
    """Run argv; Arm64Error with `what` and the last line of its output on failure."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise Arm64Error(f"{what}: {argv[0]} not found") from None
    if p.returncode:
        lines = (p.stderr.strip() or p.stdout.strip()).splitlines() or [f"exit status {p.returncode}"]
        raise Arm64Error(f"{what} failed: {lines[-1]}")
    return p.stdout


def need_root():
    if os.geteuid() != 0:
        raise Arm64Error("this needs root (debootstrap, binfmt_misc, mount, chroot): run it with sudo")


def native() -> bool:
    return platform.machine() in ("aarch64", "arm64")


def ensure_tools(install=True):
    """debootstrap and qemu-user-static (not needed on an aarch64 host), installed with apt-get when missing."""
    missing = [pkg for pkg, exe in (("debootstrap", "debootstrap"), ("qemu-user-static", "qemu-aarch64-static"))
               if not shutil.which(exe) and not (pkg == "qemu-user-static" and native())]
    if not missing:
        return
    if not install or not shutil.which("apt-get"):
        raise Arm64Error(f"no {' or '.join(missing)} here: install {' and '.join(missing)} (Debian/Ubuntu: "
                         f"apt-get install {' '.join(missing)})")
    say(f"installing {' '.join(missing)} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-q", *missing], "apt-get install " + " ".join(missing), env=env)
    ensure_tools(install=False)


def ensure_binfmt(root: Root):
    """binfmt_misc mounted and QEMU's aarch64 handler registered (with flag F: usable inside a chroot)."""
    if native():
        return
    if not os.path.exists(os.path.join(BINFMT, "register")):
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT], "mounting binfmt_misc")
        root.save(binfmt_mounted=True)
    entry = os.path.join(BINFMT, "qemu-aarch64")
    if os.path.exists(entry):
        if open(entry).readline().strip() != "enabled":
            with open(entry, "w") as f:
                f.write("1")
        return
    if not os.path.exists(HANDLER):
        raise Arm64Error(f"no {HANDLER}: install qemu-user-static (Debian/Ubuntu: apt-get install qemu-user-static)")
    line = next(s.strip() for s in open(HANDLER) if s.startswith(":"))
    try:
        with open(os.path.join(BINFMT, "register"), "w") as f:
            f.write(line)
    except OSError as e:
        raise Arm64Error(f"registering QEMU's aarch64 handler in {BINFMT}: {e.strerror}") from None
    root.save(binfmt_registered=True)


def build(root: Root):
    """debootstrap the arm64 root once (into ROOT.partial, renamed when complete); its time is kept."""
    if root.built():
        return
    if os.path.exists(root.path):
        if root.mounted():
            raise Arm64Error(f"{root.path} is incomplete and has mounts: run `down` first")
        shutil.rmtree(root.path)
    partial = root.path + ".partial"
    if os.path.exists(partial):
        shutil.rmtree(partial)
    os.makedirs(os.path.dirname(root.path), exist_ok=True)
    say(f"building the Debian {SUITE} arm64 root in {root.path} with debootstrap (first time only: "
        f"{FIRST_BUILD}; log in {partial}.log)")
    t = time.monotonic()
    with open(partial + ".log", "w") as log:
        p = subprocess.run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                            SUITE, partial, MIRROR], stdout=log, stderr=subprocess.STDOUT)
    if p.returncode:
        lines = open(partial + ".log").read().strip().splitlines() or ["no output"]
        raise Arm64Error(f"debootstrap failed (exit {p.returncode}): {lines[-1]} (log: {partial}.log)")
    os.rename(partial, root.path)
    os.replace(partial + ".log", root.path + ".build.log")
    seconds = time.monotonic() - t
    with open(root.ready, "w") as f:
        json.dump(dict(seconds=round(seconds), suite=SUITE, packages=PACKAGES, built=time.time()), f)
    say(f"arm64 root built in {seconds / 60:.1f} min")


def ensure_mounts(root: Root):
    """/proc, /sys, /dev, /dev/pts and /dev/shm in the root; the host's resolv.conf and CA certificates."""
    have = set(root.mounted())
    done = root.state().get("mounts", [])
    for source, place, args in MOUNTS:
        point = root.inside(place)
        if point in have:
            continue
        os.makedirs(point, exist_ok=True)
        run(["mount", *args, source, point], f"mounting {source} on {point}")
        done.append(point)
        root.save(mounts=done)
    # the host's DNS and trusted certificates (pip; a proxy's own CA, where the host's network has one)
    for path in ("/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt"):
        if os.path.exists(path) and os.path.isdir(root.inside(os.path.dirname(path).lstrip("/"))):
            inside = root.inside(path.lstrip("/"))
            if os.path.islink(inside):
                os.remove(inside)
            shutil.copyfile(path, inside)


def keygen(path):
    if not os.path.exists(path):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deepx-arm64", "-f", path], "ssh-keygen")
    return path


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def ensure_sshd(root: Root, port: int) -> int:
    """sshd inside the root on 127.0.0.1:port (root logs in with the key in ROOT.ssh/); its port."""
    pid = root.sshd_pid()
    if pid:
        return root.state()["port"]
    if not port_free(port):
        raise Arm64Error(f"port {port} on 127.0.0.1 is taken: give another with --port")
    os.makedirs(root.ssh_dir, mode=0o700, exist_ok=True)
    client = keygen(os.path.join(root.ssh_dir, "id_ed25519"))
    etc = root.inside("etc", "ssh", "deepx")
    os.makedirs(etc, exist_ok=True)
    host = keygen(os.path.join(etc, "host_ed25519"))
    os.makedirs(root.inside("root", ".ssh"), mode=0o700, exist_ok=True)
    shutil.copyfile(client + ".pub", root.inside("root", ".ssh", "authorized_keys"))
    os.makedirs(root.inside("run", "sshd"), mode=0o755, exist_ok=True)
    inside = "/" + os.path.relpath(host, root.path)
    with open(os.path.join(etc, "sshd_config"), "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {inside}\nPidFile /run/sshd-deepx.pid\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "UsePAM no\nStrictModes no\nLogLevel ERROR\nSubsystem sftp internal-sftp\n"
                "SetEnv LANG=C.UTF-8\n")
    with open(os.path.join(root.ssh_dir, "known_hosts"), "w") as f:
        f.write(f"[127.0.0.1]:{port} " + open(host + ".pub").read())
    with open(os.path.join(root.ssh_dir, "ssh_config"), "w") as f:
        f.write(f"Host 127.0.0.1\n  User root\n  IdentityFile {client}\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {root.ssh_dir}/known_hosts\n  StrictHostKeyChecking yes\n")
    run(["chroot", root.path, "/usr/sbin/sshd", "-f", "/etc/ssh/deepx/sshd_config"], "starting sshd in the root",
        env=chroot_env())
    deadline = time.monotonic() + 60  # sshd starts slowly under emulation
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if root.sshd_pid():  # its pid file: what down stops
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        raise Arm64Error(f"sshd in the root did not listen on 127.0.0.1:{port} within 60 s")
    root.save(port=port, sshd_pid=root.sshd_pid())
    return port


def chroot_env() -> dict:
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8", "TERM": os.environ.get("TERM", "dumb")}


def ssh_command(root: Root, port: int) -> str:
    return f"ssh -F {shlex.quote(os.path.join(root.ssh_dir, 'ssh_config'))} -p {port} root@127.0.0.1"


def up(args):
    root = Root(args.root)
    need_root()
    ensure_tools()
    ensure_binfmt(root)
    build(root)
    ensure_mounts(root)
    port = ensure_sshd(root, args.port)
    built = root.built().get("seconds")
    say(f"arm64 root: {root.path} (built in {built / 60:.1f} min), sshd on 127.0.0.1:{port}")
    say(f"ssh: {ssh_command(root, port)}")
    py = f"{VENV}/bin/python" if os.path.exists(root.inside(VENV.lstrip("/"), "bin", "deepx")) else None
    if py is None:
        say("deepx is not installed in the root yet: python -m deepx.tools.arm64 install SRC (about 15 min)")
    say(f"target: {root.target(port)}")
    say(f"flash: deepx flash MODEL.dxb --board rpi4b --to {root.target(port)} "
        f"--ssh-config {os.path.join(root.ssh_dir, 'ssh_config')} --python {py or VENV + '/bin/python'}")


def source_files(src: str) -> list:
    """The files of a clean tree: git's tracked files when SRC is a git checkout, else all but build outputs."""
    if os.path.exists(os.path.join(src, ".git")):
        out = run(["git", "-C", src, "ls-files", "-z"], "listing the tree's files (git ls-files)")
        return [f for f in out.split("\0") if f and os.path.isfile(os.path.join(src, f))]
    skip = {"build", ".git", "__pycache__", ".pytest_cache", ".hypothesis"}
    files = []
    for d, dirs, names in os.walk(src):
        dirs[:] = [x for x in dirs if x not in skip and not x.endswith(".egg-info")]
        files += [os.path.relpath(os.path.join(d, n), src) for n in names
                  if not n.endswith((".so", ".pyc", ".c")) or n.endswith(".pyx")]
    return files


def install(args):
    """A clean copy of SRC to /root/deepx-src in the root, then a venv and `pip install .` there."""
    root = Root(args.root)
    need_root()
    if not root.built():
        raise Arm64Error(f"no arm64 root at {root.path}: run `python -m deepx.tools.arm64 up` first")
    src = os.path.abspath(args.src)
    if not os.path.exists(os.path.join(src, "setup.py")):
        raise Arm64Error(f"{src}: not a deepx source tree (no setup.py)")
    ensure_tools(install=False)
    ensure_binfmt(root)
    ensure_mounts(root)
    dest = root.inside(SRC.lstrip("/"))
    if os.path.exists(dest):
        shutil.rmtree(dest)
    for f in source_files(src):
        os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
        shutil.copy2(os.path.join(src, f), os.path.join(dest, f))
    pip = f"{VENV}/bin/pip"
    script = (f"set -e; [ -x {pip} ] || python3 -m venv {VENV}; {pip} install -q --upgrade pip; "
              f"cd {SRC} && {pip} install {'.[test]' if args.test else '.'}")
    say(f"pip install . in the root ({VENV}; the Cython kernels compile under emulation: about 15 minutes)")
    t = time.monotonic()
    p = subprocess.run(["chroot", root.path, "/bin/sh", "-c", script], env=chroot_env())
    if p.returncode:
        raise Arm64Error(f"pip install in the root failed (exit {p.returncode})")
    say(f"deepx installed in the root in {(time.monotonic() - t) / 60:.1f} min: {VENV}/bin/deepx-run")


def exec_(args):
    root = Root(args.root)
    need_root()
    if not root.built():
        raise Arm64Error(f"no arm64 root at {root.path}: run `python -m deepx.tools.arm64 up` first")
    if not args.argv:
        raise Arm64Error("exec: give a command (exec -- CMD ARG…)")
    ensure_binfmt(root)
    ensure_mounts(root)
    argv = args.argv[1:] if args.argv[0] == "--" else args.argv
    sys.exit(subprocess.run(["chroot", root.path, *argv], env={**chroot_env(), "PATH": f"{VENV}/bin:"
                                                                + chroot_env()["PATH"]}).returncode)


def status(args):
    root = Root(args.root)
    built, state = root.built(), root.state()
    binfmt = os.path.join(BINFMT, "qemu-aarch64")
    say(f"root: {root.path}: " + (f"built in {built['seconds'] / 60:.1f} min" if built else "not built"))
    say("aarch64 handler: " + ("native" if native() else
                               open(binfmt).readline().strip() if os.path.exists(binfmt) else "not registered"))
    pid = root.sshd_pid()
    say(f"sshd: pid {pid}, {root.target(state['port'])}" if pid else "sshd: not running")
    say(f"mounts: {', '.join(root.mounted()) or 'none'}")
    deepx = root.inside(VENV.lstrip("/"), "bin", "deepx-run")
    say(f"deepx: {VENV}" if os.path.exists(deepx) else "deepx: not installed in the root")


def down(args):
    root = Root(args.root)
    need_root()
    state = root.state()
    pid = root.sshd_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except OSError:
                break
        say(f"sshd (pid {pid}) stopped")
    for point in sorted(root.mounted(), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode:
            run(["umount", "-l", point], f"unmounting {point}")
        say(f"unmounted {point}")
    if state.get("binfmt_registered") and os.path.exists(os.path.join(BINFMT, "qemu-aarch64")):
        with open(os.path.join(BINFMT, "qemu-aarch64"), "w") as f:
            f.write("-1")
        say("QEMU's aarch64 handler unregistered")
    if state.get("binfmt_mounted"):
        subprocess.run(["umount", BINFMT], capture_output=True)
    if os.path.exists(root.state_file):
        os.remove(root.state_file)
    if args.purge:
        if root.mounted():
            raise Arm64Error(f"{root.path} still has mounts: not deleting it")
        for p in (root.path, root.path + ".partial", root.ssh_dir):
            shutil.rmtree(p, ignore_errors=True)
        for p in (root.path + ".build.log", root.path + ".partial.log"):
            if os.path.exists(p):
                os.remove(p)
        say(f"deleted {root.path}")


def parser():
    p = argparse.ArgumentParser(prog="python -m deepx.tools.arm64",
                                description="An arm64 (aarch64) Debian root on this machine through QEMU user "
                                            "emulation, with sshd on a loopback port: a board for deepx flash.")
    p.add_argument("--root", default=default_root(), help="where the root is kept (default: %(default)s)")
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser("up", help="build (first time) and start the arm64 root; prints the ssh:// target")
    u.add_argument("--port", type=int, default=DEFAULT_PORT, help="sshd's port on 127.0.0.1 (default %(default)s)")
    u.set_defaults(func=up)
    i = sub.add_parser("install", help="pip install a clean copy of a deepx source tree in the root (a venv)")
    i.add_argument("src", nargs="?", default=".", help="the source tree (default: .)")
    i.add_argument("--test", action="store_true", help="with the test extras (pytest, hypothesis): pip install "
                                                       "'.[test]', to run deepx's tests in the root")
    i.set_defaults(func=install)
    e = sub.add_parser("exec", help="run a command inside the root (deepx's venv first on PATH)")
    e.add_argument("argv", nargs=argparse.REMAINDER, metavar="CMD")
    e.set_defaults(func=exec_)
    s = sub.add_parser("status", help="what is built, mounted and running")
    s.set_defaults(func=status)
    d = sub.add_parser("down", help="stop sshd and unmount what up mounted (the root stays cached)")
    d.add_argument("--purge", action="store_true", help="also delete the cached root")
    d.set_defaults(func=down)
    return p


def main(argv=None):
    from .cli import run_command

    run_command(parser(), argv, "deepx arm64")


if __name__ == "__main__":
    main()
