"""argparse types of the command lines (deepx, deepx-power, deepx-run): a value out of range gets argparse's
one-line usage error, `PROG: error: argument --repeat: expected a whole number >= 0, got '-3'`, exit code 2."""
import argparse
import math
import sys

#: the --error-budget above which deepx warns: the digits models keep their accuracy up to 0.3
#: (digits-dnn: 97.5% at 0.3, 92% at 0.5, 62% at 1, 10% at 2)
LARGE_ERROR_BUDGET = 0.3


def _checked(convert, ok, expected):
    """A type that converts with `convert` and accepts a finite value when `ok(value)`."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


count = _checked(int, lambda v: v >= 0, "a whole number >= 0")
positive_int = _checked(int, lambda v: v >= 1, "a whole number >= 1")
threads = _checked(int, lambda v: v >= 0, "a thread count >= 0 (0: all cores)")
port = _checked(int, lambda v: 0 <= v <= 65535, "a TCP port, 0 to 65535 (0: any free port)")
seconds = _checked(float, lambda v: v >= 0, "seconds >= 0")
positive = _checked(float, lambda v: v > 0, "a number > 0")
non_negative = _checked(float, lambda v: v >= 0, "a number >= 0")
fraction = _checked(float, lambda v: 0 <= v <= 1, "a fraction from 0 to 1")
budget = _checked(float, lambda v: 0 <= v <= 1, "an error budget from 0 to 1 (a summed relative output error)")


def error_budget(text):
    """RLC's summed estimated relative output error, 0 to 1; a loud warning on stderr above LARGE_ERROR_BUDGET."""
    value = budget(text)
    if value > LARGE_ERROR_BUDGET:
        print(f"deepx: warning: error budget {value:g} is large (above {LARGE_ERROR_BUDGET:g}): the compressed model "
              "may lose much accuracy: check it", file=sys.stderr)
    return value
