"""Hypothesis strategies drawing (tensors, attrs) for every kernel op, small enough for the reference."""
import numpy as np
from hypothesis import strategies as st

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
    return (x, wt, b), dict(attrs, groups=groups, act=draw(ACTS))


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
    attrs = dict(size=draw(st.integers(1, 7)), alpha=draw(st.floats(1e-5, 1e-2)), beta=draw(st.floats(0.5, 1.0)),
                 bias=draw(st.floats(0.5, 2.0)))
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
def pad(draw):
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    return (draw(_nchw()),), dict(pads=pads, value=draw(st.sampled_from([0.0, -1.5])))
