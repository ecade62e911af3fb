"""Resident-memory figures are the measured process's own, not its parent's; large buffers start on a huge page."""
import os
import subprocess
import sys

import numpy as np
import pytest

from deepx.memory import HUGE_PAGE, empty_huge, peak_rss_bytes, rss_bytes
from deepx.runtime.arena import host_arena


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
@pytest.mark.parametrize("what", ["peak_rss_bytes", "rss_bytes"])
def test_a_child_does_not_report_its_parents_memory(what):
    big = np.ones(400 * 2**20 // 8)  # 400 MiB resident here, in the parent
    code = f"from deepx.memory import {what}; print({what}())"
    child = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0 < child < 200 * 2**20 < big.nbytes <= peak_rss_bytes()
    assert rss_bytes() <= peak_rss_bytes()


@pytest.mark.parametrize("n", [1, 1000, 3 * 2**20 // 4, 5 * 2**20 // 4 + 3])
def test_buffers_start_on_a_page_and_large_ones_on_a_huge_page(n):
    """Small buffers on a 4 KiB page (an OpenCL device may use the arena in place), those of a huge page or more on a
    huge page (Linux with transparent huge pages: the arena's strided reads need a few TLB entries); all writable."""
    for a in (empty_huge(n), host_arena(n)):
        assert a.dtype == np.float32 and a.shape == (n,) and a.flags.c_contiguous
        big = HUGE_PAGE and a.nbytes >= HUGE_PAGE
        assert a.ctypes.data % (HUGE_PAGE if big else 4096) == 0
        a[:] = 1.5
        assert a.sum() == 1.5 * n
