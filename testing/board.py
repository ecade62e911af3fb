"""A board for tests: emulated (a folder as its root, its modelled power for meters) or real (ssh:// or a
folder), with plan, pack, flash and `deepx-run`; and meters: an emulator on a pseudo-terminal, or a real one."""
import base64
import csv
import inspect
import json
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: what a board's runtime never imports: in an emulated board's `deepx-run` importing them fails
BLOCKED = ("numba", "llvmlite", "onnx", "onnxruntime", "Cython", "cython", "pyximport")

SITECUSTOMIZE = f'''
"""deepx.testing: {", ".join(BLOCKED)} cannot be imported (as on a board without them); every attempt, and
the modules imported, are written at exit."""
import atexit, os, sys

tried = []


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            tried.append(name)
            raise ModuleNotFoundError(f"{{name}} is blocked in this test", name=name)


def report():
    with open(os.environ["DEEPX_TEST_MODULES"], "w") as f:
        f.write("\\n".join(["tried: " + " ".join(tried), *sorted(sys.modules)]))


sys.meta_path.insert(0, Blocker())
if os.environ.get("DEEPX_TEST_MODULES"):
    atexit.register(report)
'''


def blocked_env(folder) -> dict:
    """Environment for a subprocess in which the BLOCKED imports fail; folder/modules gets the attempts
    (first line) and the modules imported."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, DEEPX_TEST_MODULES=str(folder / "modules"))
    env["PYTHONPATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("PYTHONPATH")])])
    return env


class Meter:
    """A meter `Board.run` reads: `spec` for deepx-run; `emulator` (with its `faults`) when emulated."""

    def __init__(self, spec: str, emulator=None, board=None):
        self.spec, self.emulator, self.board = spec, emulator, board

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    def unplug(self):
        if self.emulator is not None and self.emulator.serving:
            self.emulator.unplug()

    def __repr__(self):
        return f"Meter({self.spec!r}{', emulated' if self.emulated else ''})"


def emulate_meter(kind: str, board=None, watts: float | None = None, corrupt: float = 0.0, drop: float = 0.0,
                  seed: int = 0, **options) -> Meter:
    """A meter emulator of `kind` (um24c, um25c, um34c, ina, scpi) on a pseudo-terminal, reading `board`'s
    modelled power (idle, or a bundle's inference while Board.run runs it), else constant `watts` (2.5);
    `corrupt` / `drop`: the fraction of bytes it corrupts or drops (seeded)."""
    from ..runtime.power.spec import PORT_KINDS
    from ..tools.meter_emulators import Faults, constant, make

    source = board.power_w if board is not None else constant(2.5 if watts is None else watts)
    em = make(kind, source, faults=Faults(corrupt, drop, seed), **options)
    spec = f"{kind}:{em.start()}"
    if (corrupt or drop) and "timeout" in inspect.signature(PORT_KINDS[kind]).parameters:
        spec += "?timeout=10"  # opening waits for one intact answer
    return Meter(spec, em, board)


@dataclass
class Run:
    """What `deepx-run` did: its JSON report, the outputs, the energy per inference and how it was obtained,
    the meter's samples [(s, W, window)], the board's cost model for one inference of the bundle's plan, and on
    an emulated board the modules it imported and the imports refused."""

    report: dict
    modelled_ms: float = 0.0
    modelled_mj: float = 0.0
    outputs: dict = field(default_factory=dict)
    energy_mj: float | None = None
    energy_how: str = ""
    samples: list = field(default_factory=list)
    modules: list | None = None
    refused: list | None = None


class Board:
    """A board by profile, with a root to flash into: a folder, or ssh://[user@]host[:port]/path; `emulated`:
    this machine runs its bundles as the board would (numba, onnx and Cython unimportable), and meters read its
    modelled power."""

    def __init__(self, profile, root, work, python: str = sys.executable, ssh_config=None, emulated: bool = True):
        self.profile, self.name, self.root, self.work = profile, profile.name, str(root), Path(work)
        self.python, self.ssh_config, self.emulated = python, ssh_config, emulated
        self.remote = self.root.startswith("ssh://")
        self._load_w = None  # the modelled mean watts of the inference running now; None: idle

    def __repr__(self):
        return f"Board({self.name!r}, {'emulated at ' if self.emulated else ''}{self.root})"

    def power_w(self, t: float = 0.0) -> float:
        """Modelled watts now: idle, or the mean power of a bundle's inference while `run` runs it."""
        return self.profile.idle_w if self._load_w is None else self._load_w

    def plan(self, model, objective: str = "energy", deadline_ms=None, memory_mb=None, input_shapes=None) -> dict:
        """A plan of `model` on this board (`deepx plan`): PlanError when no plan meets the limits."""
        from ..models import load
        from ..runtime.plan import file_sha256, make_plan

        g = load.load_model(str(model), input_shapes)
        return make_plan(g, file_sha256(model), self.profile, objective, deadline_ms, memory_mb)

    def pack(self, model, path, plan=None, input_shapes=None) -> Path:
        """`model` packed for this board at `path` (`deepx pack`), with `plan` (a dict, PLAN.json, or None:
        planned now for energy)."""
        from ..models import load
        from ..runtime import bundle
        from ..runtime.plan import file_sha256, load_plan, make_plan

        g = load.load_model(str(model), input_shapes)
        sha = file_sha256(model)
        if plan is None:
            plan = make_plan(g, sha, self.profile)
        elif not isinstance(plan, dict):
            plan = load_plan(plan, sha)
        bundle.pack(g, plan, sha, self.name, path, profile=self.profile.text)
        return Path(path)

    def flash(self, bundle) -> dict:
        """Put the bundle and its runtime at this board's root (`deepx flash`)."""
        from ..tools.flash import flash

        board = self.profile.path if str(self.profile.path).endswith(".toml") else self.name  # as --board FILE.toml
        return flash(bundle, board, self.root, self.python, self.ssh_config, say=lambda _: None)

    def _target(self):
        from ..tools.flash import Target

        return Target(self.root, self.ssh_config)

    def _put(self, local: Path, remote: str):
        with open(local, "rb") as f:
            self._target().sh('cat > "$1"', remote, stdin=f, what=f"copying {local.name}")

    def _get(self, remote: str, local: Path):
        local.write_bytes(base64.b64decode(self._target().sh('base64 < "$1"', remote, what=f"reading {remote}")))

    def run(self, bundle, inputs=None, meter: Meter | None = None, repeat: int = 0, window_s: float = 0.0) -> Run:
        """Flash `bundle` and run it with `deepx-run` in a subprocess (on an emulated board with numba, onnx
        and Cython unimportable); `inputs` {name: array} (default: random); `meter`: energy per inference."""
        from ..runtime import bundle as B
        from ..runtime.emulate import clock

        flashed = self.flash(bundle)
        self.work.mkdir(parents=True, exist_ok=True)
        here = Path(tempfile.mkdtemp(prefix="run-", dir=self.work))
        there = f"{self._target().path}/.deepx-test/{here.name}" if self.remote else here
        if self.remote:
            self._target().sh('mkdir -p "$1"', there, what="making a folder for the run's files")
        args = ["--json", "--repeat", str(repeat)]
        if inputs is not None:
            np.savez(here / "in.npz", **inputs)
            if self.remote:
                self._put(here / "in.npz", f"{there}/in.npz")
            args += ["--input", f"{there}/in.npz", "--output", f"{there}/out.npz"]
        if meter is not None:
            args += ["--meter", meter.spec, "--trace", f"{there}/trace.csv", "--window", f"{window_s:g}"]
            args += ["--baseline", "0"] if meter.emulated else []
        env = blocked_env(here / "blocker") if self.emulated else None
        b = B.load(bundle, self.name)
        model = clock(b.graph, b.plan, self.profile)
        if meter is not None and meter.board is self:
            self._load_w = model.energy_mj() / model.now_ms  # mJ / ms = W
        try:
            argv = shlex.split(flashed["command"]) + ([shlex.quote(a) for a in args] if self.remote else args)
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        finally:
            self._load_w = None
        where = "an emulated board, numba, onnx and Cython unimportable" if self.emulated else self.root
        assert p.returncode == 0, (f"deepx-run of {Path(bundle).name} on {self.name} ({where}) failed with exit "
                                   f"status {p.returncode}: {p.stderr.strip()[-2000:]}")
        run = Run(json.loads(p.stdout), model.now_ms, model.energy_mj())
        if self.remote:
            for name, wanted in (("out.npz", inputs is not None), ("trace.csv", meter is not None)):
                if wanted:
                    self._get(f"{there}/{name}", here / name)
            self._target().sh('rm -rf "$1"', there, what="removing the run's files")
        if inputs is not None:
            with np.load(here / "out.npz") as z:
                run.outputs = {k: z[k] for k in z.files}
        if meter is not None:
            with open(here / "trace.csv", newline="") as f:
                run.samples = [(float(r["time_s"]), float(r["power_w"]), r["window"]) for r in csv.DictReader(f)]
            m = run.report["meter"]
            if meter.emulated:
                run.energy_mj = m["mean_w"] * model.now_ms
                run.energy_how = (f"modelled: an emulated {meter.spec.split(':')[0]} read the board's modelled power, "
                                  f"{m['mean_w']:.3f} W over {m['samples']} samples, x the modelled latency "
                                  f"{model.now_ms:.3f} ms; the cost model read back through the meter, not measured")
            else:
                run.energy_mj = run.report["energy_mj_per_inference"]
                run.energy_how = (f"measured by {meter.spec} above the idle baseline, {m['samples']} samples over "
                                  f"{m['window_s']:.1f} s")
        if self.emulated:
            tried, *run.modules = (here / "blocker" / "modules").read_text().splitlines()
            run.refused = tried.split()[1:]
        return run
