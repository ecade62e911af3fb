"""Run a plan on an emulated board: every block computes for real on the host's kernels (outputs are
exact; GPU blocks use the host CPU kernels until an OpenCL backend exists) while the board's virtual
clock advances by its cost model. Hand-overs follow where each tensor really is: a tensor moves to a
processor the first time a block there reads it, and graph outputs end on the host CPU.
"""
import numpy as np

from .. import kernels
from ..boards import Board, cost
from ..boards.emulated import EmulatedBoard
from ..models.execute import check_inputs, pick_backend
from ..models.graph import Graph
from . import blocks as B
from .planner import PlanError


def _host_backend(backend: str) -> str:
    return backend if backend in kernels.BACKENDS and kernels.backend_usable(backend)[0] else pick_backend("", "auto")


def run_plan(g: Graph, plan: dict, feeds: dict, board: Board) -> tuple:
    """(outputs {name: array}, EmulatedBoard after one inference) for `plan` made for `g` on `board`."""
    blocks = B.make_blocks(g)
    if [b.name for b in blocks] != [b["name"] for b in plan["blocks"]]:
        raise PlanError(f"the plan's blocks do not match model {g.name!r}: plan it again with deepx plan")
    if plan["board"] != board.name:
        raise PlanError(f"the plan was made for board {plan['board']!r}, not {board.name!r}")
    emu = EmulatedBoard(board)
    host = board.processors[0].id
    values = dict(g.constants)
    values.update(check_inputs(g, feeds))
    where = {name: {host} for name in g.inputs}
    for b, step in zip(blocks, plan["blocks"]):
        readers = {p["processor"] for p in step["parts"]}
        for t in b.inputs:
            for q in sorted(readers - where[t]):
                emu.hand_over(cost.transfer_ms(board, B.tensor_bytes(g, t)))
                where[t].add(q)
        outs, busy, K = [], [], g.shapes[b.output][1]
        for part in step["parts"]:
            lo, hi = part["channels"] or (None, None)
            p = board.processor(part["processor"])
            outs.append(B.run_block(g, b, values, _host_backend(part["backend"]), lo, hi))
            work = B.works(g, b, lo, hi)
            busy.append((p, cost.run_ms(p, part["backend"], work), sum(w.bytes for w in work)))
        if len(outs) == 1:
            values[b.output] = outs[0]
            emu.busy([(p, ms) for p, ms, _ in busy])
        else:
            values[b.output] = np.concatenate(outs, axis=1)
            emu.busy([(p, ms) for p, ms, _ in busy], cost.concurrent(board, busy)[0])
            away = sum(B.tensor_bytes(g, b.output) * (part["channels"][1] - part["channels"][0]) / K
                       for part in step["parts"] if part["processor"] != step["home"])
            emu.hand_over(cost.transfer_ms(board, away))
        where[b.output] = {step["home"]}
    for name in g.outputs:
        if host not in where[name]:
            emu.hand_over(cost.transfer_ms(board, B.tensor_bytes(g, name)))
    return {name: values[name] for name in g.outputs}, emu


def board_power_source(name: str, model: str | None = None, plan_path: str | None = None):
    """The power of emulated board `name` as f(time.monotonic()) -> watts: idle, or one inference of a
    plan (made for `model`) on it, repeated back to back."""
    from ..boards import load
    from ..models import io
    from .plan import file_sha256, load_plan

    board = load(name)
    if not plan_path:
        return EmulatedBoard(board).power_source()
    g = io.load_model(model)
    return run_plan(g, load_plan(plan_path, file_sha256(model)), io.random_inputs(g), board)[1].power_source()
