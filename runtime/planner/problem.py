"""The placement problem both planners solve, built from a graph's blocks and a board's cost model.

Each block has options: the whole block on one processor with one backend, or its output channels
split between two processors running at once, the output gathered on one of them (its home). A
tensor costs a hand-over to each processor that reads it other than its producer's home; graph
inputs start on the host CPU (processor 0) and graph outputs must end there. Blocks run one after
another, so latency and energy are sums: a choice of one option per block is evaluated by `evaluate`.
"""
from dataclasses import dataclass, field

from ...boards import Board, cost
from ...errors import DeepxError
from ...models.graph import Graph
from .. import blocks as B

OBJECTIVES = ("energy", "latency")
SPLITS = (0.25, 0.5, 0.75)  # share of the output channels on the second processor of a split
MB = 1 << 20


class PlanError(DeepxError):
    """No plan meets the limits (the message says which limit and by how much), or a plan file is wrong."""


@dataclass(frozen=True)
class Part:
    processor: int
    backend: str
    lo: int | None = None  # output channels [lo, hi); None for the whole block
    hi: int | None = None


@dataclass(frozen=True)
class Option:
    parts: tuple  # Part, one per processor used
    home: int  # the processor that holds the block's output
    ms: float
    mj: float
    memory: tuple  # bytes held on each processor (weights and output)

    @property
    def readers(self) -> frozenset:
        return frozenset(p.processor for p in self.parts)


@dataclass
class Tensor:
    name: str
    producer: int  # block index; -1 for a graph input (on the host)
    consumers: list
    to_host: bool  # a graph output
    ms: float  # one hand-over to another processor
    mj: float


@dataclass
class Problem:
    processors: tuple  # ids; 0 is the host CPU
    blocks: list  # names
    options: list  # per block, its options
    tensors: list
    objective: str = "energy"  # or latency; `memory` (internal): minimise the worst memory row / limit
    deadline_ms: float | None = None
    memory_rows: list = field(default_factory=list)  # (label, weight per processor, limit in bytes)


@dataclass
class Result:
    latency_ms: float
    energy_mj: float
    block_ms: list  # per block, its options' time plus the hand-overs charged to it
    block_mj: list
    memory: list  # bytes per memory row

    def value(self, problem: Problem) -> float:
        if problem.objective == "latency":
            return self.latency_ms
        if problem.objective == "memory":
            return max((m / row[2] for m, row in zip(self.memory, problem.memory_rows)), default=0.0)
        return self.energy_mj


def build(g: Graph, blocks: list, board: Board, objective="energy", deadline_ms=None, memory_mb=None,
          splits=SPLITS) -> Problem:
    if objective not in OBJECTIVES:
        raise PlanError(f"objective {objective!r}: choose {' or '.join(OBJECTIVES)}")
    procs = board.processors
    index = {b.output: i for i, b in enumerate(blocks)}
    options = []
    for b in blocks:
        full = B.works(g, b)
        held = B.weight_bytes(g, b) + B.tensor_bytes(g, b.output)
        opts = []
        for i, p in enumerate(procs):
            for backend in p.backends:
                ms = cost.run_ms(p, backend, full)
                opts.append(Option((Part(i, backend),), i, ms, cost.busy_mj(board, p, ms),
                                   tuple(held if j == i else 0 for j in range(len(procs)))))
        if b.channels:
            opts += _split_options(g, b, board, splits)
        options.append(opts)
    users = {}
    for i, b in enumerate(blocks):
        for t in b.inputs:
            users.setdefault(t, []).append(i)
    tensors = []
    for name, consumers in users.items():
        ms = cost.transfer_ms(board, B.tensor_bytes(g, name))
        tensors.append(Tensor(name, index.get(name, -1), consumers, name in g.outputs, ms, cost.transfer_mj(board, ms)))
    for name in g.outputs:
        if name not in users:
            ms = cost.transfer_ms(board, B.tensor_bytes(g, name))
            tensors.append(Tensor(name, index[name], [], True, ms, cost.transfer_mj(board, ms)))
    rows = []
    for i, p in enumerate(procs):
        limit = min(p.memory_mb, memory_mb or p.memory_mb) * MB
        rows.append((p.id, tuple(1.0 if j == i else 0.0 for j in range(len(procs))), limit))
    if board.shared_memory and len(procs) > 1:
        rows.append(("the board (shared)", (1.0,) * len(procs), board.memory_mb * MB))
    return Problem(tuple(p.id for p in procs), [b.name for b in blocks], options, tensors, objective, deadline_ms,
                   rows)


def _split_options(g, b, board, splits) -> list:
    """Output channels split between the host CPU and each other processor, output gathered on either."""
    procs, K, out = board.processors, b.channels, []
    for j in range(1, len(procs)):
        for share in splits:
            k = round(K * (1 - share))
            if not 0 < k < K:
                continue
            sides = []
            for i, lo, hi in ((0, 0, k), (j, k, K)):
                w = B.works(g, b, lo, hi)
                backend = min(procs[i].backends, key=lambda be: cost.run_ms(procs[i], be, w))
                held = B.weight_bytes(g, b, lo, hi) + B.tensor_bytes(g, b.output) * (hi - lo) / K
                sides.append((Part(i, backend, lo, hi), cost.run_ms(procs[i], backend, w), held,
                              sum(x.bytes for x in w)))
            ms, mj = cost.concurrent(board, [(procs[s[0].processor], s[1], s[3]) for s in sides])
            memory = tuple(sum(s[2] for s in sides if s[0].processor == i) for i in range(len(procs)))
            for home in (0, j):
                away = sum(B.tensor_bytes(g, b.output) * (s[0].hi - s[0].lo) / K for s in sides
                           if s[0].processor != home)
                gather = cost.transfer_ms(board, away)
                out.append(Option(tuple(s[0] for s in sides), home, ms + gather,
                                  mj + cost.transfer_mj(board, gather), memory))
    return out


def evaluate(problem: Problem, choice) -> Result:
    """Latency, energy and memory of one option per block, hand-overs charged to the block that reads."""
    opts = [problem.options[b][c] for b, c in enumerate(choice)]
    block_ms = [o.ms for o in opts]
    block_mj = [o.mj for o in opts]
    for t in problem.tensors:
        home = opts[t.producer].home if t.producer >= 0 else 0
        for q in range(len(problem.processors)):
            if q == home:
                continue
            reader = next((b for b in t.consumers if q in opts[b].readers), None)
            if reader is None and not (t.to_host and q == 0):
                continue
            at = t.producer if reader is None else reader
            block_ms[at] += t.ms
            block_mj[at] += t.mj
    memory = [sum(sum(w * m for w, m in zip(row[1], o.memory)) for o in opts) for row in problem.memory_rows]
    return Result(sum(block_ms), sum(block_mj), block_ms, block_mj, memory)


def feasible(problem: Problem, r: Result, tol=1e-9) -> bool:
    if problem.deadline_ms is not None and r.latency_ms > problem.deadline_ms * (1 + tol):
        return False
    return problem.objective == "memory" or all(m <= row[2] * (1 + tol) for m, row in zip(r.memory,
                                                                                        problem.memory_rows))
