"""The placement problem both planners solve, built from a graph's blocks and a board's cost model.

Each block has options: the whole block on one processor with one backend, or its output channels
split between two processors running at once, the output gathered on one of them (its home). A
tensor costs a hand-over to each processor that reads it other than its producer's home; graph
inputs start on the host CPU (processor 0) and graph outputs must end there. Blocks run one after
another, so latency and energy are sums: a choice of one option per block is evaluated by `evaluate`.

With RLC variants (a layer's low-rank forms, each with its estimated output error), a block whose layer
has some gets the same options again for each variant, and the errors of the chosen options must sum
to at most the error budget: compression and placement are chosen together (DeepX's DAD "considers
compression levels").
"""
from collections import ChainMap
from dataclasses import dataclass, field, replace

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
class Variant:
    """A compressed form of a layer: the low-rank node that replaces it, its factors' shapes, its error."""

    node: object  # models.graph.Node
    shapes: dict  # factor name -> shape
    error: float  # estimated relative output error


@dataclass(frozen=True)
class Option:
    parts: tuple  # Part, one per processor used
    home: int  # the processor that holds the block's output
    ms: float
    mj: float
    memory: tuple  # bytes held on each processor (weights and output)
    variant: int = -1  # index into the block's variants; -1: the layer as it is
    error: float = 0.0  # the variant's estimated error

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
    error_budget: float | None = None  # limit on the summed error of the chosen variants


@dataclass
class Result:
    latency_ms: float
    energy_mj: float
    block_ms: list  # per block, its options' time plus the hand-overs charged to it
    block_mj: list
    memory: list  # bytes per memory row
    error: float = 0.0  # summed estimated error of the chosen variants

    def value(self, problem: Problem) -> float:
        if problem.objective == "latency":
            return self.latency_ms
        if problem.objective == "memory":
            return max((m / row[2] for m, row in zip(self.memory, problem.memory_rows)), default=0.0)
        return self.energy_mj


def build(g: Graph, blocks: list, board: Board, objective="energy", deadline_ms=None, memory_mb=None,
          splits=SPLITS, variants=None, error_budget=None) -> Problem:
    """The problem for `g` cut into `blocks` on `board`; `variants` ({layer name: [Variant]}) with an
    `error_budget` let the planner compress those layers too."""
    if objective not in OBJECTIVES:
        raise PlanError(f"objective {objective!r}: choose {' or '.join(OBJECTIVES)}")
    if error_budget is not None and error_budget < 0:
        raise PlanError(f"error budget must be >= 0, got {error_budget:g}")
    procs = board.processors
    index = {b.output: i for i, b in enumerate(blocks)}
    options = []
    for b in blocks:
        opts = _options(g, b, board, splits)
        for v, var in enumerate((variants or {}).get(b.nodes[0].name, []) if error_budget is not None else []):
            view, vb = _variant_view(g, b, var)
            opts += [replace(o, variant=v, error=var.error) for o in _options(view, vb, board, splits)]
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
                   rows, error_budget)


def _options(g, b, board, splits) -> list:
    """The block on each processor with each backend, and split by output channels."""
    procs = board.processors
    full = B.works(g, b)
    held = B.weight_bytes(g, b) + B.tensor_bytes(g, b.output)
    opts = []
    for i, p in enumerate(procs):
        for backend in [be for be in p.backends if not B.lacking(b, be)]:
            ms = cost.run_ms(p, backend, full)
            opts.append(Option((Part(i, backend),), i, ms, cost.busy_mj(board, p, ms),
                               tuple(held if j == i else 0 for j in range(len(procs)))))
    if b.channels:
        opts += _split_options(g, b, board, splits)
    return opts


def _variant_view(g: Graph, b, var: Variant) -> tuple:
    """(g seen with the block's layer replaced by the variant's node, that block): shapes only, the
    planner prices the variant without computing its factors."""
    view = Graph(g.name, g.inputs, g.outputs, shapes=ChainMap(var.shapes, g.shapes),
                 constants=ChainMap(dict.fromkeys(var.shapes), g.constants))
    return view, replace(b, nodes=[var.node, *b.nodes[1:]])


def _split_options(g, b, board, splits) -> list:
    """Output channels split between the host CPU and each other processor, output gathered on either."""
    procs, K, out = board.processors, b.channels, []
    for j in range(1, len(procs)):
        able = {i: [be for be in procs[i].backends if not B.lacking(b, be)] for i in (0, j)}
        if not all(able.values()):
            continue
        for share in splits:
            k = round(K * (1 - share))
            if not 0 < k < K:
                continue
            sides = []
            for i, lo, hi in ((0, 0, k), (j, k, K)):
                w = B.works(g, b, lo, hi)
                backend = min(able[i], key=lambda be: cost.run_ms(procs[i], be, w))
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
    return Result(sum(block_ms), sum(block_mj), block_ms, block_mj, memory, sum(o.error for o in opts))


def feasible(problem: Problem, r: Result, tol=1e-9) -> bool:
    if problem.deadline_ms is not None and r.latency_ms > problem.deadline_ms * (1 + tol):
        return False
    if problem.error_budget is not None and r.error > problem.error_budget * (1 + tol):
        return False
    return problem.objective == "memory" or all(m <= row[2] * (1 + tol) for m, row in zip(r.memory,
                                                                                        problem.memory_rows))
