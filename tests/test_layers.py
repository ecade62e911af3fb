"""The package's structure is the one that runs: layers import only downward (imports inside functions
counted), no modules import each other in a circle, and the runtime `deepx flash` copies needs nothing a
board cannot run."""
import subprocess
import sys

from deepx import kernels
from deepx.tools import flash, imports


def test_no_upward_imports_and_no_circles():
    g = imports.graph()
    assert {imports.layer(m) for m in g} == set(imports.LAYERS)
    assert imports.upward(g) == [] and imports.circles(g) == []
    p = subprocess.run([sys.executable, "-m", "deepx.tools.imports"], capture_output=True, text=True)
    assert p.returncode == 0 and "0 upward, 0 circles" in p.stdout


def test_the_checker_sees_what_it_should():
    g = {"deepx.models.a": {"deepx.runtime.b"}, "deepx.runtime.b": {"deepx.runtime.c"},
         "deepx.runtime.c": {"deepx.runtime.b"}, "deepx.kernels.d": set()}
    assert imports.upward(g) == [("deepx.models.a", "deepx.runtime.b")]
    assert imports.circles(g) == [["deepx.runtime.b", "deepx.runtime.c"]]
    assert imports.closure(["deepx.models.a"], g) == {"deepx", "deepx.models", "deepx.models.a", "deepx.runtime",
                                                       "deepx.runtime.b", "deepx.runtime.c"}
    known = imports.modules()
    seen = imports.imports("deepx.runtime.emulate", known["deepx.runtime.emulate"], known)
    assert {"deepx.kernels", "deepx.runtime.executor", "deepx.models.load"} <= seen  # one inside a function


def test_the_board_runtime_is_the_closure_of_deepx_run_and_the_precompiled_backends():
    shipped = {arc for arc, _ in flash.runtime_files()}
    assert "deepx/runtime/onboard/deepx_run.py" in shipped and "deepx/boards/jetson-nano.toml" in shipped
    for name in kernels.BACKENDS:
        init = f"deepx/kernels/{name}/__init__.py"
        assert (init in shipped) == (not kernels.info(name).jit), name
    assert not [f for f in shipped if f.startswith("deepx/tools/")]
