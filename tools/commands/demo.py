"""`deepx demo`: the whole pipeline on the zoo's trained models (and AlexNet, placement only)."""
from ... import argtypes
from ..demo import DEFAULT_MODELS, MODELS


def add(sub):
    """The demo command."""
    dm = sub.add_parser("demo", help="the whole pipeline on the zoo's trained models (MNIST AlexNet-shaped CNN, "
                                     "MobileNetV2), on an emulated board and meter (or a real one): one table, a "
                                     "power trace PNG")
    dm.add_argument("--board", default="jetson-nano,jetson-tk1", metavar="NAME[,NAME]",
                    help="board(s), comma-separated (default jetson-nano,jetson-tk1)")
    dm.add_argument("--meter", metavar="SPEC", help="a real meter on a real board (with --to); default: the "
                                                    "emulated board read by an emulated UM25C on a pty")
    dm.add_argument("--to", metavar="DEST", help="the board (ssh://user@host/path or a folder; default: a folder "
                                                 "in the work folder, the emulated board's root)")
    dm.add_argument("--python", metavar="PATH",
                    help="with --meter: the board's Python that has deepx (default python3)")
    dm.add_argument("--models", nargs="+", metavar="NAME",
                    help=f"some of {' '.join(MODELS)} (default {' '.join(DEFAULT_MODELS)}; alexnet: random "
                         "weights, placement only)")
    dm.add_argument("--max-accuracy-loss", type=argtypes.fraction, default=0.01, metavar="A",
                    help="RLC's promise for the labelled models, kept on their validation data (default 0.01)")
    dm.add_argument("--max-agreement-loss", type=argtypes.fraction, default=0.02, metavar="A",
                    help="RLC's promise for MobileNetV2: share of top-1 predictions that may change (default 0.02)")
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
