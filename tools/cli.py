"""`deepx …`: the command line. A user mistake prints one line and exits with 2, no traceback."""
import argparse
import sys

from .. import __version__
from ..errors import DeepxError
from .commands import bench_kernels, boards, compress, demo, plan, run


def parser():
    p = argparse.ArgumentParser(prog="deepx", description="Run trained deep models on single-board computers.")
    p.add_argument("--version", action="version", version=f"deepx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in (bench_kernels, run, compress, boards, plan, demo):
        command.add(sub)
    return p


def main(argv=None):
    run_command(parser(), argv)


def run_command(p: argparse.ArgumentParser, argv=None, prog: str = "deepx"):
    """Parse argv and run the chosen command's func; a DeepxError is one line on stderr and its exit code."""
    args = p.parse_args(argv)
    try:
        args.func(args)
    except DeepxError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
