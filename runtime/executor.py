"""The executor: runs a graph by a plan with a schedule and memory laid out once, ahead of the first run.

`Executor(g, plan, board)` turns the plan into steps (kernel calls, channel-slice joins, hand-overs between
memory spaces), plans one static arena per memory space (host numpy, OpenCL device) from the tensors'
lifetimes, and starts one thread per processor that has work. `run(feeds)` then only copies the inputs in,
makes the precomputed calls and copies the outputs out. Steps on different processors run at once: a step
waits only for the steps on other processors whose tensors it reads (Cython/Numba kernels release the GIL,
OpenCL queues are asynchronous). A tensor touched by two processors gets a buffer of its own, so buffer
reuse never races. (One module of ~440 lines on purpose: scheduling, memory layout and binding share the
step and tensor tables; the threads that run the steps are runtime/lanes.py.)
"""
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .. import kernels
from ..errors import KernelError
from ..kernels.common import IDENTITY
from ..models.execute import check_inputs
from ..models.graph import Graph
from . import arena as A
from . import blocks as B
from .contention import Adaptive
from .lanes import Lanes
from .plan import check_plan
from .planner import PlanError

HOST, DEVICE = "host", "device"


@dataclass
class Step:
    block: str
    proc: str
    space: str
    kind: str  # call | copy (between memories) | sync (shared memory: wait for the device) | slice | view
    backend: str = ""
    op: str = ""
    attrs: dict = field(default_factory=dict)
    args: list = field(default_factory=list)  # tensor ids, constant arrays, None, or a list (concat)
    out: int = -1
    deps: list = field(default_factory=list)  # steps on other processors that must finish first
    lo: int = 0
    hi: int = 0


@dataclass
class Tensor:
    name: str
    shape: tuple
    space: str
    alias: int = -1  # shares the storage of this tensor (a reshape, an in-place op)
    offset: int = 0  # floats into the aliased tensor's storage


def _space(backend: str) -> str:
    return DEVICE if kernels.info(backend).device else HOST


class Executor:
    """Runs `g` by `plan` (a plan dict from runtime.plan, or None: every block on the CPU with `backend`).
    `adapt`: a plan on the CPU alone drops to one thread while other processes hold the cores."""

    def __init__(self, g: Graph, plan: dict | None = None, board=None, backend: str = "auto", remap=None,
                 warn=None, adapt: bool = True):
        self.g = g
        self.blocks = B.make_blocks(g)
        self.warn = warn or (lambda msg: print(f"deepx: warning: {msg}", file=sys.stderr))
        steps = self._plan_steps(plan, board, backend, dict(remap or {}))
        devices = {p["backend"] for s in steps for p in s["parts"] if _space(p["backend"]) == DEVICE}
        if len(devices) > 1:
            raise PlanError(f"the plan uses {len(devices)} device backends ({', '.join(sorted(devices))}): one "
                            f"process drives one device")
        #: the device backend's package (its memory hooks), or None: every step computes in host memory
        self.device = kernels.backend(devices.pop()) if devices else None
        self.uses_device = self.device is not None
        #: CPU and GPU share memory (a Jetson; PoCL's CPU device): one arena, hand-overs are synchronisations
        self.shared = bool(board and board.shared_memory and self.uses_device and self.device.shares_host())
        self.tensors, self.steps, self.ids, self.users = [], [], {}, g.consumers()
        self._schedule(steps)
        self._lay_out()
        self._bind()
        self.threads = Lanes(self.calls, self._lanes(), self.procs) if len(self.procs) > 1 else None
        #: one lane on the CPU: its thread count adapts to other processes' load (runtime/contention.py)
        self.adaptive = None
        if self.threads is None and self.device is None and adapt:
            self.adaptive = Adaptive(kernels.Switch())

    # -- the plan, checked and mapped to what runs here -------------------------------------------------
    def _plan_steps(self, plan, board, backend, remap) -> list:
        host_backend = kernels.host_backend(backend)
        if plan is None:
            return self._kernels_present(self._single_processor(host_backend), kernels.host_backend(), "cpu")
        check_plan(plan, self.blocks, self.g, board)
        if backend != "auto":
            return self._kernels_present(self._single_processor(backend), kernels.host_backend(), "cpu")
        used = {remap.get(p["backend"], p["backend"]) for s in plan["blocks"] for p in s["parts"]}
        for name in sorted(used):
            ok, why = kernels.backend_usable(name) if name in kernels.BACKENDS else (False, "not a kernel backend")
            if ok and kernels.info(name).device:
                ok, why = self._select_device(name, plan, board)
            if ok:
                continue
            self.warn(f"the plan's backend {name!r} cannot run here ({why}); its blocks run on {host_backend} "
                      f"on the CPU instead")
            remap[name] = host_backend
        cpu = next((p.id for p in board.processors if p.kind == "cpu"), "cpu") if board else "cpu"
        out = []
        for s in plan["blocks"]:
            parts = [dict(p, backend=remap.get(p["backend"], p["backend"])) for p in s["parts"]]
            for p, orig in zip(parts, s["parts"]):
                if _space(p["backend"]) != _space(orig["backend"]):
                    p["processor"] = cpu  # a GPU part fallen back to a CPU backend runs on the CPU
            homes = [p["processor"] for p in parts]
            out.append(dict(name=s["name"], parts=parts, home=s["home"] if s["home"] in homes else homes[0]))
        return self._kernels_present(out, host_backend, cpu)

    def _kernels_present(self, steps: list, host_backend: str, cpu: str) -> list:
        """Plan blocks with every part on a backend that has kernels for all the block's ops: a part whose
        backend lacks one (a plan from an older deepx, a forced --backend) runs on host_backend, said once."""
        blocks = {b.name: b for b in self.blocks}
        moved = {}
        for s in steps:
            for p in s["parts"]:
                missing = B.lacking(blocks[s["name"]], p["backend"])
                if missing:
                    moved.setdefault(p["backend"], set()).update(missing)
                    p.update(backend=host_backend, processor=cpu)
            s["home"] = s["home"] if s["home"] in [p["processor"] for p in s["parts"]] else s["parts"][0]["processor"]
        for backend, ops in sorted(moved.items()):
            self.warn(f"the {backend} backend has no kernel for {', '.join(sorted(ops))}: those blocks run on "
                      f"{host_backend} on the CPU")
        return steps

    def _select_device(self, name: str, plan: dict, board) -> tuple:
        """Open the device that the board profile names for the processors running `name`'s blocks (a
        calibrated profile's `opencl_device`); (False, why) when it is not here."""
        procs = {p["processor"] for s in plan["blocks"] for p in s["parts"] if p["backend"] == name}
        specs = sorted({board.processor(pid).opencl_device for pid in procs} - {""}) if board else []
        if len(specs) > 1:
            raise PlanError(f"the plan runs {name} on {len(specs)} devices ({', '.join(specs)}): one process "
                            f"drives one device")
        try:
            note = kernels.backend(name).select_device(specs[0] if specs else "")
        except KernelError as e:
            return False, str(e)
        if note:
            self.warn(note)
        return True, ""

    def _single_processor(self, backend: str, processor: str = "cpu") -> list:
        """Plan blocks (dicts as in a plan file) putting every block on one processor with one backend."""
        return [dict(name=b.name, home=processor, parts=[dict(processor=processor, backend=backend, channels=None)])
                for b in self.blocks]

    # -- steps ------------------------------------------------------------------------------------------
    def _tensor(self, name, shape, space, alias=-1, offset=0) -> int:
        self.tensors.append(Tensor(name, tuple(shape), space, alias, offset))
        return len(self.tensors) - 1

    def _where(self, name: str, space: str, proc: str, block: str) -> int:
        """The id of tensor `name` in `space`, handing it over from the other space when needed."""
        key = (name, space)
        if key not in self.ids:
            other = self.ids[(name, HOST if space == DEVICE else DEVICE)]
            dev_proc = proc if space == DEVICE else self._proc_of(other)
            if not self.shared:
                tid = self._tensor(name, self.tensors[other].shape, space)
                self._add(Step(block, dev_proc, DEVICE, "copy", args=[other], out=tid))
            else:  # the same memory seen from the other side; the host waits for the device's kernels
                tid = self._tensor(name, self.tensors[other].shape, space, alias=other)
                if space == HOST:
                    self._add(Step(block, dev_proc, DEVICE, "sync", args=[other], out=tid))
            self.ids[key] = tid
        return self.ids[key]

    def producer_of(self, t) -> int:
        """The step that writes tensor `t` (for a view: the step that writes what it views)."""
        while t not in self.producer:
            t = self.tensors[t].alias
        return self.producer[t]

    def _proc_of(self, t) -> str:
        return self.steps[self.producer_of(t)].proc

    def _add(self, step: Step):
        self.steps.append(step)
        self.producer[step.out] = len(self.steps) - 1

    def _schedule(self, plan_steps):
        g = self.g
        self.producer = {}
        for name in g.inputs:
            self.ids[(name, HOST)] = self._tensor(name, g.shapes[name], HOST)
        for b, step in zip(self.blocks, plan_steps):
            parts = step["parts"]
            if len(parts) == 1:
                self._block_nodes(b, parts[0], None)
                continue
            outs = [self._block_nodes(b, p, tuple(p["channels"])) for p in parts]
            home = step["home"]
            hp = next(p for p in parts if p["processor"] == home)
            space = _space(hp["backend"])
            xs = [self._where(self.tensors[o].name, space, home, b.name) for o in outs]
            tid = self._tensor(b.output, g.shapes[b.output], space)
            self._add(Step(b.name, home, space, "call", hp["backend"], "concat", dict(axis=1), [xs], tid))
            self.ids[(b.output, space)] = tid

    def _block_nodes(self, b: B.Block, part: dict, channels) -> int:
        """Steps for block `b` (or its output channels [lo, hi)) on one processor; the id of its output."""
        g, proc, backend = self.g, part["processor"], part["backend"]
        space = _space(backend)
        lo, hi = channels or (None, None)
        K = g.shapes[b.output][1] if channels else None  # a split block's output is (N, K, ...)
        local = {}
        for node in b.nodes:
            args = []
            for i, t in enumerate(node.inputs):
                axis = B.slice_axis(g, b, node, i, local) if channels else None
                if not t:
                    args.append(None)
                elif t in local:
                    args.append(local[t])
                elif t in g.constants:
                    c = g.constants[t]
                    args.append(c if axis is None else np.ascontiguousarray(np.take(c, range(lo, hi), axis)))
                elif axis == 1:
                    args.append(self._channel_slice(t, lo, hi, space, proc, b.name))
                else:
                    args.append(self._where(t, space, proc, b.name))
            shape = g.shapes[node.outputs[0]]
            if channels and len(shape) >= 2 and shape[1] == K:
                shape = (shape[0], hi - lo) + tuple(shape[2:])
            name = node.outputs[0] if not channels else f"{node.outputs[0]}[{lo}:{hi}]"
            run = _run_of(self.tensors[args[0]].shape, node.attrs) if (
                node.op == "slice" and not channels and isinstance(args[0], int) and space == HOST) else None
            if node.op == "reshape":
                tid = self._tensor(name, node.attrs["shape"], space, alias=args[0])
            elif run is not None:  # a slice that is one contiguous run of its input (a Split over channels): a view
                tid = self._tensor(name, shape, space, alias=args[0], offset=run)
            elif (fused := self._residual_into(node, args, local)) is not None:
                tid = fused
            else:
                tid = self._tensor(name, shape, space)
                if node.op != "concat":  # absent trailing optional tensors (a graph built in code may omit them)
                    args += [None] * (len(kernels.OPS[node.op].tensors) - len(args))
                self._add(Step(b.name, proc, space, "call", backend, node.op, node.attrs,
                               [args] if node.op == "concat" else args, tid))
            local[node.outputs[0]] = tid
            self.ids[(name, space)] = tid
        return local[b.output]

    def _residual_into(self, node, args, local) -> int | None:
        """An add of a tensor this block part just made (by an op taking a residual, conv2d, with no activation and
        no other reader) and a tensor of the same shape folds into the step that made it: the kernel adds the
        residual before the add's activation, in one pass over the output instead of the add's three (ONNX Runtime
        fuses Conv + Add so). That step moves after the ones made for the residual (a channel slice, a copy). Its
        output id, else None."""
        if node.op != "add" or len(args) != 2:
            return None
        made = {t for t in local.values() if t in self.producer}
        for i, t in enumerate(args):
            z = args[1 - i]
            if not (isinstance(t, int) and isinstance(z, int) and t in made and z != t):
                continue
            k = self.producer[t]
            s = self.steps[k]
            if s.kind != "call" or not kernels.OPS[s.op].residual or s.args[-1] is not None \
                    or s.attrs["act"] != IDENTITY or self.tensors[z].shape != self.tensors[t].shape \
                    or len(self.users[node.inputs[i]]) != 1 \
                    or node.inputs[i] in self.g.outputs or any(t in _ids(a.args) for a in self.steps[k + 1:]):
                continue
            s.args = [*s.args[:-1], z]
            s.attrs = dict(s.attrs, act=node.attrs.get("act", IDENTITY))
            del self.steps[k]
            for j in range(k, len(self.steps)):
                self.producer[self.steps[j].out] = j
            self._add(s)
            return t
        return None

    def _channel_slice(self, name, lo, hi, space, proc, block) -> int:
        """Channels [lo, hi) of tensor `name` (N, K, …) as a tensor of its own in `space`."""
        key = (f"{name}[{lo}:{hi}]", space)
        if key not in self.ids:
            src = self._where(name, HOST, proc, block)
            shape = self.tensors[src].shape
            sub = (shape[0], hi - lo) + shape[2:]
            if shape[0] == 1:  # one sample: the channel slice is a contiguous run of the tensor
                tid = self._tensor(key[0], sub, HOST, alias=src, offset=lo * int(np.prod(shape[2:])))
            else:
                tid = self._tensor(key[0], sub, HOST)
                self._add(Step(block, proc, HOST, "slice", args=[src], out=tid, lo=lo, hi=hi))
            self.ids[(key[0], HOST)] = tid
            self.ids[key] = self._where(key[0], space, proc, block)
        return self.ids[key]

    # -- memory -----------------------------------------------------------------------------------------
    def _lay_out(self):
        """Lifetimes, in-place reuse, cross-processor exclusivity, then one arena per space."""
        steps, tensors, n = self.steps, self.tensors, len(self.steps)
        #: bytes of every tensor the model makes (views excluded), each in a buffer of its own
        self.tensor_bytes = 4 * sum(_numel(t.shape) for i, t in enumerate(tensors)
                                    if t.alias < 0 and t.name not in self.g.inputs)
        self._concat_in_place()
        first, last, procs = {}, {}, {}
        for i, s in enumerate(steps):
            for t in _ids(s.args) + [s.out]:
                r = self.root(t)
                first[r] = min(first.get(r, i), i)
                last[r] = max(last.get(r, i), i)
                procs.setdefault(r, set()).add(s.proc)
        pinned = {self.root(self.ids[(name, HOST)]) for name in self.g.inputs}
        pinned |= {self.root(self.ids[(name, HOST)] if (name, HOST) in self.ids else self.ids[(name, DEVICE)])
                   for name in self.g.outputs if name not in self.g.constants}
        pinned |= {r for r, ps in procs.items() if len(ps) > 1}
        for i, s in enumerate(steps):  # in place: the output takes the buffer of an input that dies here
            if s.kind != "call" or s.out in pinned or tensors[s.out].alias >= 0:
                continue
            if kernels.OPS[s.op].in_place:
                candidates = _ids(s.args)
            elif self._over_residual(s):  # its residual, when no other input shares that buffer
                candidates = [a for a in _ids(s.args[-1:]) if self.root(a) not in map(self.root, _ids(s.args[:-1]))]
            else:
                continue
            for a in candidates:
                r = self.root(a)
                if (last[r] == i and r not in pinned and tensors[a].shape == tensors[s.out].shape
                        and tensors[a].space == tensors[s.out].space and self._offset(a) == 0
                        and _numel(tensors[r].shape) == _numel(tensors[a].shape)):
                    tensors[s.out].alias = a
                    last[r] = max(last[r], last.pop(s.out, i))
                    break
        extent = {}
        for t, ten in enumerate(tensors):
            r = self.root(t)
            extent[r] = max(extent.get(r, 0), self._offset(t) + _numel(ten.shape))
        self.procs = list(dict.fromkeys(s.proc for s in steps)) or ["cpu"]
        # tensors of one processor share buffers in its own region (its steps run in order); tensors that two
        # processors touch, and the inputs and outputs, each keep a buffer of their own
        regions = {}
        for r, size in extent.items():
            owner = "" if r in pinned else next(iter(procs.get(r, {""})))
            lo, hi = (0, n) if r in pinned else (first.get(r, 0), last.get(r, 0))
            regions.setdefault((self._memory(tensors[r].space), owner), []).append(A.Item(r, size, lo, hi))
        self.layout = {space: A.Layout({}, 0) for space in (HOST, DEVICE)}
        for (space, _), items in sorted(regions.items()):
            lay, whole = A.plan(items), self.layout[space]
            whole.offsets.update({r: whole.size + off for r, off in lay.offsets.items()})
            whole.size += lay.size
        self.arena_bytes = 4 * sum(lay.size for lay in self.layout.values())

    def _over_residual(self, s: Step) -> bool:
        """Whether step s's kernel may write its output over its residual (a tensor it adds; kernels.over_residual)."""
        if not (kernels.OPS[s.op].residual and isinstance(s.args[-1], int)):
            return False
        shapes = [self.tensors[a].shape if isinstance(a, int) else None if a is None else a.shape for a in s.args]
        return kernels.over_residual(s.op, s.backend, shapes, s.attrs)

    def _concat_in_place(self):
        """Let the inputs of a concat be written straight into their slices of its output, where each slice
        is a contiguous run (one sample, or concat over the first axis) and nothing else constrains the input;
        the concat step then has nothing left to do."""
        touch = {}
        for s in self.steps:
            for t in _ids(s.args) + [s.out]:
                touch.setdefault(t, set()).add(s.proc)
        outputs = {self.ids[k] for k in self.ids if k[0] in self.g.outputs}
        for s in self.steps:
            if s.kind != "call" or s.op != "concat":
                continue
            xs, out = self._whole_runs(s.args[0]), self.tensors[s.out]
            if _numel(out.shape[:s.attrs["axis"]]) != 1 or len(set(xs)) != len(xs) or any(
                    not isinstance(x, int) or self.tensors[x].alias >= 0 or x not in self.producer
                    or x in outputs or touch[x] != {s.proc} or self.tensors[x].space != s.space for x in xs):
                continue
            offset = 0
            for x in xs:
                self.tensors[x].alias, self.tensors[x].offset = s.out, offset
                offset += _numel(self.tensors[x].shape)
            s.kind = "view"

    def _whole_runs(self, xs) -> list:
        """xs with each run of views that tiles the tensor they view, in order (a Split's outputs, a reshape), replaced
        by that tensor: a C2f block's concat of its split halves and one more tensor can then be a view too."""
        out, i = [], 0
        while i < len(xs):
            src, j, at = self.tensors[xs[i]].alias if isinstance(xs[i], int) else -1, i, 0
            while (src >= 0 and j < len(xs) and isinstance(xs[j], int) and self.tensors[xs[j]].alias == src
                   and self.tensors[xs[j]].offset == at):
                at += _numel(self.tensors[xs[j]].shape)
                j += 1
            if src >= 0 and at == _numel(self.tensors[src].shape):
                out.append(src)
                i = j
            else:
                out.append(xs[i])
                i += 1
        return out

    def _memory(self, space: str) -> str:
        """The arena a space's tensors live in: their own, or the host's when the device shares it."""
        return HOST if self.shared else space

    def root(self, t) -> int:
        while self.tensors[t].alias >= 0:
            t = self.tensors[t].alias
        return t

    def _bind(self):
        """Arena views for every tensor and one precomputed call per step."""
        host = A.host_arena(self.layout[HOST].size)
        if self.shared:
            device = self.device.shared_arena(host)
        else:
            device = self.device.arena(self.layout[DEVICE].size) if self.layout[DEVICE].size else None
        self.views = []
        for t, ten in enumerate(self.tensors):
            off = self.layout[self._memory(ten.space)].offsets[self.root(t)] + self._offset(t)
            self.views.append(A.view(host, off, ten.shape) if ten.space == HOST else
                              self.device.view(device, off, ten.shape))
        self.calls = [self._call(s) for s in self.steps]
        self._chain()
        self.sequence = [c for c, s in zip(self.calls, self.steps) if s.kind != "view"]
        self.inputs = [(name, self.views[self.ids[(name, HOST)]]) for name in self.g.inputs]
        self.input_roots = {self.ids[(name, HOST)] for name in self.g.inputs}
        #: per input, the calls pointed at the caller's array at each run instead of a copy into the arena (None:
        #: copied), where every step that reads the input is a call that can be (kernels.bind)
        self.direct = {name: self._direct_readers(name) for name in self.g.inputs}
        self.outputs = []
        for name in self.g.outputs:
            if name in self.g.constants:
                self.outputs.append((name, self.g.constants[name]))
            else:
                self.outputs.append((name, self.views[self.ids.get((name, HOST), self.ids.get((name, DEVICE)))]))

    def _chain(self):
        """Three (else two) conv2d steps in a row on one backend, each reading the one before's output, which
        nothing else reads, become one call where the backend binds such a chain (kernels.bind_chain); the other
        steps' calls then do nothing (a profile shows the chain's time on its first block)."""
        readers = Counter(r for s in self.steps for r in _ids(s.args))
        kept = {self.root(t) for t, ten in enumerate(self.tensors) if ten.alias >= 0}
        kept |= {self.ids[k] for k in self.ids if k[0] in self.g.outputs}
        i = 0
        while i < len(self.steps):
            for n in (3, 2):
                run = self.steps[i:i + n]
                inner = [s.out for s in run[:-1]]
                if not (len(run) == n and all(s.kind == "call" and s.op == "conv2d" and s.backend == run[0].backend
                                              and not self.calls[i + j][1] for j, s in enumerate(run))
                        and all(s.args[0] == t for s, t in zip(run[1:], inner))
                        and all(readers[t] == 1 for t in inner) and not set(inner) & kept):
                    continue
                chain = kernels.bind_chain(run[0].backend, [self.calls[i + j][0] for j in range(n)])
                if chain:
                    self.calls[i:i + n] = [(chain, (), {})] + [(_nothing, (), {})] * (n - 1)
                    i += n - 1
                    break
            i += 1

    def _direct_readers(self, name: str) -> list | None:
        """The calls that read input `name` as their first argument, when they can read it from another array
        (`read_from`) and nothing else reads its buffer (a view, a copy to the device, a graph output); else None.
        The caller's array then costs no copy (0.05 ms of MobileNetV2's 3.5 at 2 threads: cold memory both sides)."""
        t = self.ids[(name, HOST)]
        if len(self.procs) > 1 or name in self.g.outputs or any(
                ten.alias >= 0 and self.root(i) == t for i, ten in enumerate(self.tensors)):
            return None
        readers = [i for i, s in enumerate(self.steps) if t in _ids(s.args)]
        calls = [self.calls[i][0] for i in readers]
        if not readers or any(self.steps[i].args[0] != t or t in _ids(self.steps[i].args[1:])
                              or not hasattr(c, "read_from") for i, c in zip(readers, calls)):
            return None
        return calls

    def _offset(self, t) -> int:
        ten = self.tensors[t]
        return ten.offset + (self._offset(ten.alias) if ten.alias >= 0 else 0)

    def _call(self, s: Step):
        view = lambda a: self.views[a] if isinstance(a, int) else a  # noqa: E731
        if s.kind == "view":
            return _nothing, (), {}
        if s.kind == "sync":
            return self.device.finish, (), {}
        out = self.views[s.out]
        if s.kind == "copy":
            src = self.views[s.args[0]]
            copy = self.device.copy_in if self.tensors[s.out].space == DEVICE else self.device.copy_out
            return copy, (src, out), {}
        if s.kind == "slice":
            return np.copyto, (out, self.views[s.args[0]][:, s.lo:s.hi]), {}
        if s.op == "concat":
            return kernels.lookup(s.op, s.backend), ([view(a) for a in s.args[0]],), dict(s.attrs, out=out)
        args = tuple(view(a) for a in s.args)
        weights = kernels.weights(s.op, s.args[1:])
        constant = weights and not any(isinstance(a, int) for a in weights)
        bound = kernels.bind(s.op, s.backend, args, dict(s.attrs, out=out), constant)  # views stay put: read once
        if bound:
            return bound, (), {}
        fn = kernels.prepare(s.op, s.backend, args[1:]) if constant else kernels.lookup(s.op, s.backend)
        return fn, args, dict(s.attrs, out=out)

    def _lanes(self) -> list:
        """Per processor, its steps in order, each with the steps on other processors it waits for."""
        index = {p: i for i, p in enumerate(self.procs)}
        lanes = [[] for _ in self.procs]
        for i, s in enumerate(self.steps):
            made = [self.producer_of(r) for r in _ids(s.args) if self.root(r) not in self.input_roots]
            lanes[index[s.proc]].append((i, sorted({d for d in made if self.steps[d].proc != s.proc})))
        return lanes

    # -- running ----------------------------------------------------------------------------------------
    def _load(self, feeds: dict):
        """Check the inputs (names, shapes, dtype) and copy them into the arena, or point the calls that read one
        at the caller's array (`direct`)."""
        feeds = check_inputs(self.g, feeds)
        for name, view in self.inputs:
            if self.direct[name]:
                for k in self.direct[name]:
                    k.read_from(feeds[name])
            else:
                np.copyto(view, feeds[name])

    def run(self, feeds: dict) -> dict:
        """{output name: array} for one inference on `feeds`."""
        self._load(feeds)
        if self.threads:
            self.threads.run()
        elif self.adaptive:
            self.adaptive.begin()
            t = time.perf_counter()
            for fn, args, kw in self.sequence:
                fn(*args, **kw)
            self.adaptive.end(time.perf_counter() - t)
        else:
            for fn, args, kw in self.sequence:
                fn(*args, **kw)
        if self.uses_device:
            self.device.finish()
        return {name: v.copy() if isinstance(v, np.ndarray) else self.device.host_copy(v) for name, v in self.outputs}

    def warm_up(self, feeds: dict, most: int = 8):
        """Run until the adaptive thread count has made its start-up try of one thread (at most `most` runs), so
        that timed runs after it measure the count in force, as a long-running process does."""
        for _ in range(most):
            if not (self.adaptive and self.adaptive.probing):
                return
            self.run(feeds)

    def close(self):
        """Stop the worker threads (the executor cannot run after this)."""
        if self.threads:
            self.threads.close()
            self.threads = None

    def profile(self, feeds: dict, repeat: int = 1) -> list:
        """Per block: processor, backend and median ms over `repeat` runs, steps timed one after another."""
        self._load(feeds)
        times = np.zeros((repeat, len(self.steps)))
        for k in range(repeat):
            for i, (fn, args, kw) in enumerate(self.calls):
                t = time.perf_counter()
                fn(*args, **kw)
                if self.steps[i].space == DEVICE:
                    self.device.finish()
                times[k, i] = time.perf_counter() - t
        med = np.median(times, axis=0) * 1e3
        rows = {b.name: dict(block=b.name, ops="+".join(n.op for n in b.nodes), processor=set(), backend=set(),
                             ms=0.0) for b in self.blocks}
        for s, ms in zip(self.steps, med):
            r = rows[s.block]
            r["processor"].add(s.proc)
            if s.backend:
                r["backend"].add(s.backend)
            r["ms"] += float(ms)
        total = sum(r["ms"] for r in rows.values()) or 1.0
        return [dict(r, processor="+".join(sorted(r["processor"])), backend="+".join(sorted(r["backend"])),
                     share=r["ms"] / total) for r in rows.values() if r["processor"]]


def _ids(args) -> list:
    out = []
    for a in args:
        if isinstance(a, list):
            out += _ids(a)
        elif isinstance(a, int):
            out.append(a)
    return out


def _nothing():
    pass


def _run_of(shape, attrs) -> int | None:
    """The offset of slice `attrs` (starts, ends, steps over every axis) in a C-contiguous tensor of `shape` when
    the slice is one contiguous run of it (axes before the first partial one of length 1, those after it whole),
    else None."""
    offset, stride, partial = 0, 1, False
    for n, s, e, k in reversed(list(zip(shape, attrs["starts"], attrs["ends"], attrs["steps"]))):
        r = range(n)[s:e:k]
        if not r or len(r) > 1 and (partial or r.step != 1):
            return None
        offset += r[0] * stride
        partial = partial or len(r) != n
        stride *= n
    return offset


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))
