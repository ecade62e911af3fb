"""The plan file: which processor and backend runs each unit block of one model on one board.

JSON: the model's SHA-256, the board, the objective and limits, per block its nodes, processor(s),
backend(s), channel slices, predicted ms and mJ, the predicted totals and the single-processor baselines
(uncompressed). A plan made with RLC variants also gives, per block, the variant chosen (-1: none) and
its estimated error.
"""
import hashlib
import json
import time

from ..boards import Board
from ..models.graph import Graph
from . import blocks as B
from . import planner as PL

FORMAT = "deepx-plan/1"


def file_sha256(path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise PL.PlanError(f"{path}: cannot read: {e.strerror}") from None
    return h.hexdigest()


def make_plan(g: Graph, model_sha256: str, board: Board, objective="energy", deadline_ms=None, memory_mb=None,
              planner=None, variants=None, error_budget=None) -> dict:
    """Plan `g` on `board` (choosing among `variants` of its layers under `error_budget`, see
    planner.build); PlanError when the limits cannot be met."""
    t = time.perf_counter()
    blocks = B.make_blocks(g)
    problem = PL.build(g, blocks, board, objective, deadline_ms, memory_mb, variants=variants,
                       error_budget=error_budget)
    choice, r = PL.solve(problem, planner)
    solve_s = time.perf_counter() - t
    procs = problem.processors
    out = []
    for i, (b, c) in enumerate(zip(blocks, choice)):
        o = problem.options[i][c]
        out.append(dict(name=b.name, nodes=[n.name for n in b.nodes],
                        processor="+".join(procs[p.processor] for p in o.parts),
                        backend="+".join(p.backend for p in o.parts),
                        parts=[dict(processor=procs[p.processor], backend=p.backend,
                                    channels=None if p.lo is None else [p.lo, p.hi]) for p in o.parts],
                        home=procs[o.home], ms=r.block_ms[i], mj=r.block_mj[i]))
        if variants is not None:
            out[-1].update(variant=o.variant, error=o.error)
    baselines = {}
    for i, pid in enumerate(procs):
        base = PL.baseline(problem, i)
        baselines[pid] = dict(latency_ms=base.latency_ms, energy_mj=base.energy_mj,
                              blocks_on_host=PL.stays_on_host(problem, i))
    predicted = dict(latency_ms=r.latency_ms, energy_mj=r.energy_mj)
    if variants is not None:
        predicted["error"] = r.error
    return dict(format=FORMAT, model=dict(name=g.name, sha256=model_sha256), board=board.name, objective=objective,
                deadline_ms=deadline_ms, memory_mb=memory_mb, blocks=out, predicted=predicted, baselines=baselines,
                solve_s=solve_s)


def save_plan(plan: dict, path):
    try:
        with open(path, "w") as f:
            json.dump(plan, f, indent=1)
    except OSError as e:
        raise PL.PlanError(f"{path}: cannot write: {e.strerror}") from None


def load_plan(path, model_sha256: str | None = None) -> dict:
    """A plan file; PlanError if it is not one, or if it was made for another model than `model_sha256`."""
    try:
        with open(path) as f:
            plan = json.load(f)
    except OSError as e:
        raise PL.PlanError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise PL.PlanError(f"{path}: not a plan file (invalid JSON: {e})") from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise PL.PlanError(f"{path}: not a plan file (expected format {FORMAT!r})")
    made_for = plan["model"]["sha256"]
    if model_sha256 is not None and made_for != model_sha256:
        raise PL.PlanError(f"{path}: the plan was made for another model (sha256 {made_for[:12]}…, "
                           f"this model is {model_sha256[:12]}…): plan it again with deepx plan")
    return plan


def check_plan(plan: dict, blocks: list, g: Graph, board: Board | None = None):
    """PlanError unless `plan` places exactly `blocks` (those of model `g`) and was made for `board`."""
    if [b.name for b in blocks] != [b["name"] for b in plan["blocks"]]:
        raise PL.PlanError(f"the plan's blocks do not match model {g.name!r}: plan it again with deepx plan")
    if board is not None and plan["board"] != board.name:
        raise PL.PlanError(f"the plan was made for board {plan['board']!r}, not {board.name!r}")
