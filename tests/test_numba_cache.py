"""A second process loads the Numba kernels from the cache instead of compiling them again."""
import json
import subprocess
import sys

import pytest

from deepx import kernels

pytestmark = pytest.mark.skipif(not kernels.backend_usable("numba")[0], reason="numba not installed")

FIRST_CALLS = """
import json, time
import numpy as np
from deepx import kernels
x, w = np.ones((1, 8, 10, 10), np.float32), np.ones((4, 8, 3, 3), np.float32)
t = time.perf_counter()
kernels.run("conv2d", "numba", x, w, None, pads=1, act="relu")
kernels.run("dense", "numba", np.ones((2, 5), np.float32), np.ones((3, 5), np.float32), None)
seconds = time.perf_counter() - t
from deepx.kernels.numba import conv, dense
jitted = [f for m in (conv, dense) for f in vars(m).values() if hasattr(f, "stats")]
misses = sum(sum(f.stats.cache_misses.values()) for f in jitted)
hits = sum(sum(f.stats.cache_hits.values()) for f in jitted)
print(json.dumps(dict(seconds=seconds, misses=misses, hits=hits)))
"""


def test_second_process_does_not_recompile(tmp_path):
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run():
        p = subprocess.run([sys.executable, "-c", FIRST_CALLS], env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["misses"] > 0  # compiled into the empty cache
    assert second["misses"] == 0 and second["hits"] > 0
    print(f"first call: {first['seconds']:.2f} s compiling, {second['seconds']:.3f} s from the cache")
