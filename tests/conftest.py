"""Shared test setup: helper modules on the path, the power tests' `emulator` fixture, an ssh server, a host
profile per session. deepx's pytest plugin (deepx.testing.plugin) gives deepx_board, deepx_meter and deepx_bundle."""
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# a smaller run where every example is slow (QEMU's aarch64 root: `pytest --hypothesis-profile arm64`); the tests
# that run kernels per example take min(theirs, the profile's): test_kernels.py, test_executor.py
settings.register_profile("arm64", max_examples=5, deadline=None)

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (kernel_cases, onnx_cases)

import sshd_cases  # noqa: E402
from deepx.tools.meter_emulators import constant, make  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def host_profile(tmp_path_factory):
    """The `host` board of this test session: its own profile file (measured quickly on first use), never
    the user's ~/.config/deepx/host.toml; subprocesses inherit it."""
    if "DEEPX_HOST_PROFILE" not in os.environ:
        os.environ["DEEPX_HOST_PROFILE"] = str(tmp_path_factory.mktemp("host") / "host.toml")
    return os.environ["DEEPX_HOST_PROFILE"]


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


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1 for this user (sshd_cases.sshd); the test skips without OpenSSH."""
    with sshd_cases.sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
