"""The cost model: latency and energy of work on a processor, and of handing tensors between processors.

Latency of one kernel call is a roofline: the larger of FLOPs / (peak x efficiency of its op type x
backend speed) and bytes moved / memory bandwidth, plus the processor's launch overhead. Energy is
power x time: the board's idle watts for as long as anything runs, plus each processor's active watts
for as long as it computes (W x ms = mJ).
"""
from dataclasses import dataclass

from .profile import Board, Processor


@dataclass(frozen=True)
class Work:
    """One kernel call: its op type (a key of a processor's efficiency table), FLOPs and bytes moved."""

    op_type: str
    flops: float
    bytes: float


def work_ms(p: Processor, backend: str, w: Work) -> float:
    gflops = p.peak_gflops * p.eff(w.op_type) * p.backends[backend]
    seconds = max(w.flops / (gflops * 1e9), w.bytes / (p.bandwidth_gbps * 1e9))
    return 1e3 * seconds + 1e-3 * p.launch_us


def run_ms(p: Processor, backend: str, works) -> float:
    """Milliseconds for a sequence of kernel calls on one processor with one backend."""
    return sum(work_ms(p, backend, w) for w in works)


def busy_mj(board: Board, p: Processor, ms: float) -> float:
    """Energy of `p` computing alone for `ms`: the idle share plus its active power."""
    return (board.idle_w + p.active_w) * ms


def transfer_ms(board: Board, nbytes: float) -> float:
    """Handing a tensor of `nbytes` to another processor: a copy, or on shared memory a flush and sync."""
    return 1e-3 * board.transfer_us + 1e3 * nbytes / (board.transfer_gbps * 1e9)


def transfer_mj(board: Board, ms: float) -> float:
    return (board.idle_w + board.transfer_w) * ms


def concurrent(board: Board, parts) -> tuple:
    """(ms, mJ) of parts [(processor, ms, bytes moved)] running at once: the slowest sets the time, and on
    shared memory the parts also share the DRAM bandwidth; each processor pays its active power for its
    own time, the board's idle power is paid once."""
    ms = max(t for _, t, _ in parts)
    if board.shared_memory:
        ms = max(ms, 1e3 * sum(b for _, _, b in parts) / (min(p.bandwidth_gbps for p, _, _ in parts) * 1e9))
    return ms, board.idle_w * ms + sum(p.active_w * t for p, t, _ in parts)
