"""One exception hierarchy: the CLI prints `str(err)` on one line and exits with 2."""


class DeepxError(Exception):
    """A user-facing error: bad input, unsupported operator, corrupt file, lost device."""

    exit_code = 2


class KernelError(DeepxError):
    """A kernel was called with shapes, dtypes or parameters it cannot take, or is unusable here."""
