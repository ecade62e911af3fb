"""The reference planner: every combination of options, evaluated with NumPy in chunks (<= 12 blocks)."""
import numpy as np

from .problem import PlanError, Problem

MAX_BLOCKS = 12
MAX_COMBINATIONS = 20_000_000
CHUNK = 1 << 16


class ExhaustivePlanner:
    name = "exhaustive"

    def solve(self, problem: Problem):
        """The best choice (one option index per block), or None when no choice meets the limits."""
        counts = [len(o) for o in problem.options]
        total = int(np.prod(counts, dtype=np.float64))
        if len(counts) > MAX_BLOCKS or total > MAX_COMBINATIONS:
            raise PlanError(f"exhaustive planner: {len(counts)} blocks, {total} combinations (at most "
                            f"{MAX_BLOCKS} blocks and {MAX_COMBINATIONS} combinations); use the milp planner")
        P = len(problem.processors)
        ms = [np.array([o.ms for o in opts]) for opts in problem.options]
        mj = [np.array([o.mj for o in opts]) for opts in problem.options]
        home = [np.array([o.home for o in opts]) for opts in problem.options]
        reads = [np.array([[q in o.readers for q in range(P)] for o in opts]) for opts in problem.options]
        mem = [np.array([o.memory for o in opts]) for opts in problem.options]
        err = [np.array([o.error for o in opts]) for opts in problem.options]
        best, best_value = None, np.inf
        for start in range(0, total, CHUNK):
            C = np.stack(np.unravel_index(np.arange(start, min(start + CHUNK, total)), counts), axis=1)
            lat = sum(ms[b][C[:, b]] for b in range(len(counts)))
            en = sum(mj[b][C[:, b]] for b in range(len(counts)))
            for t in problem.tensors:
                h = home[t.producer][C[:, t.producer]] if t.producer >= 0 else np.zeros(len(C), int)
                for q in range(P):
                    need = np.full(len(C), t.to_host and q == 0)
                    for b in t.consumers:
                        need |= reads[b][C[:, b], q]
                    moved = need & (h != q)
                    lat = lat + moved * t.ms
                    en = en + moved * t.mj
            held = sum(mem[b][C[:, b]] for b in range(len(counts)))  # (n, P)
            usage = [held @ np.array(row[1]) for row in problem.memory_rows]
            ok = np.ones(len(C), bool)
            if problem.deadline_ms is not None:
                ok &= lat <= problem.deadline_ms * (1 + 1e-9)
            if problem.error_budget is not None:
                ok &= sum(err[b][C[:, b]] for b in range(len(counts))) <= problem.error_budget * (1 + 1e-9)
            if problem.objective == "memory":
                value = np.max([u / row[2] for u, row in zip(usage, problem.memory_rows)], axis=0)
            else:
                for u, row in zip(usage, problem.memory_rows):
                    ok &= u <= row[2] * (1 + 1e-9)
                value = lat if problem.objective == "latency" else en
            value = np.where(ok, value, np.inf)
            i = int(np.argmin(value))
            if value[i] < best_value:
                best, best_value = [int(c) for c in C[i]], value[i]
        return best
