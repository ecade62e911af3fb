"""`deepx demo`: the whole pipeline on the zoo's digits models and AlexNet."""
from ... import argtypes


def add(sub):
    """The demo command."""
    dm = sub.add_parser("demo", help="the whole pipeline on the zoo's digits models and AlexNet, on an emulated "
                                     "board and meter (or a real one): one table, a power trace PNG")
    dm.add_argument("--board", default="jetson-nano,jetson-tk1", metavar="NAME[,NAME]",
                    help="board(s), comma-separated (default jetson-nano,jetson-tk1)")
    dm.add_argument("--meter", metavar="SPEC", help="a real meter on a real board (with --to); default: the "
                                                    "emulated board read by an emulated UM25C on a pty")
    dm.add_argument("--to", metavar="DEST", help="the board (ssh://user@host/path or a folder; default: a folder "
                                                 "in the work folder, the emulated board's root)")
    dm.add_argument("--python", metavar="PATH",
                    help="with --meter: the board's Python that has deepx (default python3)")
    dm.add_argument("--models", nargs="+", metavar="NAME", help="some of digits-dnn digits-cnn alexnet (default all)")
    dm.add_argument("--error-budget", type=argtypes.error_budget, default=0.05, metavar="E",
                    help="RLC's summed error, 0 to 1 (default 0.05)")
    dm.add_argument("--window", type=argtypes.positive, default=6.0, metavar="S",
                    help="seconds of metered inference per model")
    dm.add_argument("--workdir", metavar="DIR", help="where plans, bundles and traces go, kept (default: a temporary "
                                                     "folder, removed at the end, the power trace PNG copied to the "
                                                     "current folder)")
    dm.add_argument("--keep", action="store_true", help="keep the temporary work folder (plans, bundles, traces and "
                                                        "board folders: over a GB with AlexNet)")
    dm.set_defaults(func=_demo)


def _demo(args):
    from ..demo import run

    run(args)
