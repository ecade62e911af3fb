"""`deepx compare` / `deepx bench`'s timing against ONNX Runtime: like with like (the same model, threads and
waiting policy on both sides), and both settings reported."""
import numpy as np
import pytest

from deepx.errors import DeepxError
from deepx.models import zoo
from deepx.models.onnx_export import to_onnx
from deepx.runtime.executor import Executor
from deepx.tools import bench_executor, bench_kernels, compare, runner
from deepx.tools.commands.run import compare_line


@pytest.mark.parametrize("env, spins", [({"GOMP_SPINCOUNT": "20000", "OMP_WAIT_POLICY": "PASSIVE"}, True),
                                        ({"GOMP_SPINCOUNT": "0", "OMP_WAIT_POLICY": "PASSIVE"}, False),
                                        ({"GOMP_SPINCOUNT": "10k"}, True), ({"OMP_WAIT_POLICY": "passive"}, False),
                                        ({}, True)])
def test_onnxruntime_waits_as_deepx_does(monkeypatch, env, spins):
    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    w = bench_kernels.waiting()
    assert w["deepx"]["spins"] is spins
    assert w["onnxruntime"]["session.intra_op.allow_spinning"] == ("1" if spins else "0")
    line = bench_kernels.waiting_line(w)
    assert "deepx" in line and "allow_spinning" in line and "GOMP_SPINCOUNT" in line


def test_rlc_rows_time_onnxruntime_on_both_models(tmp_path):
    """ONNX Runtime runs the model deepx runs (the compressed one) and, beside it, the uncompressed one."""
    small = bench_executor.chain(3)
    paths = [str(tmp_path / "compressed.onnx"), str(tmp_path / "uncompressed.onnx")]  # the same chain, twice
    for path in paths:
        with open(path, "wb") as f:
            f.write(to_onnx(small).SerializeToString())
    ex = Executor(small)
    try:
        feeds = {"x": np.ones((1, 8), np.float32)}
        r = runner.against_onnxruntime(paths[0], small, feeds, ex, 1, 0.01, min_runs=2, uncompressed=paths[1])
    finally:
        ex.close()
    assert r["max_abs_diff"] < 1e-5 and r["max_abs_diff_uncompressed"] < 1e-5
    assert r["onnxruntime_ms"] > 0 and r["onnxruntime_uncompressed_ms"] > 0
    assert r["speed_vs_onnxruntime_uncompressed"] == pytest.approx(r["onnxruntime_uncompressed_ms"] / r["deepx_ms"])
    assert r["waiting"] == bench_kernels.waiting()
    row = compare_line(dict(r, model="chain", variant="rlc 0.6"))
    assert len(row.split()) == 13  # "rlc 0.6" is two words
    plain = {k: v for k, v in r.items() if "uncompressed" not in k}
    assert len(compare_line(dict(plain, model="chain", variant="uncompressed")).split()) == 9


def test_compare_takes_the_zoo_models_by_name():
    assert compare.model_path("mobilenet-v2") == zoo.path("mobilenet-v2")
    assert {"mobilenet-v2", "squeezenet", "mobilenet_v3_large"} <= set(compare.names())
    with pytest.raises(DeepxError, match="no model 'nope' .*mobilenet-v2"):
        compare.model_path("nope")
