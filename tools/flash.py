"""`deepx flash MODEL.dxb --board NAME --to DEST`: put a bundle on a board with the runtime that runs it.

DEST is a folder on this machine (an emulated board's root) or ssh://[user@]host[:port]/path (OpenSSH's
`ssh` in batch mode, with a connect timeout; /~/path is relative to the login folder). Each step runs as
a short sh script, the same locally and over ssh:

1. probe: the board recorded at DEST, the runtime its launcher uses, the target Python (machine,
   extension suffix, numpy / scipy / threadpoolctl, an installed deepx).
2. runtime, when the launcher's runtime differs from this deepx's: the runtime modules and the compiled
   Cython kernels (no numba, onnx or CLI) go to DEST/.deepx/runtime-ID, through a temporary folder, and
   are imported there before they count. That needs a target Python with this host's machine and
   extension suffix (an emulated board; this machine over ssh). A board of another architecture cannot
   take this host's compiled kernels: there, `pip install deepx==VERSION` on the board builds them, and
   the launcher then uses that installation when its version is this one.
3. bundle: streamed to a temporary name in DEST, its sha256 computed on the target and compared, then
   renamed into place with the launcher DEST/deepx-run and the board name DEST/.deepx/board.

A failure removes what the flash wrote (a new runtime included): nothing half-written stays at DEST.
"""
import hashlib
import importlib.util
import os
import platform
import shlex
import subprocess
import sysconfig
import tarfile
import tempfile
from urllib.parse import urlsplit

from .. import __version__, kernels
from ..errors import DeepxError
from ..runtime import bundle
from ..runtime.plan import file_sha256
from . import imports

#: the on-board runtime's entry: flash copies what it imports, directly or not
ENTRY = "deepx.runtime.onboard.deepx_run"
DATA = (".toml", ".cl")  # files beside a package's modules that it reads (board profiles, OpenCL sources)
EXT = sysconfig.get_config_var("EXT_SUFFIX")
NEEDS = ("numpy", "scipy", "threadpoolctl")


class FlashError(DeepxError):
    """The bundle could not be put on the board: the message names the target and the step."""


def runtime_files() -> list:
    """[(path inside the runtime folder, file on this machine)] of the installed deepx runtime: the import
    closure of `deepx-run` and of every kernel backend that needs no compiler on the board (the registry
    imports their op modules by name), with the data files of the packages it holds."""
    g = imports.graph()
    backends = [f"deepx.kernels.{b}" for b in kernels.BACKENDS if not kernels.info(b).jit]
    roots = [ENTRY, *(m for m in g if any(m == b or m.startswith(b + ".") for b in backends))]
    files = []
    for name in sorted(imports.closure(roots, g)):
        spec = importlib.util.find_spec(name)
        parts = name.split(".")
        if spec.submodule_search_locations:  # a package: its __init__ and data files
            folder = spec.submodule_search_locations[0]
            files += [(os.path.join(*parts, f), os.path.join(folder, f))
                      for f in sorted(os.listdir(folder)) if f == "__init__.py" or f.endswith(DATA)]
        else:
            files.append((os.path.join(*parts[:-1], os.path.basename(spec.origin)), spec.origin))
    return files


def runtime_id(files) -> str:
    """This deepx's version and a digest of its runtime files: what the launcher on a board names."""
    h = hashlib.sha256(EXT.encode())
    for arc, path in files:
        h.update(arc.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return f"{__version__}-{h.hexdigest()[:12]}"


class Target:
    """Runs sh scripts in DEST's machine: here, or over ssh."""

    def __init__(self, dest: str, ssh_config=None, timeout_s=10.0):
        self.dest_arg = dest
        if dest.startswith("ssh://"):
            u = urlsplit(dest)
            if not u.hostname or not u.path or u.path == "/":
                raise FlashError(f"{dest}: expected ssh://[user@]host[:port]/path")
            self.host = f"{u.username}@{u.hostname}" if u.username else u.hostname
            self.extra = (["-F", str(ssh_config)] if ssh_config else []) + (["-p", str(u.port)] if u.port else [])
            self.ssh = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout_s:g}",
                        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", *self.extra]
            self.path = u.path.removeprefix("/~/")
        elif "://" in dest:
            raise FlashError(f"{dest}: DEST is a folder or ssh://[user@]host[:port]/path")
        else:
            self.ssh, self.path = None, os.path.abspath(dest)

    def sh(self, script: str, *args, stdin=None, timeout=None, what="") -> str:
        """stdout of `sh -c script sh args…` there; FlashError with the script's last stderr line."""
        if self.ssh:
            argv = self.ssh + [self.host, " ".join(shlex.quote(a) for a in ["sh", "-c", script, "sh", *args])]
        else:
            argv = ["sh", "-c", script, "sh", *args]
        try:
            p = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise FlashError(f"{self.dest_arg}: {what or 'the target'} did not answer in {timeout:g} s") from None
        except FileNotFoundError as e:
            raise FlashError(f"{self.dest_arg}: cannot run {e.filename} (install OpenSSH's client)") from None
        if p.returncode:
            lines = p.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {p.returncode}"]
            if self.ssh and p.returncode == 255:
                raise FlashError(f"{self.dest_arg}: ssh failed: {lines[-1]}")
            raise FlashError(f"{self.dest_arg}: {what} failed: {lines[-1]}")
        return p.stdout.decode()

    def run_command(self, *args) -> str:
        """The shell command that runs `args` there, from here."""
        cmd = " ".join(shlex.quote(a) for a in args)
        return cmd if not self.ssh else " ".join(shlex.quote(a) for a in ["ssh", *self.extra, self.host, cmd])


PROBE = r"""
d=$1; py=$2
[ -d "$d" ] && echo "exists=1"
printf 'board=%s\n' "$(cat "$d/.deepx/board" 2>/dev/null)"
rid=$(sed -n 's/^# runtime: //p' "$d/deepx-run" 2>/dev/null)
printf 'runtime=%s\n' "$rid"
[ -n "$rid" ] && [ -d "$d/.deepx/runtime-$rid" ] && echo "runtime_dir=1"
"$py" -c '
import platform, sys, sysconfig
print("machine=" + platform.machine())
print("ext=" + sysconfig.get_config_var("EXT_SUFFIX"))
for m in sys.argv[1:]:
    try:
        print(m + "=" + getattr(__import__(m), "__version__", "yes"))
    except Exception:
        print(m + "=")
' numpy scipy threadpoolctl deepx 2>/dev/null || echo "python="
"""

INSTALL = r"""
id=$2; py=$3
mkdir -p "$1/.deepx" && d=$(cd "$1" && pwd) || exit 1
tmp="$d/.deepx/.runtime-$id.partial-$$"
mkdir "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
err=$(tar -xzf - -C "$tmp" 2>&1 && "$py" -m compileall -q "$tmp" 2>&1) ||
  { echo "unpacking the runtime: $(printf '%s\n' "$err" | grep -m 1 'No space' || printf '%s\n' "$err" | head -n 1)" >&2
    exit 1; }
got=$(PYTHONPATH="$tmp" "$py" -c 'import sys; del sys.path[0]
import deepx, deepx.boards, deepx.kernels.cython, deepx.runtime.executor, deepx.runtime.onboard.deepx_run
print(deepx.__file__)' 2>&1) || {
  echo "the installed runtime does not import: $(printf '%s' "$got" | tail -n 1)" >&2; exit 1; }
case $got in "$tmp"/*) ;; *) echo "the runtime imported from $got, not $tmp" >&2; exit 1;; esac
rm -rf "$d/.deepx/runtime-$id" && mv "$tmp" "$d/.deepx/runtime-$id" || exit 1
trap - EXIT
"""

PUT = r"""
d=$1; name=$2; want=$3; py=$4; board=$5; launcher=$6; keep=$7
tmp="$d/.$name.partial-$$"
trap 'rm -f "$tmp" "$d/.deepx-run.partial-$$" "$d/.deepx/.board.partial-$$"' EXIT
mkdir -p "$d/.deepx" || exit 1
rm -f "$d/.$name.partial-"*
err=$(cat 2>&1 > "$tmp") || { echo "writing $name: ${err#cat: }" >&2; exit 1; }
if command -v sha256sum >/dev/null 2>&1; then got=$(sha256sum < "$tmp"); got=${got%% *}
else got=$("$py" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$tmp")
fi
[ "$got" = "$want" ] || { echo "checksum mismatch on the target (sha256 $got, sent $want)" >&2; exit 1; }
printf '%s\n' "$launcher" > "$d/.deepx-run.partial-$$" && chmod 755 "$d/.deepx-run.partial-$$" &&
  printf '%s\n' "$board" > "$d/.deepx/.board.partial-$$" || { echo "writing the launcher" >&2; exit 1; }
mv -f "$tmp" "$d/$name" && mv -f "$d/.deepx/.board.partial-$$" "$d/.deepx/board" &&
  mv -f "$d/.deepx-run.partial-$$" "$d/deepx-run" || exit 1
trap - EXIT
for r in "$d"/.deepx/runtime-*; do [ -e "$r" ] && [ "${r##*/}" != "$keep" ] && rm -rf "$r"; done
exit 0
"""


def launcher(board: str, python: str, rid: str, copied: bool) -> str:
    path = f'PYTHONPATH="$here/.deepx/runtime-{rid}${{PYTHONPATH:+:$PYTHONPATH}}" ' if copied else ""
    return "\n".join([
        "#!/bin/sh",
        f"# runtime: {rid}",
        "# deepx-run, written by deepx flash: the bundle runtime of this board",
        'here=$(cd "$(dirname "$0")" && pwd)',
        f"DEEPX_BOARD={shlex.quote(board)} {path}exec {shlex.quote(python)} -c 'import sys; del sys.path[0]",
        "from deepx.runtime.onboard.deepx_run import main; sys.argv[0] = \"deepx-run\"; main()' \"$@\""])


CLEANUP = r"""
d=$1; rid=$2; existed=$3
[ -n "$rid" ] && rm -rf "$d/.deepx/runtime-$rid"
rmdir "$d/.deepx" 2>/dev/null
[ -n "$existed" ] || rmdir "$d" 2>/dev/null
exit 0
"""


def flash(path, board: str, dest: str, python="python3", ssh_config=None, timeout_s=10.0, say=print) -> dict:
    """Put bundle `path` for `board` (a name, or the profile file it names) at `dest`; returns what was done
    and the command that runs it there."""
    board = board.removeprefix("emulated:")
    if board.endswith(".toml"):
        from .. import boards

        board = boards.load(board).name
    b = bundle.load(path, board)  # checks it whole, and that it was packed for this board
    target = Target(dest, ssh_config, timeout_s)
    probe = dict(line.partition("=")[::2] for line in
                 target.sh(PROBE, target.path, python, timeout=120, what="probing the target").splitlines())
    if probe.get("board") and probe["board"] != board:
        raise FlashError(f"{dest}: this is a {probe['board']} board (.deepx/board), not {board}: "
                         f"flash {probe['board']} bundles here, or use another folder")
    if "python" in probe or not probe.get("machine"):
        raise FlashError(f"{dest}: no Python at {python!r} on the target (give one with --python)")
    missing = [m for m in NEEDS if not probe.get(m)]
    if missing:
        raise FlashError(f"{dest}: the target's {python} lacks {', '.join(missing)}: install them there "
                         f"(pip install {' '.join(missing)})")
    files = runtime_files()
    copy = (probe["machine"], probe["ext"]) == (platform.machine(), EXT)
    rid = runtime_id(files) if copy else f"pip-{__version__}"
    if not copy and probe.get("deepx") != __version__:
        raise FlashError(f"{dest}: the board's Python is {probe['machine']} ({probe['ext']}), this host's "
                         f"{platform.machine()} ({EXT}): its compiled kernels cannot be copied from here. "
                         f"Run `pip install deepx=={__version__}` on the board, then flash again")
    install = copy and not (probe.get("runtime") == rid and probe.get("runtime_dir"))
    name = os.path.basename(str(path))
    digest = file_sha256(path)
    try:
        if install:
            with tempfile.TemporaryFile() as tar:
                with tarfile.open(fileobj=tar, mode="w:gz", compresslevel=1) as t:
                    for arc, src in files:
                        t.add(src, arcname=arc)
                tar.seek(0)
                target.sh(INSTALL, target.path, rid, python, stdin=tar, timeout=600, what="installing the runtime")
        with open(path, "rb") as f:
            target.sh(PUT, target.path, name, digest, python, board, launcher(board, python, rid, copy),
                      f"runtime-{rid}", stdin=f, what=f"copying {name}")
    except FlashError:
        try:
            target.sh(CLEANUP, target.path, rid if install else "", probe.get("exists", ""), timeout=60,
                      what="cleaning up")
        except FlashError as e:
            say(f"could not clean up: {e}")
        raise
    if install:
        say(f"runtime {rid} installed" + (f" (was {probe['runtime']})" if probe.get("runtime") else ""))
    else:
        say(f"runtime {rid} already there")
    run = target.run_command(f"{target.path}/deepx-run", f"{target.path}/{name}")
    return dict(bundle=f"{target.path}/{name}", bytes=b.size, sha256=digest, board=board, runtime=rid,
                runtime_installed=install, command=run)
