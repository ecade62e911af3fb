"""Run a plan on an emulated board: the executor computes the outputs for real on this machine (blocks
that the plan puts on a device run on the host's CPU kernels), and the board's clock advances by its cost
model as the plan's steps would take it there. Hand-overs follow where each tensor really is: a tensor
moves to a processor the first time a block there reads it, and graph outputs end on the host CPU.
"""
from .. import kernels
from ..boards import Board, cost
from ..boards.emulated import EmulatedBoard
from ..models.graph import Graph
from . import blocks as B
from .executor import Executor
from .plan import check_plan


def run_plan(g: Graph, plan: dict, feeds: dict, board: Board) -> tuple:
    """(outputs {name: array}, EmulatedBoard after one inference) for `plan` made for `g` on `board`."""
    host = kernels.host_backend()
    here = {b: host for b in kernels.BACKENDS if kernels.info(b).device or not kernels.backend_usable(b)[0]}
    ex = Executor(g, plan, board, remap=here)
    try:
        outputs = ex.run(feeds)
    finally:
        ex.close()
    return outputs, clock(g, plan, board, ex.blocks)


def clock(g: Graph, plan: dict, board: Board, blocks=None) -> EmulatedBoard:
    """The emulated board after one inference by `plan`: each block's parts busy for their modelled time
    (at once when the block is split), and each hand-over of a tensor between processors charged."""
    blocks = blocks or B.make_blocks(g)
    check_plan(plan, blocks, g, board)
    emu = EmulatedBoard(board)
    host = board.processors[0].id
    where = {name: {host} for name in g.inputs}
    for b, step in zip(blocks, plan["blocks"]):
        readers = {p["processor"] for p in step["parts"]}
        for t in b.inputs:
            for q in sorted(readers - where[t]):
                emu.hand_over(cost.transfer_ms(board, B.tensor_bytes(g, t)))
                where[t].add(q)
        busy = []
        for part in step["parts"]:
            lo, hi = part["channels"] or (None, None)
            work = B.works(g, b, lo, hi)
            busy.append((board.processor(part["processor"]), cost.run_ms(board.processor(part["processor"]),
                                                                          part["backend"], work),
                         sum(w.bytes for w in work)))
        if len(busy) == 1:
            emu.busy([(p, ms) for p, ms, _ in busy])
        else:
            emu.busy([(p, ms) for p, ms, _ in busy], cost.concurrent(board, busy)[0])
            K = g.shapes[b.output][1]
            away = sum(B.tensor_bytes(g, b.output) * (part["channels"][1] - part["channels"][0]) / K
                       for part in step["parts"] if part["processor"] != step["home"])
            emu.hand_over(cost.transfer_ms(board, away))
        where[b.output] = {step["home"]}
    for name in g.outputs:
        if host not in where[name]:
            emu.hand_over(cost.transfer_ms(board, B.tensor_bytes(g, name)))
    return emu


def board_power_source(name: str, model: str | None = None, plan_path: str | None = None):
    """The power of emulated board `name` as f(time.monotonic()) -> watts: idle, or one inference of a
    plan (made for `model`) on it, repeated back to back."""
    from ..boards import load
    from ..models.load import load_model
    from .plan import file_sha256, load_plan

    board = load(name)
    if not plan_path:
        return EmulatedBoard(board).power_source()
    return clock(load_model(model), load_plan(plan_path, file_sha256(model)), board).power_source()
