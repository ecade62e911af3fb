"""Which (op, backend) pairs exist, whether each is usable here, and the one place inputs are checked.

Every backend module `deepx.kernels.<backend>.<family>` defines the op functions of that family with
the reference's signature: tensors first, then the canonical attributes that `check` returns, then
`out=None` (a float32 buffer of the output shape to write into). `run` checks once and calls.
"""
import importlib
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import KernelError
from .common import CLIP, NAMED_ACTS, Act, conv_out_size



@dataclass(frozen=True)
class Backend:
    """A kernel backend: the package `deepx.kernels.<name>`, its op families in modules `<prefix><family>`.
    `device`: its kernels take tensors in a device's memory, and the package has the memory hooks the
    executor uses (see kernels/opencl/__init__.py); `jit`: it compiles at run time, so a board's runtime,
    which has no compiler, runs its blocks on another backend; `reference`: the definition of the ops,
    never optimised, so never measured or planned for speed."""

    name: str
    device: bool = False
    jit: bool = False
    reference: bool = False
    prefix: str = ""


#: every kernel backend, one line each, in the order `auto` takes them on a CPU
_BACKENDS = (Backend("cython", prefix="_"), Backend("numba", jit=True), Backend("ref", reference=True),
             Backend("opencl", device=True))
INFO = {b.name: b for b in _BACKENDS}
BACKENDS = tuple(INFO)


@dataclass(frozen=True)
class OpSpec:
    name: str
    family: str  # the file name shared by all backends
    tensors: tuple  # names of the tensor arguments; a trailing "?" marks an optional one (None)
    check: Callable  # (op, tensors, attrs) -> (canonical attrs, output shape)


def _shapes(tensors):
    return ", ".join("None" if t is None else "x".join(map(str, t.shape)) or "scalar" for t in tensors)


def _fail(op, tensors, why):
    raise KernelError(f"{op}: {why} (inputs {_shapes(tensors)})")


def _pair(op, tensors, name, value, default):
    value = default if value is None else value
    value = (value, value) if np.isscalar(value) else tuple(value)
    if len(value) != 2 or not all(isinstance(v, (int, np.integer)) for v in value):
        _fail(op, tensors, f"{name} must be an int or a pair of ints, got {value}")
    return tuple(int(v) for v in value)


def _pads(op, tensors, pads):
    pads = 0 if pads is None else pads
    if np.isscalar(pads):
        pads = (pads,) * 4
    pads = tuple(int(p) for p in pads)
    if len(pads) == 2:
        pads = pads * 2
    if len(pads) != 4:
        _fail(op, tensors, f"pads must be 1, 2 or 4 ints (top, left, bottom, right), got {pads}")
    if min(pads) < 0:
        _fail(op, tensors, f"negative padding {pads}")
    return pads


def parse_act(op, tensors, act):
    """'none'|'relu'|'relu6'|'sigmoid'|'tanh'|('clip', lo, hi)|Act -> Act."""
    if isinstance(act, Act):
        return act
    if act is None or isinstance(act, str):
        if (act or "none") not in NAMED_ACTS:
            _fail(op, tensors, f"unknown activation {act!r} (one of {', '.join(NAMED_ACTS)}, clip)")
        return NAMED_ACTS[act or "none"]
    if len(act) == 3 and act[0] == "clip" and float(act[1]) <= float(act[2]):
        return Act(CLIP, float(act[1]), float(act[2]))
    _fail(op, tensors, f"unknown activation {act!r}")


def _rank(op, tensors, name, t, ndim):
    if t.ndim != ndim:
        _fail(op, tensors, f"{name} must have rank {ndim}, got shape {t.shape}")


def _bias(op, tensors, b, k):
    if b is not None and b.shape != (k,):
        _fail(op, tensors, f"bias must have shape ({k},), got {b.shape}")


def _window(op, tensors, hw, kernel, stride, pads, dilation, ceil_mode=False):
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        _fail(op, tensors, f"kernel {kernel}, stride {stride} and dilation {dilation} must be >= 1")
    out = []
    for i in range(2):
        span = (kernel[i] - 1) * dilation[i] + 1
        if hw[i] + pads[i] + pads[i + 2] < span:
            _fail(op, tensors, f"window {span} is larger than the padded input {hw[i] + pads[i] + pads[i + 2]}")
        out.append(conv_out_size(hw[i], kernel[i], stride[i], pads[i], pads[i + 2], dilation[i], ceil_mode))
    return tuple(out)


def _conv_attrs(op, tensors, kernel, a):
    stride = _pair(op, tensors, "stride", a.get("stride"), 1)
    pads = _pads(op, tensors, a.get("pads"))
    dilation = _pair(op, tensors, "dilation", a.get("dilation"), 1)
    pq = _window(op, tensors, tensors[0].shape[2:], kernel, stride, pads, dilation)
    return dict(stride=stride, pads=pads, dilation=dilation), pq


def _check_dense(op, t, a):
    x, w, b = t
    _rank(op, t, "x", x, 2)
    _rank(op, t, "w", w, 2)
    if w.shape[1] != x.shape[1]:
        _fail(op, t, f"w has {w.shape[1]} input features, x has {x.shape[1]}")
    _bias(op, t, b, w.shape[0])
    return dict(act=parse_act(op, t, a.get("act"))), (x.shape[0], w.shape[0])


def _check_dense_lowrank(op, t, a):
    x, v, u, b = t
    for name, m in (("x", x), ("v", v), ("u", u)):
        _rank(op, t, name, m, 2)
    if v.shape[1] != x.shape[1] or u.shape[1] != v.shape[0]:
        _fail(op, t, "need x (N,M), v (r,M), u (K,r)")
    _bias(op, t, b, u.shape[0])
    return dict(act=parse_act(op, t, a.get("act"))), (x.shape[0], u.shape[0])


def _check_conv2d(op, t, a):
    x, w, b = t
    _rank(op, t, "x", x, 4)
    _rank(op, t, "w", w, 4)
    groups = int(a.get("groups", 1))
    C, K = x.shape[1], w.shape[0]
    if groups < 1 or C % groups or K % groups:
        _fail(op, t, f"groups={groups} must divide input channels {C} and output channels {K}")
    if w.shape[1] * groups != C:
        _fail(op, t, f"w expects {w.shape[1] * groups} input channels, x has {C}")
    _bias(op, t, b, K)
    attrs, (P, Q) = _conv_attrs(op, t, w.shape[2:], a)
    return dict(attrs, groups=groups, act=parse_act(op, t, a.get("act"))), (x.shape[0], K, P, Q)


def _pointwise(op, t, name, w, cin):
    _rank(op, t, name, w, 4)
    if w.shape[2:] != (1, 1) or w.shape[1] != cin:
        _fail(op, t, f"{name} must be a 1x1 conv weight ({'K'},{cin},1,1), got {w.shape}")


def _check_conv2d_lowrank(op, t, a):
    x, w1, w2, b = t
    _rank(op, t, "x", x, 4)
    _rank(op, t, "w1", w1, 4)
    if w1.shape[1] != x.shape[1]:
        _fail(op, t, f"w1 expects {w1.shape[1]} input channels, x has {x.shape[1]}")
    _pointwise(op, t, "w2", w2, w1.shape[0])
    _bias(op, t, b, w2.shape[0])
    attrs, (P, Q) = _conv_attrs(op, t, w1.shape[2:], a)
    return dict(attrs, act=parse_act(op, t, a.get("act"))), (x.shape[0], w2.shape[0], P, Q)


def _check_conv2d_tucker2(op, t, a):
    x, w_in, w_core, w_out, b = t
    _rank(op, t, "x", x, 4)
    _pointwise(op, t, "w_in", w_in, x.shape[1])
    _rank(op, t, "w_core", w_core, 4)
    if w_core.shape[1] != w_in.shape[0]:
        _fail(op, t, f"w_core expects {w_core.shape[1]} input channels, w_in gives {w_in.shape[0]}")
    _pointwise(op, t, "w_out", w_out, w_core.shape[0])
    _bias(op, t, b, w_out.shape[0])
    attrs, (P, Q) = _conv_attrs(op, t, w_core.shape[2:], a)
    return dict(attrs, act=parse_act(op, t, a.get("act"))), (x.shape[0], w_out.shape[0], P, Q)


def _pool_attrs(op, t, a, dilation=True):
    (x,) = t
    _rank(op, t, "x", x, 4)
    kernel = _pair(op, t, "kernel", a.get("kernel"), None)
    stride = _pair(op, t, "stride", a.get("stride"), 1)
    pads = _pads(op, t, a.get("pads"))
    dil = _pair(op, t, "dilation", a.get("dilation"), 1) if dilation else (1, 1)
    ceil_mode = bool(a.get("ceil_mode", False))
    if any(p >= kernel[i % 2] for i, p in enumerate(pads)):
        _fail(op, t, f"padding {pads} must be smaller than the kernel {kernel}")
    P, Q = _window(op, t, x.shape[2:], kernel, stride, pads, dil, ceil_mode)
    attrs = dict(kernel=kernel, stride=stride, pads=pads, ceil_mode=ceil_mode)
    if dilation:
        attrs["dilation"] = dil
    return attrs, x.shape[:2] + (P, Q)


def _check_maxpool2d(op, t, a):
    return _pool_attrs(op, t, a)


def _check_avgpool2d(op, t, a):
    attrs, shape = _pool_attrs(op, t, a, dilation=False)
    return dict(attrs, count_include_pad=bool(a.get("count_include_pad", False))), shape


def _check_global_avgpool(op, t, a):
    _rank(op, t, "x", t[0], 4)
    return {}, t[0].shape[:2] + (1, 1)


def _check_lrn(op, t, a):
    _rank(op, t, "x", t[0], 4)
    size = int(a.get("size", 5))
    if size < 1:
        _fail(op, t, f"size must be >= 1, got {size}")
    attrs = dict(size=size, alpha=float(a.get("alpha", 1e-4)), beta=float(a.get("beta", 0.75)),
                 bias=float(a.get("bias", 1.0)))
    return attrs, t[0].shape


def _check_batchnorm(op, t, a):
    x = t[0]
    if x.ndim < 2:
        _fail(op, t, f"x must have rank >= 2, got shape {x.shape}")
    for name, p in zip(("scale", "bias", "mean", "var"), t[1:]):
        if p.shape != (x.shape[1],):
            _fail(op, t, f"{name} must have shape ({x.shape[1]},), got {p.shape}")
    return dict(eps=float(a.get("eps", 1e-5)), act=parse_act(op, t, a.get("act"))), x.shape


def _axis(op, t, axis, ndim):
    axis = int(axis)
    if not -ndim <= axis < ndim:
        _fail(op, t, f"axis {axis} out of range for rank {ndim}")
    return axis % ndim


def _check_softmax(op, t, a):
    return dict(axis=_axis(op, t, a.get("axis", -1), t[0].ndim)), t[0].shape


def _check_binary(op, t, a):
    try:
        shape = np.broadcast_shapes(t[0].shape, t[1].shape)
    except ValueError:
        _fail(op, t, "shapes do not broadcast")
    return dict(act=parse_act(op, t, a.get("act"))), shape


def _check_activation(op, t, a):
    return dict(act=parse_act(op, t, a.get("act"))), t[0].shape


def _check_concat(op, t, a):
    xs = t[0]
    if not xs:
        _fail(op, t, "nothing to concatenate")
    axis = _axis(op, xs, a.get("axis", 1), xs[0].ndim)
    for x in xs[1:]:
        if x.ndim != xs[0].ndim or x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            _fail(op, xs, f"shapes differ outside axis {axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return dict(axis=axis), tuple(shape)


def _check_transpose(op, t, a):
    x = t[0]
    perm = tuple(int(p) for p in a.get("perm", range(x.ndim)[::-1]))
    if sorted(perm) != list(range(x.ndim)):
        _fail(op, t, f"perm {perm} is not a permutation of the {x.ndim} axes")
    return dict(perm=perm), tuple(x.shape[p] for p in perm)


def _check_pad(op, t, a):
    _rank(op, t, "x", t[0], 4)
    pads = _pads(op, t, a.get("pads"))
    N, C, H, W = t[0].shape
    return dict(pads=pads, value=float(a.get("value", 0.0))), (N, C, pads[0] + H + pads[2], pads[1] + W + pads[3])


OPS = {s.name: s for s in [
    OpSpec("dense", "dense", ("x", "w", "b?"), _check_dense),
    OpSpec("dense_lowrank", "dense", ("x", "v", "u", "b?"), _check_dense_lowrank),
    OpSpec("conv2d", "conv", ("x", "w", "b?"), _check_conv2d),
    OpSpec("conv2d_lowrank", "conv", ("x", "w1", "w2", "b?"), _check_conv2d_lowrank),
    OpSpec("conv2d_tucker2", "conv", ("x", "w_in", "w_core", "w_out", "b?"), _check_conv2d_tucker2),
    OpSpec("maxpool2d", "pool", ("x",), _check_maxpool2d),
    OpSpec("avgpool2d", "pool", ("x",), _check_avgpool2d),
    OpSpec("global_avgpool", "pool", ("x",), _check_global_avgpool),
    OpSpec("lrn", "norm", ("x",), _check_lrn),
    OpSpec("batchnorm", "norm", ("x", "scale", "bias", "mean", "var"), _check_batchnorm),
    OpSpec("softmax", "norm", ("x",), _check_softmax),
    OpSpec("add", "elementwise", ("a", "b"), _check_binary),
    OpSpec("mul", "elementwise", ("a", "b"), _check_binary),
    OpSpec("activation", "elementwise", ("x",), _check_activation),
    OpSpec("concat", "layout", ("xs",), _check_concat),
    OpSpec("transpose", "layout", ("x",), _check_transpose),
    OpSpec("pad", "layout", ("x",), _check_pad),
]}

_unusable: dict = {}  # backend -> reason it cannot be imported here


def info(backend: str) -> Backend:
    """The registry's line for `backend`; KernelError for a name that is not a backend."""
    if backend not in INFO:
        raise KernelError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    return INFO[backend]


def backend_usable(backend: str):
    """(True, "") when the backend's package imports here (and its `usable()`, if any, agrees: a
    device found), else (False, the reason)."""
    info(backend)
    if backend not in _unusable:
        try:
            module = importlib.import_module(f"{__package__}.{backend}")
            ok, why = module.usable() if hasattr(module, "usable") else (True, "")
            _unusable[backend] = "" if ok else f"{backend} backend unavailable: {why}"
        except ImportError as e:
            _unusable[backend] = f"{backend} backend unavailable: {e}"
    return not _unusable[backend], _unusable[backend]


def backend(name: str):
    """The backend's package (its hooks: memory, device choice); KernelError when it is unusable here."""
    ok, why = backend_usable(name)
    if not ok:
        raise KernelError(why)
    return importlib.import_module(f"{__package__}.{name}")


def host_backend(choice: str = "auto", jit: bool = True) -> str:
    """`choice`, or for `auto` the first usable backend that computes in host memory (without `jit`: the
    first that needs no compiler at run time, as on a board)."""
    if choice != "auto":
        info(choice)
        return choice
    return next(b.name for b in _BACKENDS
                if not b.device and (jit or not b.jit) and backend_usable(b.name)[0])


def lookup(op: str, backend: str) -> Callable:
    """The kernel function for (op, backend); KernelError if there is none or it is unusable here."""
    if op not in OPS:
        raise KernelError(f"unknown op {op!r}")
    ok, why = backend_usable(backend)
    if not ok:
        raise KernelError(f"{op}: {why}")
    name = f"{__package__}.{backend}.{INFO[backend].prefix}{OPS[op].family}"
    try:
        return getattr(importlib.import_module(name), op)
    except (ImportError, AttributeError) as e:
        raise KernelError(f"{op}: no {backend} kernel ({e})") from None


def prepare(op: str, backend: str, weights) -> Callable:
    """The kernel for (op, backend) bound to constant `weights` (its tensors after the first) when
    the backend prepares them once (its `prepare_<op>`), else lookup's; called like lookup's."""
    fn = lookup(op, backend)
    prep = getattr(sys.modules[fn.__module__], f"prepare_{op}", None)
    return prep(*weights) if prep else fn


def available() -> list:
    """[(op, backend, usable, reason)] for every op and backend."""
    rows = []
    for op in OPS:
        for backend in BACKENDS:
            try:
                lookup(op, backend)
                rows.append((op, backend, True, ""))
            except KernelError as e:
                rows.append((op, backend, False, str(e)))
    return rows


def _device_array(t) -> bool:
    """A pyopencl device array (only the opencl backend takes them); pyopencl is not imported here."""
    cla = sys.modules.get("pyopencl.array")
    return cla is not None and isinstance(t, cla.Array)


def _as_f32(op, tensors, t, optional):
    if t is None:
        if not optional:
            _fail(op, tensors, "a required tensor is None")
        return None
    if _device_array(t):
        if t.dtype != np.float32 or not t.flags.c_contiguous:
            _fail(op, tensors, f"device arrays must be C-contiguous float32, got {t.dtype}")
        return t
    if not isinstance(t, np.ndarray) or t.dtype != np.float32:
        _fail(op, tensors, f"tensors must be float32 numpy arrays, got {getattr(t, 'dtype', type(t).__name__)}")
    return np.ascontiguousarray(t)


def check(op: str, tensors, attrs: dict):
    """Validate tensors and attributes once: (contiguous float32 tensors, canonical attrs, out shape)."""
    if op not in OPS:
        raise KernelError(f"unknown op {op!r}")
    spec = OPS[op]
    if len(tensors) > len(spec.tensors) or len(tensors) < sum(not n.endswith("?") for n in spec.tensors):
        _fail(op, tensors, f"takes tensors ({', '.join(spec.tensors)}), got {len(tensors)}")
    tensors = list(tensors) + [None] * (len(spec.tensors) - len(tensors))
    if spec.tensors == ("xs",):
        tensors = [[_as_f32(op, tensors[0], x, False) for x in tensors[0]]]
    else:
        tensors = [_as_f32(op, tensors, t, n.endswith("?")) for t, n in zip(tensors, spec.tensors)]
    canon, shape = spec.check(op, tensors, attrs)
    unknown = set(attrs) - set(canon)
    if unknown:
        _fail(op, tensors, f"unknown attribute(s) {', '.join(sorted(unknown))}")
    return tensors, canon, shape


def run(op: str, backend: str, *tensors, out=None, **attrs):
    """Check the inputs, then run (op, backend); returns the float32 output (a device array from the
    opencl backend given device arrays)."""
    fn = lookup(op, backend)
    tensors, canon, shape = check(op, tensors, attrs)
    flat = tensors[0] if OPS[op].tensors == ("xs",) else tensors
    if not INFO[backend].device and any(_device_array(t) for t in [*flat, out]):
        _fail(op, flat, f"the {backend} backend takes numpy arrays, not OpenCL device arrays")
    if out is not None and (out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous):
        _fail(op, tensors, f"out must be a C-contiguous float32 array of shape {shape}")
    return fn(*tensors, **canon, out=out)

