"""Helpers for the flash and deepx-run tests: a packed zoo model, the host's outputs for it; deepx.testing's
`blocked_env` makes importing numba, onnx or Cython fail in a subprocess, and records each attempt."""
import os
import subprocess
import sys

import numpy as np
from deepx.models import zoo
from deepx.testing.board import BLOCKED, blocked_env  # noqa: F401 (the tests import them from here)

SHAPE = ("--input-shape", "x=1,1,32,32")


def deepx(*args, **kw):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def pack(path, board="jetson-nano"):
    """digits-cnn packed for `board` with a plan made by `deepx plan` (kept beside it as PATH.plan.json)."""
    plan = f"{path}.plan.json"
    p = deepx("plan", zoo.path("digits-cnn"), "--board", board, *SHAPE, "-o", plan)
    assert p.returncode == 0, p.stderr
    p = deepx("pack", zoo.path("digits-cnn"), "--board", board, "--plan", plan, *SHAPE, "-o", str(path))
    assert p.returncode == 0, p.stderr
    return path


def inputs(path, bundle, seed=1):
    """IN.npz for digits-cnn, and the host's `deepx run` outputs for it with the bundle's plan."""
    x = np.random.default_rng(seed).random((1, 1, 32, 32), dtype=np.float32)
    np.savez(path, x=x)
    out = str(path) + ".host.npz"
    p = deepx("run", zoo.path("digits-cnn"), *SHAPE, "--board", "jetson-nano", "--plan", f"{bundle}.plan.json",
              "--input", str(path), "--output", out)
    assert p.returncode == 0, p.stderr
    return outputs(out)


def outputs(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def snapshot(folder):
    """{relative path: (size, mtime_ns)} of every file under folder."""
    return {os.path.relpath(os.path.join(d, f), folder): (os.stat(os.path.join(d, f)).st_size,
                                                         os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, files in os.walk(folder) for f in files}
