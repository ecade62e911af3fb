"""Hypothesis strategies drawing (tensors, attrs) for every kernel op, small enough for the reference."""
import numpy as np
from hypothesis import strategies as st

from deepx import kernels

# the activations fused into producers: continuous and well conditioned, so a producer's float32 rounding stays
# within the tolerance after them
SMOOTH_ACTS = ["hardsigmoid", ("hardsigmoid", 0.25, 0.4), "hardswish", ("leakyrelu", 0.1), ("elu", 0.7), "selu",
               ("celu", 0.5), "softplus", "softsign", "gelu", "gelu_tanh", "mish", "silu", "exp", "neg", "abs", "erf"]
ACTS = st.sampled_from(["none", "relu", "relu6", "sigmoid", "tanh", ("clip", -0.5, 0.5)] + SMOOTH_ACTS)
# every activation kind, for the activation op on exact inputs (log and sqrt get positive ones)
ALL_ACTS = st.sampled_from(["none", "relu", "relu6", "sigmoid", "tanh", ("clip", -0.5, 0.5)] + SMOOTH_ACTS
                           + ["log", "sqrt", "reciprocal", "floor", "ceil", "not", ("thresholdedrelu", 0.3)])


def _arr(draw, *shape, positive=False):
    seed = draw(st.integers(0, 2**32 - 1))
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return np.abs(a) + np.float32(0.1) if positive else a


@st.composite
def dense(draw):
    n, m, k = draw(st.integers(1, 4)), draw(st.integers(1, 70)), draw(st.integers(1, 40))
    b = _arr(draw, k) if draw(st.booleans()) else None
    return (_arr(draw, n, m), _arr(draw, k, m), b), dict(act=draw(ACTS))


@st.composite
def dense_lowrank(draw):
    n, m, k, r = draw(st.integers(1, 4)), draw(st.integers(1, 70)), draw(st.integers(1, 40)), draw(st.integers(1, 9))
    b = _arr(draw, k) if draw(st.booleans()) else None
    return (_arr(draw, n, m), _arr(draw, r, m), _arr(draw, k, r), b), dict(act=draw(ACTS))


@st.composite
def _window(draw, max_k=5):
    if draw(st.booleans()):  # half the time the 3x3 stride-1 window of real networks (Winograd, depthwise paths)
        kh = kw = 3
        stride = dilation = (1, 1)
    else:
        kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    span_h, span_w = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    h = draw(st.integers(max(1, span_h - pads[0] - pads[2]), 14))
    w = draw(st.integers(max(1, span_w - pads[1] - pads[3]), 14))
    return (kh, kw), dict(stride=stride, pads=pads, dilation=dilation), (h, w)


@st.composite
def conv2d(draw):
    (kh, kw), attrs, (h, w) = draw(_window())
    groups = draw(st.sampled_from([1, 1, 2, 3, "depthwise"]))
    n = draw(st.integers(1, 2))
    if groups == "depthwise":
        c = draw(st.integers(1, 8))
        groups, k = c, c * draw(st.integers(1, 2))
    else:
        c, k = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 5))
    b = _arr(draw, k) if draw(st.booleans()) else None
    x, wt = _arr(draw, n, c, h, w), _arr(draw, k, c // groups, kh, kw)
    attrs = dict(attrs, groups=groups, act=draw(ACTS))
    if not draw(st.booleans()):
        return (x, wt, b), attrs
    # half the time with a residual, added before the activation (the executor folds a following add so)
    return (x, wt, b, _arr(draw, *kernels.check("conv2d", (x, wt, b), attrs)[2])), attrs


@st.composite
def conv2d_lowrank(draw):
    (kh, kw), attrs, (h, w) = draw(_window())
    n, c, r, k = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 8))
    b = _arr(draw, k) if draw(st.booleans()) else None
    return (_arr(draw, n, c, h, w), _arr(draw, r, c, kh, kw), _arr(draw, k, r, 1, 1), b), dict(attrs, act=draw(ACTS))


@st.composite
def conv2d_tucker2(draw):
    (kh, kw), attrs, (h, w) = draw(_window())
    n, c, k = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 8))
    r1, r2 = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    b = _arr(draw, k) if draw(st.booleans()) else None
    tensors = (_arr(draw, n, c, h, w), _arr(draw, r1, c, 1, 1), _arr(draw, r2, r1, kh, kw), _arr(draw, k, r2, 1, 1), b)
    return tensors, dict(attrs, act=draw(ACTS))


@st.composite
def _pool(draw, dilation):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    span = ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1)
    pads = tuple(draw(st.integers(0, (kh, kw)[i % 2] - 1)) for i in range(4))
    h = draw(st.integers(max(1, span[0] - pads[0] - pads[2]), 12))
    w = draw(st.integers(max(1, span[1] - pads[1] - pads[3]), 12))
    attrs = dict(kernel=(kh, kw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), pads=pads,
                 ceil_mode=draw(st.booleans()))
    if dilation:
        attrs["dilation"] = dil
    return (_arr(draw, draw(st.integers(1, 2)), draw(st.integers(1, 5)), h, w),), attrs


@st.composite
def maxpool2d(draw):
    return draw(_pool(True))


@st.composite
def avgpool2d(draw):
    tensors, attrs = draw(_pool(False))
    return tensors, dict(attrs, count_include_pad=draw(st.booleans()))


@st.composite
def _nchw(draw):
    return _arr(draw, draw(st.integers(1, 2)), draw(st.integers(1, 12)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))


@st.composite
def global_avgpool(draw):
    return (draw(_nchw()),), {}


@st.composite
def lrn(draw):
    # beta 0.75 (AlexNet's and GoogLeNet's): the Cython kernel's two square roots instead of a pow
    attrs = dict(size=draw(st.integers(1, 7)), alpha=draw(st.floats(1e-5, 1e-2)),
                 beta=draw(st.one_of(st.just(0.75), st.floats(0.5, 1.0))), bias=draw(st.floats(0.5, 2.0)))
    return (draw(_nchw()),), attrs


@st.composite
def batchnorm(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 8))) + tuple(draw(st.lists(st.integers(1, 6), max_size=2)))
    c = shape[1]
    tensors = (_arr(draw, *shape), _arr(draw, c), _arr(draw, c), _arr(draw, c), _arr(draw, c, positive=True))
    return tensors, dict(eps=draw(st.sampled_from([1e-5, 1e-3])), act=draw(ACTS))


@st.composite
def _shape(draw, min_rank=1, max_rank=4):
    return tuple(draw(st.lists(st.integers(1, 6), min_size=min_rank, max_size=max_rank)))


@st.composite
def softmax(draw):
    shape = draw(_shape())
    return (_arr(draw, *shape),), dict(axis=draw(st.integers(-len(shape), len(shape) - 1)))


@st.composite
def _binary(draw):
    shape = draw(_shape(1, 4))
    # b drops leading axes and sets some axes to 1, so it broadcasts against a (or the other way round)
    other = tuple(1 if draw(st.booleans()) else d for d in shape[draw(st.integers(0, len(shape))):])
    a, b = _arr(draw, *shape), _arr(draw, *other)
    return ((b, a) if draw(st.booleans()) else (a, b)), dict(act=draw(ACTS))


add = mul = sub = minimum = maximum = _binary


@st.composite
def div(draw):
    (a, b), attrs = draw(_binary())
    return (a, np.where(b < 0, b - np.float32(0.1), b + np.float32(0.1)).astype(np.float32)), attrs  # no divisor near 0


@st.composite
def pow(draw):
    (a, b), attrs = draw(_binary())
    if draw(st.booleans()):  # a constant exponent, as real networks have
        exponent = draw(st.sampled_from([2, 3, 0.5, 1, -1, 1.7]))
        b = np.full((1,) * draw(st.integers(1, max(1, a.ndim))), exponent, np.float32)
    act = draw(st.sampled_from(["none", "relu", "tanh", "silu"]))  # no exp of a large power
    return (np.asarray(np.abs(a) + np.float32(0.1)), b), dict(act=act)


@st.composite
def _compare(draw):
    (a, b), attrs = draw(_binary())
    return (np.asarray(np.round(a)), np.asarray(np.round(b))), attrs  # whole numbers, so that some are equal


equal = less = greater = less_equal = greater_equal = _compare


@st.composite
def _logic(draw):
    (a, b), attrs = draw(_binary())
    return (np.asarray(a > 0, np.float32), np.asarray(b > 0, np.float32)), attrs


logical_and = logical_or = logical_xor = _logic


@st.composite
def prelu(draw):
    shape = draw(_shape(1, 4))
    slope = tuple(1 if draw(st.booleans()) else d for d in shape[draw(st.integers(0, len(shape))):])
    return (_arr(draw, *shape), _arr(draw, *slope)), dict(act=draw(ACTS))


@st.composite
def where(draw):
    shape = draw(_shape(1, 4))
    parts = [tuple(1 if draw(st.booleans()) else d for d in shape[draw(st.integers(0, len(shape))):])
             for _ in range(3)]
    parts[draw(st.integers(0, 2))] = shape
    cond, x, y = (np.asarray(_arr(draw, *p), np.float32) for p in parts)
    return (np.asarray(cond > 0, np.float32), x, y), {}


@st.composite
def activation(draw):
    act = draw(ALL_ACTS)
    x = _arr(draw, *draw(_shape()), positive=act in ("log", "sqrt"))
    if act == "not":
        x = (x > 0).astype(np.float32)
    return (x,), dict(act=act)


@st.composite
def concat(draw):
    shape = list(draw(_shape(1, 4)))
    axis = draw(st.integers(0, len(shape) - 1))
    xs = []
    for _ in range(draw(st.integers(1, 4))):
        shape[axis] = draw(st.integers(1, 5))
        xs.append(_arr(draw, *shape))
    return (xs,), dict(axis=axis)


@st.composite
def transpose(draw):
    shape = draw(_shape(1, 5))
    return (_arr(draw, *shape),), dict(perm=tuple(draw(st.permutations(range(len(shape))))))




@st.composite
def slice(draw):
    shape = draw(_shape(1, 4))
    ends = st.one_of(st.integers(-8, 8), st.just(2**63 - 1), st.just(-2**63))
    attrs = dict(starts=tuple(draw(st.integers(-8, 8)) for _ in shape), ends=tuple(draw(ends) for _ in shape),
                 steps=tuple(draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in shape))
    return (_arr(draw, *shape),), attrs


@st.composite
def gather(draw):
    shape = draw(_shape(1, 4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)), np.int64)
    idx = draw(st.sampled_from([idx[:1].reshape(()), idx, idx[:len(idx) // 2 * 2].reshape(-1, 2)]))
    return (_arr(draw, *shape),), dict(indices=idx.tolist(), axis=axis)


@st.composite
def expand(draw):
    shape = draw(_shape(1, 4))
    x_shape = tuple(1 if draw(st.booleans()) else d for d in shape[draw(st.integers(0, len(shape) - 1)):])
    target = tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in shape)  # 1: kept from x (bidirectional)
    return (_arr(draw, *x_shape),), dict(shape=target)


@st.composite
def pad(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "edge", "wrap"]))
    x = draw(_nchw()) if draw(st.booleans()) else _arr(draw, *draw(_shape(1, 4)))
    begin, end = [], []
    for n in x.shape:
        lo = -((n - 1) // 2)  # crop at most (n - 1) // 2 each side: one element stays
        begin.append(draw(st.integers(lo, 3)))
        end.append(draw(st.integers(lo, 3)))
    if mode == "reflect":  # reflecting needs more input than it pads
        n_left = [n + min(b, 0) + min(e, 0) for n, b, e in zip(x.shape, begin, end)]
        begin = [min(b, k - 1) for b, k in zip(begin, n_left)]
        end = [min(e, k - 1) for e, k in zip(end, n_left)]
    return (x,), dict(pads=tuple(begin + end), mode=mode, value=draw(st.sampled_from([0.0, -1.5])))


@st.composite
def conv_transpose2d(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, stride[i] - 1)) for i in range(2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    groups = draw(st.sampled_from([1, 1, 2, 3, "depthwise"]))
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    if groups == "depthwise":  # one input channel per group, one or two output channels
        groups = c = draw(st.integers(1, 6))
        k = c * draw(st.integers(1, 2))
    else:
        c, k = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
    full = [stride[i] * ((h, w)[i] - 1) + output_padding[i] + ((kh, kw)[i] - 1) * dilation[i] + 1 for i in range(2)]
    pads = tuple(min(p, (full[i % 2] - 1) // 2) for i, p in enumerate(pads))  # at least one output
    b = _arr(draw, k) if draw(st.booleans()) else None
    x, wt = _arr(draw, n, c, h, w), _arr(draw, c, k // groups, kh, kw)
    return (x, wt, b), dict(stride=stride, pads=pads, output_padding=output_padding, dilation=dilation,
                            groups=groups, act=draw(ACTS))


@st.composite
def reduce(draw):
    shape = draw(_shape())
    kind = draw(st.sampled_from(["sum", "mean", "max", "min", "l1", "l2", "sum_square", "log_sum_exp", "prod"]))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape), unique=True))
    return (_arr(draw, *shape),), dict(kind=kind, axes=tuple(axes), keepdims=draw(st.booleans()))


@st.composite
def argmax(draw):
    shape = draw(_shape())
    x = _arr(draw, *shape)
    if draw(st.booleans()):  # ties, for select_last_index
        x = np.round(x)
    return (x,), dict(axis=draw(st.integers(-len(shape), len(shape) - 1)), keepdims=draw(st.booleans()),
                      select_last_index=draw(st.booleans()))


argmin = argmax
log_softmax = softmax


@st.composite
def layernorm(draw):
    shape = draw(_shape())
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    inner = shape[axis:] if axis >= 0 else shape[len(shape) + axis:]
    bias = _arr(draw, *inner) if draw(st.booleans()) else None
    return (_arr(draw, *shape), _arr(draw, *inner), bias), dict(axis=axis, eps=draw(st.sampled_from([1e-5, 1e-3])))


@st.composite
def groupnorm(draw):
    groups, per = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    c = groups * per
    shape = (draw(st.integers(1, 2)), c) + tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
    tensors = (_arr(draw, *shape), _arr(draw, c), _arr(draw, c))
    return tensors, dict(groups=groups, eps=draw(st.sampled_from([1e-5, 1e-3])))


@st.composite
def instancenorm(draw):
    tensors, attrs = draw(groupnorm())
    return tensors, dict(eps=attrs["eps"])


@st.composite
def matmul(draw):
    m, k, n = draw(st.integers(1, 9)), draw(st.integers(1, 40)), draw(st.integers(1, 20))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    # each operand keeps a suffix of the batch axes, some of them 1 (broadcast); rank 1 some of the time
    a_batch = tuple(1 if draw(st.booleans()) else d for d in batch[draw(st.integers(0, len(batch))):])
    b_batch = tuple(1 if draw(st.booleans()) else d for d in batch[draw(st.integers(0, len(batch))):])
    a_shape = (k,) if draw(st.integers(0, 5)) == 0 else a_batch + (m, k)
    b_shape = (k,) if draw(st.integers(0, 5)) == 0 else b_batch + (k, n)
    return (_arr(draw, *a_shape), _arr(draw, *b_shape)), {}


@st.composite
def resize(draw):
    mode = draw(st.sampled_from(["nearest", "linear"]))
    rank = draw(st.integers(1 if mode == "nearest" else 2, 4))  # ONNX Runtime has no 1-D linear
    shape = tuple(draw(st.integers(1, 7)) for _ in range(rank))
    scaled = range(max(0, rank - 2), rank) if mode == "linear" else range(rank)
    sizes = list(shape)
    for d in scaled:  # up, down or kept; the scales default to sizes / shape
        sizes[d] = draw(st.sampled_from([shape[d], 2 * shape[d], 3 * shape[d], max(1, shape[d] // 2)])) \
            if draw(st.booleans()) else draw(st.integers(1, 12))
    coords = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"]
    attrs = dict(sizes=tuple(sizes), mode=mode,
                 coord=draw(st.sampled_from(coords + (["tf_half_pixel_for_nn"] if mode == "nearest" else []))),
                 nearest=draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])))
    return (_arr(draw, *shape),), attrs


@st.composite
def _recurrent(draw, gates, states):
    """x (T,N,I), w, r, optional b and initial states (None or an array each) for a recurrent op."""
    direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
    d = 2 if direction == "bidirectional" else 1
    t, n, i, h = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    x, w, r = _arr(draw, t, n, i), _arr(draw, d, gates * h, i) * 0.5, _arr(draw, d, gates * h, h) * 0.5
    b = _arr(draw, d, 2 * gates * h) if draw(st.booleans()) else None
    extra = [_arr(draw, d, n, h) if draw(st.booleans()) else None for _ in range(states)]
    return [x, w, r, b, *extra], dict(direction=direction), (d, h)


@st.composite
def lstm(draw):
    tensors, attrs, (d, h) = draw(_recurrent(4, 2))
    p = _arr(draw, d, 3 * h) if draw(st.booleans()) else None
    return (*tensors, p), dict(attrs, result=draw(st.sampled_from(["y", "h", "c"])))


@st.composite
def gru(draw):
    tensors, attrs, _ = draw(_recurrent(3, 1))
    return tuple(tensors), dict(attrs, linear_before_reset=draw(st.booleans()),
                                result=draw(st.sampled_from(["y", "h"])))


@st.composite
def rnn(draw):
    tensors, attrs, _ = draw(_recurrent(1, 1))
    return tuple(tensors), dict(attrs, result=draw(st.sampled_from(["y", "h"])))
