"""setup.py's requirements install on every machine deepx targets (x86_64 workstations, aarch64 boards)."""
import ast
from pathlib import Path

from packaging.requirements import Requirement

SETUP = Path(__file__).parent.parent / "setup.py"


def install_requires() -> list:
    """The install_requires list of setup.py's setup() call, read without running setup.py."""
    call = next(n for n in ast.walk(ast.parse(SETUP.read_text())) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "setup")
    return ast.literal_eval(next(k.value for k in call.keywords if k.arg == "install_requires"))


def test_pocl_wheels_are_required_only_where_they_exist():
    """PoCL's binary wheels are x86_64 Linux only: an aarch64 board (Pi, Jetson) must install without them."""
    pocl = next(Requirement(r) for r in install_requires() if r.startswith("pocl-binary-distribution"))
    here = dict(platform_machine="x86_64", sys_platform="linux")
    assert pocl.marker is not None and pocl.marker.evaluate(here)
    for machine, platform in [("aarch64", "linux"), ("armv7l", "linux"), ("x86_64", "darwin"), ("AMD64", "win32")]:
        assert not pocl.marker.evaluate(dict(here, platform_machine=machine, sys_platform=platform))

