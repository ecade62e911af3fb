"""Shared by the power tests: an `emulator` fixture that serves meters in this process and unplugs them after."""
import pytest

from deepx.tools.meter_emulators import constant, make


@pytest.fixture
def emulator():
    """emulator(kind, source=2.5 W, **kw) -> the port URL; `emulator.last` is the Emulator object."""
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
