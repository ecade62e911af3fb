"""The MILP planner (scipy.optimize.milp, HiGHS): one binary per (block, option), a hand-over variable per
(tensor, processor), latency <= deadline, memory rows and the summed error of compressed variants
<= the error budget as linear constraints.

A hand-over variable z[t, q] >= (block b reads on q) - (t's producer has its home on q), for every
reader b of t; z costs the hand-over's time and energy, so at the optimum it is 1 exactly when t must
move to q (it is a sum of binaries, so it need not be declared integer).
"""
import numpy as np

from .problem import Problem


class _Rows:
    """Constraint rows lo <= sum(v * x[c]) <= hi, gathered as a sparse matrix."""

    def __init__(self):
        self.rows, self.cols, self.vals, self.lo, self.hi = [], [], [], [], []

    def add(self, entries, low, high):
        r = len(self.lo)
        for c, v in entries:
            self.rows.append(r), self.cols.append(c), self.vals.append(v)
        self.lo.append(low), self.hi.append(high)

    def constraint(self, n: int):
        from scipy.optimize import LinearConstraint
        from scipy.sparse import coo_array

        A = coo_array((self.vals, (self.rows, self.cols)), shape=(len(self.lo), n)).tocsr()
        return LinearConstraint(A, self.lo, self.hi)


def _hand_overs(problem: Problem, first, z_index: dict, rows: _Rows):
    """z[t, q] >= (a reader of t runs on q) - (t's producer has its home on q); the host reads graph outputs."""
    for ti, t in enumerate(problem.tensors):
        for q in range(len(problem.processors)):
            if t.producer >= 0:
                at_home = [(first[t.producer] + o, 1.0) for o, opt in enumerate(problem.options[t.producer])
                           if opt.home == q]
                offset = 0.0
            else:
                at_home, offset = [], float(q == 0)  # graph inputs start on the host
            readers = [[(first[b] + o, -1.0) for o, opt in enumerate(problem.options[b]) if q in opt.readers]
                       for b in t.consumers]
            if t.to_host and q == 0:
                readers.append(None)  # the host reads every graph output
            for r in readers:
                need = r if r is not None else []
                rows.add([(z_index[ti, q], 1.0), *at_home, *need], (0.0 if r is not None else 1.0) - offset, np.inf)


def _limits(problem: Problem, first, ms, n: int, rows: _Rows):
    """The deadline, the error budget and the memory rows (with the memory objective: memory <= x[-1])."""
    if problem.deadline_ms is not None:
        rows.add([(k, ms[k]) for k in range(n) if ms[k]], -np.inf, problem.deadline_ms)
    if problem.error_budget is not None:
        rows.add([(first[b] + o, opt.error) for b, opts in enumerate(problem.options) for o, opt in enumerate(opts)
                  if opt.error], -np.inf, problem.error_budget)
    for label, weights, limit in problem.memory_rows:
        entries = [(first[b] + o, sum(w * m for w, m in zip(weights, opt.memory)))
                   for b, opts in enumerate(problem.options) for o, opt in enumerate(opts)]
        if problem.objective == "memory":
            rows.add([*entries, (n - 1, -limit)], -np.inf, 0.0)
        else:
            rows.add(entries, -np.inf, limit)


class MilpPlanner:
    name = "milp"

    def __init__(self, time_limit_s: float = 60.0):
        self.time_limit_s = time_limit_s

    def solve(self, problem: Problem):
        """The best choice (one option index per block), or None when no choice meets the limits."""
        # imported here: scipy.optimize costs ~50 MB and ~0.5 s, which deepx-run (PlanError only) is spared
        from scipy.optimize import Bounds, milp

        P = len(problem.processors)
        first = np.cumsum([0] + [len(o) for o in problem.options])
        n_x = int(first[-1])
        z_index = {}
        for ti, t in enumerate(problem.tensors):
            for q in range(P):
                z_index[ti, q] = n_x + len(z_index)
        n = n_x + len(z_index) + (problem.objective == "memory")
        ms, mj = np.zeros(n), np.zeros(n)
        for b, opts in enumerate(problem.options):
            for o, opt in enumerate(opts):
                ms[first[b] + o], mj[first[b] + o] = opt.ms, opt.mj
        for (ti, q), k in z_index.items():
            ms[k], mj[k] = problem.tensors[ti].ms, problem.tensors[ti].mj

        rows = _Rows()
        for b, opts in enumerate(problem.options):
            rows.add([(first[b] + o, 1.0) for o in range(len(opts))], 1.0, 1.0)
        _hand_overs(problem, first, z_index, rows)
        _limits(problem, first, ms, n, rows)

        if problem.objective == "memory":
            c = np.zeros(n)
            c[-1] = 1.0
        else:
            c = ms if problem.objective == "latency" else mj
        integrality = np.zeros(n)
        integrality[:n_x] = 1
        upper = np.ones(n)
        if problem.objective == "memory":
            upper[-1] = np.inf
        res = milp(c, constraints=rows.constraint(n), integrality=integrality, bounds=Bounds(np.zeros(n), upper),
                   options={"time_limit": self.time_limit_s, "mip_rel_gap": 1e-9})
        if res.x is None:
            return None
        return [int(np.argmax(res.x[first[b]:first[b + 1]])) for b in range(len(problem.options))]
