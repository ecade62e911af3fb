"""Resident-memory figures are the measured process's own, not its parent's."""
import os
import subprocess
import sys

import numpy as np
import pytest

from deepx.memory import peak_rss_bytes, rss_bytes


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("what", ["peak_rss_bytes", "rss_bytes"])
def test_a_child_does_not_report_its_parents_memory(what):
    big = np.ones(400 * 2**20 // 8)  # 400 MiB resident here, in the parent
    code = f"from deepx.memory import {what}; print({what}())"
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0 < child < 200 * 2**20 < big.nbytes <= peak_rss_bytes()
    assert rss_bytes() <= peak_rss_bytes()
