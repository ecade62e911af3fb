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
@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    ("dense", (np.zeros((2, 5), np.float32), np.zeros((3, 4), np.float32)), {}, "input features"),
    ("dense", (np.zeros((2, 5), np.float32), np.zeros((3, 5), np.float32)), dict(act="gelu"), "activation"),
    ("maxpool2d", (x4,), dict(kernel=2, pads=2), "padding"),
    ("add", (x4, np.zeros((3,), np.float32)), {}, "broadcast"),
    ("softmax", (x4,), dict(axis=4), "axis"),
    ("transpose", (x4,), dict(perm=(0, 1, 1, 2)), "permutation"),
    ("conv2d", (x4, np.zeros((2, 4, 3, 3), np.float32)), dict(strides=2), "unknown attribute"),
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
