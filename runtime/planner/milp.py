"""The MILP planner (scipy.optimize.milp, HiGHS): one binary per (block, option), a hand-over variable per
(tensor, processor), latency <= deadline, memory rows and the summed error of compressed variants
<= the error budget as linear constraints.

A hand-over variable z[t, q] >= (block b reads on q) - (t's producer has its home on q), for every
reader b of t; z costs the hand-over's time and energy, so at the optimum it is 1 exactly when t must
move to q (it is a sum of binaries, so it need not be declared integer).
"""
import numpy as np

from .problem import Problem


class MilpPlanner:
    name = "milp"

    def __init__(self, time_limit_s: float = 60.0):
        self.time_limit_s = time_limit_s

    def solve(self, problem: Problem):
        """The best choice (one option index per block), or None when no choice meets the limits."""
        # imported here: scipy.optimize costs ~50 MB and ~0.5 s, which deepx-run (PlanError only) is spared
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_array

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

        rows, cols, vals, lo, hi = [], [], [], [], []

        def row(entries, low, high):
            r = len(lo)
            for c, v in entries:
                rows.append(r), cols.append(c), vals.append(v)
            lo.append(low), hi.append(high)

        for b, opts in enumerate(problem.options):
            row([(first[b] + o, 1.0) for o in range(len(opts))], 1.0, 1.0)
        for ti, t in enumerate(problem.tensors):
            for q in range(P):
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
                    row([(z_index[ti, q], 1.0), *at_home, *need], (0.0 if r is not None else 1.0) - offset, np.inf)
        if problem.deadline_ms is not None:
            row([(k, ms[k]) for k in range(n) if ms[k]], -np.inf, problem.deadline_ms)
        if problem.error_budget is not None:
            row([(first[b] + o, opt.error) for b, opts in enumerate(problem.options) for o, opt in enumerate(opts)
                 if opt.error], -np.inf, problem.error_budget)
        for label, weights, limit in problem.memory_rows:
            entries = [(first[b] + o, sum(w * m for w, m in zip(weights, opt.memory)))
                       for b, opts in enumerate(problem.options) for o, opt in enumerate(opts)]
            if problem.objective == "memory":
                row([*entries, (n - 1, -limit)], -np.inf, 0.0)
            else:
                row(entries, -np.inf, limit)

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
        A = coo_array((vals, (rows, cols)), shape=(len(lo), n)).tocsr()
        res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality,
                   bounds=Bounds(np.zeros(n), upper),
                   options={"time_limit": self.time_limit_s, "mip_rel_gap": 1e-9})
        if res.x is None:
            return None
        return [int(np.argmax(res.x[first[b]:first[b + 1]])) for b in range(len(problem.options))]
