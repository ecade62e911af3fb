"""deepx's pytest plugin (registered by `pip install deepx`): boards, meters and bundles as fixtures.

- `deepx_board(name or profile.toml)` -> a `deepx.testing.Board`: emulated, with a temporary root to flash into;
  with `--deepx-target ssh://…`, the real board there.
- `deepx_meter(kind, board=…, corrupt=…)` -> a `deepx.testing.Meter`: an emulator on a pseudo-terminal reading
  the board's modelled power, unplugged after the test; with `--deepx-meter SPEC`, the real meter.
- `deepx_bundle(model, board, plan=…)` -> the path of the model packed for that board.
- `@pytest.mark.deepx_board("rpi4b", "jetson-nano")` runs the test once per board (`deepx_board()` then
  takes that board; `deepx_board_name` is its name); `@pytest.mark.deepx_emulated` skips it on real hardware.
"""
import sys
from pathlib import Path

import pytest


def pytest_addoption(parser):
    g = parser.getgroup("deepx", "deepx: test a deployment on emulated or real boards and meters")
    g.addoption("--deepx-target", metavar="DEST", help="a real board: ssh://[user@]host[:port]/path (or a folder "
                "on this machine); the board fixtures flash there and tests needing the emulator skip")
    g.addoption("--deepx-target-board", metavar="NAME", help="the board at --deepx-target: tests for other "
                                                             "boards skip")
    g.addoption("--deepx-python", metavar="PATH", help="the target's Python with numpy and scipy (default: "
                                                       "python3 on a real target, this Python on an emulated one)")
    g.addoption("--deepx-ssh-config", metavar="FILE", help="an ssh_config file for ssh to --deepx-target")
    g.addoption("--deepx-meter", metavar="SPEC", help="a real meter, as deepx-run on the target opens it "
                                                      "(e.g. um25c:/dev/rfcomm0); fault injection tests skip")


def pytest_configure(config):
    config.addinivalue_line("markers", "deepx_board(*boards): run the test once per board (names or profile "
                                       "files); the deepx_board fixture and deepx_board_name take each")
    config.addinivalue_line("markers", "deepx_emulated: the test needs the emulated board and meter (skipped "
                                       "with --deepx-target or --deepx-meter)")


def pytest_report_header(config):
    target, meter = config.getoption("deepx_target"), config.getoption("deepx_meter")
    board = config.getoption("deepx_target_board")
    return (f"deepx: target {target or 'emulated boards'}{f' ({board})' if target and board else ''}, "
            f"meter {meter or 'emulated on a pseudo-terminal'}")


def pytest_generate_tests(metafunc):
    mark = metafunc.definition.get_closest_marker("deepx_board")
    if mark is None:
        return
    if not mark.args:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.deepx_board needs board names, "
                                f"e.g. deepx_board('rpi4b', 'jetson-nano')")
    if "deepx_board_name" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.deepx_board parametrises the "
                                f"deepx_board fixture: the test must take deepx_board or deepx_board_name")
    metafunc.parametrize("deepx_board_name", [str(a) for a in mark.args], ids=[str(a) for a in mark.args])


def pytest_runtest_setup(item):
    config = item.config
    target, real = config.getoption("deepx_target"), config.getoption("deepx_target_board")
    if item.get_closest_marker("deepx_emulated") and (target or config.getoption("deepx_meter")):
        pytest.skip("needs the emulated board and meter (running against --deepx-target / --deepx-meter)")
    name = getattr(item, "callspec", None) and item.callspec.params.get("deepx_board_name")
    if target and real and name and _board_name(name) != real:
        pytest.skip(f"the real target {target} is a {real} board, not {_board_name(name)}")


def _board_name(name: str) -> str:
    """The board a marker's argument names: a board, emulated:NAME, or a profile file (the name it holds)."""
    from deepx import boards
    from deepx.errors import DeepxError

    name = name.removeprefix("emulated:")
    try:
        return boards.load(name).name if name.endswith(".toml") else name
    except DeepxError:
        return name  # the deepx_board fixture says what is wrong with it


@pytest.fixture
def deepx_board_name():
    """The board of this run of a test marked @pytest.mark.deepx_board(...); None when unmarked."""
    return None


@pytest.fixture
def deepx_board(request, deepx_board_name, tmp_path_factory):
    """deepx_board(name or FILE.toml; default: the marker's board) -> deepx.testing.Board."""
    from deepx.errors import DeepxError
    from deepx.runtime.calibrate import load_board

    from . import Board

    config, made = request.config, {}
    target = config.getoption("deepx_target")

    def board(name=None):
        name = str(name or deepx_board_name or "")
        if not name:
            raise pytest.UsageError("deepx_board(): give a board name or profile file, or mark the test "
                                    "@pytest.mark.deepx_board('jetson-nano', ...)")
        if name not in made:
            try:
                profile = load_board(name)
            except DeepxError as e:
                raise pytest.UsageError(f"deepx_board({name!r}): {e}") from None
            work = tmp_path_factory.mktemp(f"board-{profile.name}")
            real = config.getoption("deepx_target_board")
            if target and real and real != profile.name:
                pytest.skip(f"the real target {target} is a {real} board, not {profile.name}")
            made[name] = Board(profile, target or work / "root", work / "work",
                               config.getoption("deepx_python") or ("python3" if target else sys.executable),
                               config.getoption("deepx_ssh_config"), emulated=not target)
        return made[name]

    return board


@pytest.fixture
def deepx_meter(request):
    """deepx_meter(kind="um25c", board=None, corrupt=0.0, drop=0.0, seed=0, watts=None, **emulator options) ->
    deepx.testing.Meter: an emulator on a pseudo-terminal (unplugged after the test) reading `board`'s modelled
    power (else constant `watts`, 2.5); with --deepx-meter, that real meter (fault injection then skips)."""
    from .board import Meter, emulate_meter

    real, started = request.config.getoption("deepx_meter"), []
    target = request.config.getoption("deepx_target")

    def meter(kind="um25c", board=None, corrupt=0.0, drop=0.0, seed=0, watts=None, **options):
        if real:
            if corrupt or drop or watts is not None or options:
                pytest.skip(f"fault injection and set watts need the emulated meter (the real meter is {real})")
            return Meter(real, board=board)
        if target:
            pytest.skip(f"an emulated meter's port is on this machine, not on {target}: give --deepx-meter SPEC")
        started.append(emulate_meter(kind, board, watts, corrupt, drop, seed, **options))
        return started[-1]

    yield meter
    for m in started:
        m.unplug()


@pytest.fixture
def deepx_bundle(tmp_path_factory):
    """deepx_bundle(model, board, plan=None, input_shapes=None) -> the path of `model` packed for `board` (a
    Board or a board name), with `plan` (a dict, PLAN.json, or None: planned now for energy)."""
    from deepx.runtime.calibrate import load_board

    from . import Board

    folder = tmp_path_factory.mktemp("bundles")

    def bundle(model, board, plan=None, input_shapes=None):
        if not isinstance(board, Board):
            board = Board(load_board(str(board)), folder, folder)
        n = len(list(folder.glob("*.dxb")))
        name = f"{Path(model).stem}-{board.name}-{n}.dxb"
        return board.pack(model, folder / name, plan, input_shapes)

    return bundle
