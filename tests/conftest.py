"""Shared test setup: helper modules on the path, and the power tests' `emulator` fixture."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (kernel_cases, onnx_cases)

from deepx.tools.meter_emulators import constant, make  # noqa: E402


@pytest.fixture
def emulator():
    """emulator(kind, source=2.5 W, **kw) -> the port URL; `emulator.last` is the Emulator object.
    Serves meters in this process and unplugs them after the test."""
    started = []

    def serve(kind, source=constant(2.5), **kw):
        em = make(kind, source, **kw)
        url = em.start()
        started.append(em)
        serve.last = em
        return url

    yield serve
    for em in started:
        if em.serving:
            em.unplug()
