"""Hypothesis strategies drawing (tensors, attrs) for every kernel op, small enough for the reference."""
import numpy as np
from hypothesis import strategies as st

ACTS = st.sampled_from(["none", "relu", "relu6", "sigmoid", "tanh", ("clip", -0.5, 0.5)])


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


add = mul = _binary


@st.composite
def activation(draw):
    return (_arr(draw, *draw(_shape())),), dict(act=draw(ACTS))


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
