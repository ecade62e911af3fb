"""Every op on every backend against the NumPy reference; bad input raises KernelError."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepx import KernelError, kernels
from deepx.kernels.registry import BACKENDS, OPS

import kernel_cases

TOLERANCE = {np.dtype(np.float32): dict(rtol=1e-4, atol=1e-4)}  # atol scales with max(1, max|ref|)


def assert_close(y, ref):
    tol = TOLERANCE[ref.dtype]
    assert y.dtype == ref.dtype and y.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(y, ref, rtol=tol["rtol"], atol=tol["atol"] * scale)


def _backend(name):
    ok, why = kernels.backend_usable(name)
    return pytest.param(name, marks=pytest.mark.skipif(not ok, reason=why))


def _has(op, backend):
    """Whether the backend has the op; a device backend may lack it (the registry keeps it on the CPU)."""
    try:
        return bool(kernels.lookup(op, backend))
    except KernelError:
        if not kernels.info(backend).device:
            raise
        return False


@pytest.mark.parametrize("backend", [_backend(b) for b in BACKENDS if b != "ref"])
@pytest.mark.parametrize("op", list(OPS))
@settings(derandomize=True, max_examples=min(30, settings().max_examples), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_op_matches_reference(op, backend, data):
    if not _has(op, backend):
        pytest.skip(f"{op}: no {backend} kernel")
    tensors, attrs = data.draw(getattr(kernel_cases, op)())
    ref = kernels.run(op, "ref", *tensors, **attrs)
    assert_close(kernels.run(op, backend, *tensors, **attrs), ref)
    # the same kernel writing into a caller's buffer (how the runtime's memory arena calls it)
    out = np.full(ref.shape, np.nan, dtype=np.float32)
    assert kernels.run(op, backend, *tensors, out=out, **attrs) is out
    assert_close(out, ref)
    # bound to its constant weights as the executor binds it: reused, and given other weights
    checked, canon, _ = kernels.check(op, tensors, attrs)
    if OPS[op].tensors != ("xs",):
        fn = kernels.prepare(op, backend, checked[1:])
        for _ in range(2):
            assert_close(fn(*checked, **canon), ref)
        if len(checked) > 1 and checked[1] is not None:
            other = [checked[0], checked[1] + 1, *checked[2:]]
            assert_close(fn(*other, **canon), kernels.run(op, "ref", *other, **attrs))
        # bound to all its arrays as the executor binds a step (where the backend binds the op): it reads them at
        # each call, not once
        arrays = [np.array(t) if isinstance(t, np.ndarray) else t for t in checked]
        out = np.full(ref.shape, np.nan, dtype=np.float32)
        bound = kernels.bind(op, backend, arrays, dict(canon, out=out), constant=True)
        if bound:
            bound()
            assert_close(out, ref)
            arrays[0] *= 2.0
            arrays[0] += 1.0
            bound()
            assert_close(out, kernels.run(op, "ref", *arrays, **attrs))


def test_every_op_has_every_cpu_backend():
    rows = {(op, b): ok for op, b, ok, _ in kernels.available()}
    for op in OPS:
        assert rows[(op, "ref")]
        for b in BACKENDS:
            if kernels.backend_usable(b)[0] and not kernels.info(b).device:
                assert rows[(op, b)], f"{op} has no {b} kernel"


x4 = np.zeros((1, 4, 8, 8), np.float32)


@pytest.mark.parametrize("op, tensors, attrs, message", [
    ("conv2d", (x4[0], np.zeros((2, 4, 3, 3), np.float32)), {}, "rank 4"),
    ("conv2d", (x4, np.zeros((2, 3, 3, 3), np.float32)), {}, "input channels"),
    ("conv2d", (x4, np.zeros((3, 2, 3, 3), np.float32)), dict(groups=2), "groups=2"),
    ("conv2d", (x4.astype(np.float64), np.zeros((2, 4, 3, 3), np.float32)), {}, "float32"),
    ("conv2d", (x4, np.zeros((2, 4, 3, 3), np.float32)), dict(pads=(1, -1, 0, 0)), "negative padding"),
    ("conv2d", (x4, np.zeros((2, 4, 3, 3), np.float32), np.zeros(3, np.float32)), {}, "bias"),
    ("conv2d", (x4, np.zeros((2, 4, 9, 9), np.float32)), {}, "larger than the padded input"),
    ("conv2d", (x4, np.zeros((2, 4, 3, 3), np.float32), None, np.zeros((1, 2, 8, 8), np.float32)), {},
     "residual z must have the output's shape"),
    ("dense", (np.zeros((2, 5), np.float32), np.zeros((3, 4), np.float32)), {}, "input features"),
    ("dense", (np.zeros((2, 5), np.float32), np.zeros((3, 5), np.float32)), dict(act="gelu5"), "activation"),
    ("maxpool2d", (x4,), dict(kernel=2, pads=2), "padding"),
    ("add", (x4, np.zeros((3,), np.float32)), {}, "broadcast"),
    ("softmax", (x4,), dict(axis=4), "axis"),
    ("transpose", (x4,), dict(perm=(0, 1, 1, 2)), "permutation"),
    ("conv2d", (x4, np.zeros((2, 4, 3, 3), np.float32)), dict(strides=2), "unknown attribute"),
    ("conv_transpose2d", (x4, np.zeros((3, 2, 2, 2), np.float32)), {}, "input channels"),
    ("conv_transpose2d", (x4, np.zeros((4, 2, 2, 2), np.float32)), dict(groups=3), "groups=3"),
    ("conv_transpose2d", (x4, np.zeros((4, 2, 2, 2), np.float32), np.zeros(3, np.float32)), {}, "bias"),
    ("conv_transpose2d", (x4, np.zeros((4, 2, 1, 1), np.float32)), dict(pads=(4, 4, 4, 4)), "no output"),
    ("prelu", (np.zeros((4, 1), np.float32), np.zeros((4, 3), np.float32)), {}, "unidirectional"),
    ("where", (x4, x4, np.zeros((3,), np.float32)), {}, "broadcast"),
    ("sub", (x4, np.zeros((3,), np.float32)), {}, "broadcast"),
    ("activation", (x4,), dict(act=("clip", 1.0, 0.0)), "lo <= hi"),
    ("activation", (x4,), dict(act=("celu", 0.0)), "alpha"),
    ("activation", (x4,), dict(act=("swish", 1.0)), "unknown activation"),
    ("reduce", (x4,), dict(kind="median"), "unknown kind"),
    ("reduce", (x4,), dict(axes=(1, 4)), "axis"),
    ("reduce", (np.zeros((2, 0), np.float32),), dict(kind="max", axes=(1,)), "empty axis"),
    ("argmax", (x4,), dict(axis=-5), "axis"),
    ("layernorm", (x4, np.ones((8, 7), np.float32)), dict(axis=2), "scale must have shape"),
    ("groupnorm", (x4, np.ones(4, np.float32), np.zeros(4, np.float32)), dict(groups=3), "groups must divide"),
    ("instancenorm", (x4, np.ones(3, np.float32), np.zeros(4, np.float32)), {}, "scale must have shape"),
    ("matmul", (np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)), {}, "inner dimensions"),
    ("matmul", (np.zeros((2, 3, 4), np.float32), np.zeros((3, 4, 5), np.float32)), {}, "do not broadcast"),
    ("slice", (x4,), dict(starts=(0, 0, 0, 0), ends=(1, 4, 8, 8), steps=(1, 0, 1, 1)), "step is 0"),
    ("slice", (x4,), dict(starts=(0, 0), ends=(1, 4)), "must have 4 values"),
    ("gather", (x4,), dict(indices=(0, 4), axis=1), "out of range"),
    ("expand", (x4,), dict(shape=(3, 8, 8)), "does not broadcast"),
    ("pad", (x4,), dict(pads=(0,) * 8, mode="mirror"), "pad mode"),
    ("pad", (x4,), dict(pads=(0, 0, -5, 0, 0, 0, -5, 0)), "crop more"),
    ("resize", (x4,), dict(sizes=(1, 4, 16, 16), mode="cubic"), "mode 'cubic'"),
    ("resize", (x4,), dict(sizes=(1, 8, 16, 16), mode="linear"), "last two axes"),
    ("resize", (x4,), dict(sizes=(1, 4, 16)), "sizes must be 4 ints"),
    ("lstm", (x4[0], np.zeros((1, 8, 7), np.float32), np.zeros((1, 8, 2), np.float32)), {}, "w must have shape"),
    ("gru", (x4[0], np.zeros((1, 6, 8), np.float32), np.zeros((1, 6, 2), np.float32)), dict(direction="up"),
     "direction"),
    ("rnn", (x4[0], np.zeros((1, 2, 8), np.float32), np.zeros((1, 2, 2), np.float32)), dict(result="c"), "result"),
    ("lstm", (x4[0], np.zeros((2, 8, 8), np.float32), np.zeros((2, 8, 2), np.float32)), {}, "w must have shape"),
])
def test_bad_input_raises_kernel_error(op, tensors, attrs, message):
    for backend in [b for b in BACKENDS if kernels.backend_usable(b)[0] and _has(op, b)]:
        with pytest.raises(KernelError, match=message) as err:
            kernels.run(op, backend, *tensors, **attrs)
        assert op in str(err.value) and "x" in str(err.value)  # names the op and the shapes


def test_unknown_op_and_backend():
    with pytest.raises(KernelError, match="unknown op"):
        kernels.lookup("conv3d", "ref")
    with pytest.raises(KernelError, match="unknown backend"):
        kernels.lookup("conv2d", "cuda")


@pytest.mark.skipif(not kernels.backend_usable("cython")[0], reason="no cython backend")
def test_cython_gemms_use_the_blas_numpy_links():
    import ctypes

    from deepx.kernels.cython import _dense

    numpy_blas = ctypes.CDLL(np._core._multiarray_umath.__file__)  # its BLAS's symbols are searched too
    found = any(hasattr(numpy_blas, s) for s in ("scipy_sgemm_64_", "sgemm_64_", "sgemm_"))
    assert _dense.blas_source() == ("numpy" if found else "scipy")


@pytest.mark.skipif(not kernels.backend_usable("cython")[0], reason="no cython backend")
def test_kernel_build_level_follows_the_cpu():
    """setup.py builds for the best level the CPU has (AVX-512: x86-64-v4, AVX2 + FMA: v3, else the compiler's
    default), and the level built here runs here."""
    import os

    from deepx.kernels.cython import isa

    v3 = set(isa.NEEDS["x86-64-v3"])
    assert isa.best(v3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "sse2"}) == "x86-64-v4"
    assert isa.best(v3 | {"avx512f"}) == "x86-64-v3"  # AVX-512 without BW / DQ / VL / CD: not v4
    assert isa.best(v3 - {"fma"}) == ""
    with open(os.path.join(os.path.dirname(isa.__file__), "built_for.txt")) as f:
        built = f.read().strip()
    assert set(isa.NEEDS.get(built, ())) <= isa.cpu_flags()


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 70, 40), (2, 3, 40, 50)), ((2, 1, 33, 64), (3, 64, 35)),
                                              ((96,), (2, 96, 400)), ((130, 72), (72, 90))])
def test_matmul_of_larger_matrices(a_shape, b_shape):
    """Past the sizes of kernel_cases: the backends' GEMM paths (OpenCL: conv.cl's tiled GEMM per batch)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape, dtype=np.float32), rng.standard_normal(b_shape, dtype=np.float32)
    ref = kernels.run("matmul", "ref", a, b)
    for backend in [b for b in BACKENDS if b != "ref" and kernels.backend_usable(b)[0]]:
        assert_close(kernels.run("matmul", backend, a, b), ref)


@pytest.mark.parametrize("hw, c, k, stride, pads", [
    ((64, 64), 5, 3, 1, 1),  # row-wise planes (Cython without AVX-512 or AVX2: depthwise_plane)
    ((131, 130), 3, 3, 2, 1), ((130, 131), 2, 3, 2, 0),  # row-wise at stride 2, odd widths (split columns)
    ((57, 57), 9, 3, 2, 1), ((23, 27), 11, 3, 1, 1), ((15, 15), 8, 5, 2, 2), ((20, 21), 16, 5, 1, 2),  # channel-
    ((9, 9), 3, 7, 1, 3),  # interleaved blocks: 3x3 and 5x5 unrolled, other windows
    ((112, 112), 3, 3, 2, (0, 0, 1, 1)), ((33, 47), 2, 7, 2, 3), ((40, 17), 3, 5, 1, (2, 1, 2, 3)),  # AVX-512, AVX2
    ((18, 35), 2, 3, 1, (0, 2, 1, 0)), ((29, 31), 2, 5, 2, (1, 2, 0, 2)),  # (deepx_dw.h): edges, uneven pads
    ((21, 70), 2, 7, 1, 3), ((36, 100), 2, 5, 2, (1, 2, 0, 2)), ((6, 300), 2, 3, 1, 1),  # AVX-512 planes of 3-16
])  # column blocks a step of rows at a time, wider ones a column block at a time
def test_depthwise_paths_past_the_kernel_cases(hw, c, k, stride, pads):
    """Depthwise convs large enough for each of the Cython kernel's paths (with AVX-512 every one is deepx_dw.h's:
    vectors of 16 outputs, masked at the plane's edges, or on small planes 16 channels a vector; with AVX2 vectors of 8
    outputs), on every backend."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, *hw), dtype=np.float32)
    w, b = rng.standard_normal((c, 1, k, k), dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
    attrs = dict(groups=c, stride=stride, pads=pads, act="relu")
    ref = kernels.run("conv2d", "ref", x, w, b, **attrs)
    for backend in [b for b in BACKENDS if b != "ref" and kernels.backend_usable(b)[0]]:
        assert_close(kernels.run("conv2d", backend, x, w, b, **attrs), ref)


@pytest.mark.parametrize("c, k, hw, window, stride, pads, act", [
    (16, 40, (55, 55), 3, 1, (1, 1, 1, 1), "relu"),  # 8-row panels, 48-wide tiles (64 channels: the lanes)
    (48, 36, (13, 17), 3, 1, (1, 0, 2, 1), "relu6"),  # k = 432: two k blocks; 12-row panels; uneven pads
    (5, 13, (20, 37), 5, 1, (2, 1, 0, 3), "silu"),  # 5x5, an activation after the kernel
    (32, 8, (9, 70), (1, 7), 1, (0, 3, 0, 3), "none"),  # a 1x7 window
    (1, 64, (131, 130), 7, 2, (3, 3, 3, 3), "relu"),  # a grey 7x7 / 2 stem: 4 phases, blocks of output rows
    (2, 32, (40, 41), 5, 2, (2, 2, 2, 2), "silu"), (1, 8, (19, 12), 5, 2, (0, 1, 2, 0), "none"),  # odd sizes
    (48, 60, (7, 7), 3, 1, (1, 1, 1, 1), "relu6"),  # 7x7 outputs: 2 threads share the panels, not the columns
])
def test_direct_conv_past_the_kernel_cases(c, k, hw, window, stride, pads, act):
    """Convs of few input channels at stride 1 or 2 large enough for the Cython kernel's direct path (an implicit GEMM
    over the input's padded grid, split into 4 phases at stride 2, with the packed GEMM's tiles; else Winograd, the
    channels in lanes or im2col), at 1 and 2 threads, on every backend."""
    _conv_on_every_backend(c, k, hw, window, dict(stride=stride, pads=pads, act=act))


@pytest.mark.parametrize("c, k, hw, attrs", [
    (7, 40, (13, 13), dict(stride=2, pads=(1, 0, 2, 1))),  # 3x3 / 2 im2col rows: masked stride-2 segments, padding
    (140, 30, (7, 7), dict(stride=1, pads=(1, 1, 1, 1), groups=2)),  # 49 outputs: 32 + 17 columns, k = 630 in blocks
    (64, 26, (12, 11), dict(stride=1, pads=(2, 2, 2, 2), dilation=(2, 2), groups=2)),  # dilated: 132 outputs, 4 over
    (6, 20, (15, 16), dict(stride=3, pads=(1, 1, 1, 1))),  # stride 3: the scalar rows
])
def test_im2col_conv_past_the_kernel_cases(c, k, hw, attrs):
    """3x3 convs that neither Winograd, the direct path nor the channels in lanes take (two groups, or fewer than 64
    taps), at stride 1 to 3, through im2col + the packed GEMM, their output tiles 1 to 4 columns short of a vector, at
    1 and 2 threads, on every backend."""
    _conv_on_every_backend(c, k, hw, 3, dict(attrs, act="relu"))


@pytest.mark.parametrize("c, k, hw, attrs", [
    (96, 40, (7, 7), dict(act="relu6", residual=True)),  # 49 columns on 8-row panels: 48 + 1, a residual and a clip
    (300, 24, (5, 10), dict(act="relu")),  # 50: 48 + 2, k = 300 in two blocks (the last two's sums gathered back)
    (20, 36, (3, 11), dict(act="none")),  # 33 on 12-row panels: 32 + 1
    (20, 30, (2, 9), dict(act="relu", residual=True)),  # 18: one vector + 2
])
def test_pointwise_conv_last_columns_ride_on_the_last_tile(c, k, hw, attrs):
    """1x1 convs through the packed GEMM whose last one or two columns past a tile of vectors are computed in that
    tile (the panel's rows in the lanes of one more accumulator each: deepx_cols), at 1 and 2 threads, on every
    backend."""
    _conv_on_every_backend(c, k, hw, 1, attrs)


@pytest.mark.parametrize("c, k, hw, window, attrs", [
    (3, 64, (131, 130), 7, dict(stride=2, pads=(3, 3, 3, 3))),  # a 7x7 / 2 stem: a padded copy, 65-wide rows
    (67, 40, (13, 13), 3, dict(stride=2, pads=(1, 0, 2, 1))),  # 40 channels: a block of 3 vectors, the last masked
    (16, 100, (40, 41), 5, dict(stride=2, pads=(2, 2, 2, 2), act="silu")),  # 2 blocks, the activation in a pass after
    (130, 70, (15, 16), 3, dict(stride=3, pads=(1, 1, 1, 1), residual=True)),  # 1170 taps: 19 passes; a residual
    (40, 20, (15, 15), 3, dict(stride=2, pads=(0, 0, 0, 0), residual=True)),  # windows inside x: read in place
    (64, 96, (28, 28), 3, dict(stride=1, pads=(1, 1, 1, 1))),  # Winograd's at 1 thread, the lanes' at 2
    (70, 30, (7, 7), 3, dict(stride=1, pads=(1, 1, 1, 1))),  # 49 outputs (stride 1, too few for Winograd)
    (16, 64, (55, 55), 3, dict(stride=1, pads=(1, 1, 1, 1))),  # SqueezeNet's expand: over the direct path
    (64, 26, (12, 11), 3, dict(stride=1, pads=(2, 2, 2, 2), dilation=(2, 2))),  # dilated taps
    (9, 17, (20, 23), (3, 5), dict(stride=(2, 1), pads=(1, 2, 0, 2), act="relu6")),  # uneven window and strides
])
def test_lanes_conv_past_the_kernel_cases(c, k, hw, window, attrs):
    """Convs the Cython kernel runs with the output channels in the vector lanes (strided, or stride-1 ones Winograd
    and the direct path do not take; 64 taps or more): tiles of 6 output pixels across rows, channels past a vector,
    several passes over the taps, a residual and activations, at 1 and 2 threads, on every backend."""
    _conv_on_every_backend(c, k, hw, window, dict(attrs, act=attrs.get("act", "relu")))


@pytest.mark.parametrize("c, k, hw, attrs", [
    (64, 64, (28, 28), dict(act="silu")),  # 7 x 7 tiles of 4x4: F(4x4,3x3) with AVX-512, one block; silu in a pass
    (96, 70, (30, 29), dict(act="relu6", residual=True)),  # sides past whole tiles (zeros read, outputs cut); residual
    (64, 128, (57, 56), dict(act="none")),  # 15 x 14 tiles: blocks of tile rows, 14 tiles a row (a masked step)
    (128, 64, (14, 14), dict(act="relu")),  # 16 tiles of 4x4: F(2x2,3x3) stays
    (64, 48, (6, 40), dict(act="relu6")),  # F(2x2,3x3), 20 tiles a row: two steps of its row transforms
    (128, 40, (9, 27), dict(act="none", residual=True)),  # F(2x2,3x3), odd sides: outputs cut
])
def test_winograd_past_the_kernel_cases(c, k, hw, attrs):
    """3x3 stride-1 convs the Cython kernel runs as Winograd: F(4x4,3x3) with AVX-512 on planes of 7 x 7 tiles of 4x4
    or more, else F(2x2,3x3) (with AVX-512 both transform along a row 16 tiles a step); at 1 and 2 threads, on every
    backend."""
    _conv = pytest.importorskip("deepx.kernels.cython._conv")
    from deepx.kernels.cython import isa

    p, q = hw
    tiles4 = -(-p // 4) * -(-q // 4)
    four = "avx512f" in isa.cpu_flags() and tiles4 >= 49
    products = _conv.winograd_products(c, p, q, k, 3, 3, 1, (1, 1), (1, 1, 1, 1), (1, 1))
    assert products == (36 * tiles4 if four else 16 * -(-p // 2) * -(-q // 2))
    _conv_on_every_backend(c, k, hw, 3, dict(attrs, stride=1, pads=(1, 1, 1, 1)))


def _conv_on_every_backend(c, k, hw, window, attrs):
    rng = np.random.default_rng(0)
    r, s = (window, window) if np.isscalar(window) else window
    attrs = dict(attrs)
    residual = attrs.pop("residual", False)
    x = rng.standard_normal((1, c, *hw), dtype=np.float32)
    w = rng.standard_normal((k, c // attrs.get("groups", 1), r, s), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    ref = kernels.run("conv2d", "ref", x, w, b, **attrs)
    z = rng.standard_normal(ref.shape, dtype=np.float32) if residual else None
    if residual:
        ref = kernels.run("conv2d", "ref", x, w, b, z, **attrs)
    try:
        for threads in (1, 2):
            kernels.set_threads(threads)
            for backend in [b for b in BACKENDS if b != "ref" and kernels.backend_usable(b)[0]]:
                assert_close(kernels.run("conv2d", backend, x, w, b, z, **attrs), ref)
    finally:
        kernels.set_threads(0)


@pytest.mark.parametrize("c, hw, window, stride, pads, act", [
    (40, (7, 7), 3, 1, (1, 1, 1, 1), "relu6"),  # MobileNetV2's 7x7 planes: 2 blocks of 16 channels and one of 8
    (20, (14, 13), 5, 2, (2, 1, 2, 2), "silu"),  # stride 2, uneven pads, an activation after the kernel
    (17, (5, 9), 3, 1, (1, 0, 1, 2), "none"),  # a row of 9 outputs: column blocks of 8 and 1
    (3, (8, 8), 7, 1, (3, 3, 3, 3), "relu"),  # a 7x7 window, one partial block
    (13, (14, 14), 3, 2, (0, 0, 1, 1), "relu"),  # stride 2, padding after only; with AVX2 a block of 5 channels
    (10, (6, 9), 5, 1, (2, 2, 2, 2), "none"),  # 5x5; with AVX2 rows of 9 inputs read as 8 + 1
    (9, (8, 8), 7, 1, (3, 3, 3, 3), "hardswish"),  # 64 outputs from a 14 x 14 padded tile
    (24, (14, 14), 3, 1, (1, 1, 1, 1), "relu6"),  # AVX2's 14x14 outputs: rows of 8 + 6, three blocks of 8 channels
    (11, (14, 14), 7, 1, (3, 3, 3, 3), "relu"),  # AVX2's largest: 196 outputs from a 20 x 20 padded tile
    (8, (15, 13), 3, 2, (1, 0, 1, 1), "none"),  # stride 2, an odd plane, padding before on one side only
])
def test_depthwise_lanes_past_the_kernel_cases(c, hw, window, stride, pads, act):
    """Depthwise convs on small planes (deepx_dw.h's channels in the lanes: with AVX-512 16 a vector for <= 64
    outputs, with AVX2 8 for <= 196, through transposes and a zero-padded tile), at 1 and 2 threads, on every
    backend."""
    _conv_on_every_backend(c, c, hw, window, dict(stride=stride, pads=pads, groups=c, act=act))


@pytest.mark.parametrize("hw, k, stride, pads, ceil", [
    ((111, 111), 3, 2, (0, 0, 0, 0), True), ((112, 112), 3, 2, (1, 1, 1, 1), False),  # ResNet's, SqueezeNet's
    ((55, 70), 3, 2, (0, 1, 0, 1), True), ((35, 34), 3, 2, (1, 0, 1, 1), False),
    ((28, 28), 3, 1, (1, 1, 1, 1), False), ((14, 37), 3, 1, (1, 0, 1, 1), True),  # inception modules'
    ((56, 56), 2, 2, (0, 0, 0, 0), False), ((33, 19), 2, 1, (1, 1, 0, 1), True),  # DenseNet's transitions
    ((10, 10), 5, 1, (2, 2, 2, 2), False), ((21, 18), 5, 2, (2, 1, 2, 2), True),  # YOLOv8's SPPF, 5x5 at stride 2
    ((7, 7), 7, 1, (0, 0, 0, 0), False), ((7, 7), 7, 2, (0, 0, 0, 0), True),  # ResNet's last: the whole plane
])
@pytest.mark.parametrize("op", ["maxpool2d", "avgpool2d", "avgpool2d_count_pad"])
def test_pooling_past_the_kernel_cases(op, hw, k, stride, pads, ceil):
    """Max and average pooling on rows long enough for the Cython kernel's vector path (16 outputs a step with
    AVX-512, 8 with AVX2), with padding and ceil_mode at both ends of a row, on every backend."""
    x = np.random.default_rng(0).standard_normal((1, 3, *hw), dtype=np.float32)
    attrs = dict(kernel=(k, k), stride=(stride, stride), pads=pads, ceil_mode=ceil)
    if op.startswith("avgpool2d"):
        op, attrs = "avgpool2d", dict(attrs, count_include_pad=op.endswith("count_pad"))
    ref = kernels.run(op, "ref", x, **attrs)
    for backend in [b for b in BACKENDS if b != "ref" and kernels.backend_usable(b)[0]]:
        assert_close(kernels.run(op, backend, x, **attrs), ref)


def packed_gemm_kind(_conv):
    """Which packed GEMM the convs have here: "avx512", "avx2" (AVX2 and no AVX-512) or None (BLAS only, as with
    DEEPX_GEMM=blas)."""
    one = np.ones((1, 1), np.float32)
    for level, kind in ((2, "avx512"), (1, "avx2")):
        try:
            _conv.packed_gemm(one, one, level=level)
            return kind
        except ValueError:
            pass
    return None


@pytest.mark.parametrize("c, k, hw, window, attrs, over, over_avx2", [
    (64, 96, (14, 14), 1, dict(act="relu"), True, True),  # a 1x1 conv's packed GEMM in one k block (AVX2: lanes)
    (16, 48, (30, 30), 1, dict(act="relu6"), True, True),  # 16 channels: AVX2's too
    (300, 40, (7, 7), 1, dict(), False, True),  # 300 channels: two k blocks, the first written before the residual
    # (AVX2: the lanes GEMM, its last panel of 8 rows)
    (300, 80, (7, 7), 1, dict(act="relu"), False, True),  # AVX2's lanes GEMM keeps its k blocks' sums aside
    (3, 32, (20, 20), 3, dict(stride=2, pads=1), True, True),  # im2col, 27 taps: the packed GEMM (AVX2's too)
    (24, 64, (15, 15), 3, dict(stride=2, pads=1, act="silu"), True, True),  # lanes (AVX2: of the GEMM); an act after
    (40, 40, (9, 10), 3, dict(stride=1, pads=(0, 1, 2, 0), groups=2), True, False),  # im2col tiles, two groups
    (128, 128, (14, 14), 3, dict(pads=1), False, False),  # Winograd: the residual added after the output is written
    (64, 96, (28, 28), 3, dict(pads=1), False, False),  # Winograd at 1 thread, the lanes at 2: not at every count
    (16, 32, (20, 20), 3, dict(pads=1), False, False),  # the direct path: likewise
])
def test_conv_over_its_residual(c, k, hw, window, attrs, over, over_avx2):
    """The Cython conv may write its output over its residual (one buffer, as the executor lays out a residual that
    dies at the conv) exactly where its kernel reads each residual value before it writes that output (with
    AVX-512: the channels in lanes, the packed GEMM in one k block; with AVX2 and no AVX-512: the 6x16 GEMM, taken by
    convs of up to 32 taps, and the 16x6 one with the output channels in the lanes, taken by convs on small planes);
    there its result is the reference's."""
    _conv = pytest.importorskip("deepx.kernels.cython._conv")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, c, *hw), dtype=np.float32)
    w = rng.standard_normal((k, c // attrs.get("groups", 1), window, window), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    _, canon, shape = kernels.check("conv2d", [x, w, b], attrs)
    z = rng.standard_normal(shape, dtype=np.float32)
    over = {"avx512": over, "avx2": over_avx2, None: False}[packed_gemm_kind(_conv)]  # BLAS writes first
    shapes = [x.shape, w.shape, b.shape, z.shape]
    assert kernels.over_residual("conv2d", "cython", shapes, canon) == over
    assert not any(kernels.over_residual("conv2d", other, shapes, canon)  # no such hook: never
                   for other in ("numba", "ref") if kernels.backend_usable(other)[0])
    ref = kernels.run("conv2d", "ref", x, w, b, z, **attrs)
    try:
        for threads in (1, 2) if over else ():
            kernels.set_threads(threads)
            y = z.copy()
            assert kernels.run("conv2d", "cython", x, w, b, y, out=y, **attrs) is y
            assert_close(y, ref)
    finally:
        kernels.set_threads(0)


@pytest.mark.parametrize("level", [2, 3, 1, 4], ids=["12-rows", "8-rows", "avx2-6-rows", "avx2-16-lanes"])
def test_packed_gemm_every_edge(level):
    """The convs' packed GEMM kernel (AVX-512 12x32 or 8x32 + the transposed tile of the last few columns; AVX2
    6x16 + a masked tile of the last few; AVX2 16x6 with the rows in the lanes, its tiles 1 to 6 columns wide) against
    numpy: rows past whole panels, every column remainder, k past one block, bias, a clip in the kernel and another
    activation after it, one and two threads."""
    _conv = pytest.importorskip("deepx.kernels.cython._conv")
    from deepx.kernels.common import NAMED_ACTS

    rng = np.random.default_rng(0)
    # (40, 300, 1405): b in blocks of 288 columns and a last of 253 (over 384 KB, 32 rows or more); (40, 1000, 150):
    # two threads split b's few columns (b over 512 KB); (100, 24, 300): widening, each thread a run of row panels
    for m, k, n in [(1, 1, 1), (13, 37, 45), (25, 300, 49), (64, 600, 196), (7, 9, 17), (30, 40, 1100),
                    (40, 300, 1405), (40, 1000, 150), (100, 24, 300)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        bias = rng.standard_normal(m, dtype=np.float32)
        for act, fn in [("none", lambda v: v), ("relu6", lambda v: np.clip(v, 0, 6)),
                        ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))]:
            for threads in (1, 2):
                try:
                    got = _conv.packed_gemm(a, b, bias, NAMED_ACTS[act], level, threads)
                except ValueError as e:
                    pytest.skip(str(e))
                want = fn(a.astype(np.float64) @ b + bias[:, None])
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k), err_msg=f"{m, k, n, act}")


def test_capability_check_from_source_agrees_with_the_modules():
    """kernels.supports reads a backend's sources where it cannot load (planning for a board's GPU elsewhere):
    on every backend that loads here, the sources name exactly the kernels the modules have."""
    from deepx.kernels.registry import in_source

    for b in [b for b in BACKENDS if kernels.backend_usable(b)[0]]:
        for op in OPS:
            try:
                kernels.lookup(op, b)
                present = True
            except KernelError:
                present = False
            assert in_source(op, b) == present, (op, b)
