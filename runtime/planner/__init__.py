"""deepx.runtime.planner: place unit blocks on a board's processors (DeepX's DAD).

Two planners behind one interface, `solve(problem) -> choice | None` (one option index per block):
`ExhaustivePlanner` (the reference, <= 12 blocks) and `MilpPlanner` (scipy.optimize.milp). `solve`
runs one, and when no choice meets the limits says which limit fails and by how much.
"""
from dataclasses import replace

from .exhaustive import ExhaustivePlanner
from .milp import MilpPlanner
from .problem import MB, OBJECTIVES, Option, Part, PlanError, Problem, Result, Variant, build, evaluate

PLANNERS = {"milp": MilpPlanner, "exhaustive": ExhaustivePlanner}

__all__ = ["OBJECTIVES", "PLANNERS", "ExhaustivePlanner", "MilpPlanner", "Option", "Part", "PlanError", "Problem",
           "Result", "Variant", "baseline", "build", "evaluate", "solve"]


def solve(problem: Problem, planner=None) -> tuple:
    """(choice, Result) of the best plan; PlanError naming the limit that cannot be met otherwise."""
    planner = planner or MilpPlanner()
    choice = planner.solve(problem)
    if choice is None:
        raise PlanError(_why_infeasible(problem, planner))
    return choice, evaluate(problem, choice)


def _why_infeasible(problem: Problem, planner) -> str:
    if problem.memory_rows:
        choice = planner.solve(replace(problem, objective="memory", deadline_ms=None))
        r = evaluate(problem, choice)
        label, _, limit = max(zip(r.memory, problem.memory_rows), key=lambda mr: mr[0] / mr[1][2])[1]
        need = dict(zip([row[0] for row in problem.memory_rows], r.memory))[label]
        if need > limit * (1 + 1e-9):
            return (f"memory limit {limit / MB:.1f} MB on {label} is below the smallest footprint of "
                    f"{need / MB:.1f} MB (short by {(need - limit) / MB:.1f} MB)")
    choice = planner.solve(replace(problem, objective="latency", deadline_ms=None))
    fastest = evaluate(problem, choice).latency_ms
    return (f"deadline {problem.deadline_ms:g} ms is below the fastest possible latency of {fastest:.3f} ms "
            f"(short by {fastest - problem.deadline_ms:.3f} ms)")


def baseline(problem: Problem, processor: int) -> Result:
    """The whole model, uncompressed, on one processor (each block's best backend there for the objective); a
    block whose ops no backend of that processor has stays on the host CPU (processor 0)."""
    key = (lambda o: o.ms) if problem.objective == "latency" else (lambda o: o.mj)
    choice = []
    for opts in problem.options:
        alone = [(o.home, i) for i, o in enumerate(opts) if len(o.parts) == 1 and o.variant < 0]
        mine = [i for home, i in alone if home == processor] or [i for home, i in alone if home == 0]
        choice.append(min(mine, key=lambda i: key(opts[i])))
    return evaluate(problem, choice)


def stays_on_host(problem: Problem, processor: int) -> int:
    """How many blocks `baseline(problem, processor)` leaves on the host CPU: no backend there has their ops."""
    return sum(not any(len(o.parts) == 1 and o.home == processor for o in opts) for opts in problem.options)
