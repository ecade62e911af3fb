"""deepx.testing: check a deployment in your own tests (the pytest plugin's fixtures are in `plugin`).

Each `assert_*` raises AssertionError with what was expected, what was found, by how much, and what to try;
they need no pytest. Latency, energy and memory of a plan are the board's cost model (modelled, not
measured); an energy read by a meter says whether the meter was an emulator replaying that model.
"""
from pathlib import Path

import numpy as np

from .board import Board, Meter, Run, blocked_env

__all__ = ["Board", "Meter", "Run", "assert_compression_keeps", "assert_energy", "assert_matches_onnxruntime",
           "assert_outputs_close", "assert_plan_fits", "blocked_env", "deepx_outputs", "onnxruntime_outputs",
           "plan_memory"]

MB = 2 ** 20


def _feeds(model, inputs) -> dict:
    """`inputs` (an array for a one-input model, or {name: array}) keyed by the model's input names."""
    if isinstance(inputs, dict):
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}  # older exporters list them as inputs too
    names = [i.name for i in graph.input if i.name not in weights]
    if len(names) != 1:
        raise ValueError(f"{model} has inputs {', '.join(names)}: give inputs as {{name: array}}")
    return {names[0]: np.ascontiguousarray(inputs, dtype=np.float32)}


def onnxruntime_outputs(model, inputs) -> dict:
    """{output name: array} from ONNX Runtime (CPU) for `inputs` (an array or {name: array})."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError("comparing with ONNX Runtime needs it: pip install onnxruntime") from None
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, _feeds(model, inputs))))


def deepx_outputs(model, inputs, backend: str = "auto") -> dict:
    """{output name: array} from deepx's sequential executor, the model loaded at the inputs' shapes."""
    from ..models import execute, load

    feeds = _feeds(model, inputs)
    g = load.load_model(str(model), {k: v.shape for k, v in feeds.items()})
    return execute.run_graph(g, feeds, backend)


def assert_outputs_close(got: dict, expected: dict, atol: float = 1e-4, rtol: float = 1e-3, what="deepx",
                         against="ONNX Runtime"):
    """Every output of `expected` is in `got` and within atol + rtol * |expected| of it."""
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{what} gives no output {', '.join(missing)} (it gives {', '.join(sorted(got))})"
    for name, want in expected.items():
        have = np.asarray(got[name])
        assert have.shape == want.shape, (f"output {name!r}: {what} gives shape {have.shape}, {against} "
                                          f"{want.shape}: check the input shapes and the model file")
        err = np.abs(have.astype(np.float64) - want) - (atol + rtol * np.abs(want))
        if np.isnan(have).any() != np.isnan(want).any() or (err > 0).any():
            i = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape)
            diff = np.nanmax(np.abs(have.astype(np.float64) - want))
            raise AssertionError(
                f"output {name!r}: {what} differs from {against} by up to {diff:.3g} (at {tuple(map(int, i))}: "
                f"{what} {have[i]:.6g}, {against} {want[i]:.6g}); allowed atol {atol:g} + rtol {rtol:g} x |value|, "
                f"{int((err > 0).sum())} of {err.size} values are out. Try backend='ref' (float64) to tell a kernel's "
                f"rounding from a conversion error; loosen atol/rtol only if the gap is rounding")


def assert_matches_onnxruntime(model, inputs, atol: float = 1e-4, rtol: float = 1e-3, backend: str = "auto") -> dict:
    """deepx's outputs for `inputs` equal ONNX Runtime's within atol + rtol * |value|; returns deepx's."""
    got = deepx_outputs(model, inputs, backend)
    assert_outputs_close(got, onnxruntime_outputs(model, inputs), atol, rtol, what=f"deepx ({backend})")
    return got


def _plan_and_graph(plan, model, input_shapes):
    from ..models import load
    from ..runtime.plan import file_sha256, load_plan

    if isinstance(plan, (str, Path)):
        plan = load_plan(plan, file_sha256(model))
    return plan, load.load_model(str(model), input_shapes)


def plan_memory(plan: dict, model, input_shapes=None) -> dict:
    """{processor: bytes} the plan holds on each (weights and block outputs, as the planner counts them)."""
    from ..runtime import blocks as B

    plan, g = _plan_and_graph(plan, model, input_shapes)
    held = {}
    for b, step in zip(B.make_blocks(g), plan["blocks"]):
        for part in step["parts"]:
            lo, hi = part["channels"] or (None, None)
            share = 1.0 if lo is None else (hi - lo) / g.shapes[b.output][1]
            held[part["processor"]] = (held.get(part["processor"], 0) + B.weight_bytes(g, b, lo, hi)
                                       + B.tensor_bytes(g, b.output) * share)
    return held


def assert_plan_fits(plan, model, board, deadline_ms=None, energy_mj=None, memory_mb=None, input_shapes=None):
    """The plan (a dict or PLAN.json, made for `model`) meets a latency deadline, an energy per inference and a
    memory limit on `board` (a Board, or a board name): all three by the board's cost model."""
    from .. import boards

    profile = board.profile if isinstance(board, Board) else boards.load(board)
    plan, _ = _plan_and_graph(plan, model, input_shapes)
    p, name = plan["predicted"], profile.name
    fastest = min(plan["baselines"].items(), key=lambda kv: kv[1]["latency_ms"])
    leanest = min(plan["baselines"].items(), key=lambda kv: kv[1]["energy_mj"])
    problems = []
    if deadline_ms is not None and p["latency_ms"] > deadline_ms:
        problems.append(f"latency {p['latency_ms']:.3f} ms is over the deadline {deadline_ms:g} ms by "
                        f"{p['latency_ms'] - deadline_ms:.3f} ms (all on {fastest[0]}: "
                        f"{fastest[1]['latency_ms']:.3f} ms); try objective='latency' or deadline_ms= when "
                        f"planning, compression (error_budget=), or a faster board")
    if energy_mj is not None and p["energy_mj"] > energy_mj:
        problems.append(f"energy {p['energy_mj']:.3f} mJ per inference is over {energy_mj:g} mJ by "
                        f"{p['energy_mj'] - energy_mj:.3f} mJ (all on {leanest[0]}: {leanest[1]['energy_mj']:.3f} mJ); "
                        f"try objective='energy' or compression (error_budget=)")
    if memory_mb is not None:
        held = plan_memory(plan, model, input_shapes)
        rows = dict(held)
        if profile.shared_memory and len(held) > 1:
            rows["the board (shared)"] = sum(held.values())
        over = {k: v for k, v in rows.items() if v > memory_mb * MB}
        for where, need in over.items():
            problems.append(f"memory {need / MB:.2f} MB on {where} is over {memory_mb:g} MB by "
                            f"{(need - memory_mb * MB) / MB:.2f} MB (weights and block outputs); try memory_mb= "
                            f"when planning, or compression (error_budget=)")
    assert not problems, (f"plan for {plan['model']['name']} on {name} (modelled by the board's cost model, "
                          f"not measured): " + "; ".join(problems))


def assert_energy(run: Run, max_mj: float):
    """The energy per inference a meter read during `run` (Board.run with a meter) is at most `max_mj`. With an
    emulated meter the figure is the model read back through the meter, and the message says so."""
    e = run.energy_mj
    assert e is not None, "the run had no meter: pass meter= to Board.run"
    assert e <= max_mj, (f"energy per inference {e:.3f} mJ is over {max_mj:g} mJ by {e - max_mj:.3f} mJ "
                         f"({run.energy_how}); plan with objective='energy' or compress (error_budget=)")


def _top1(g, feeds) -> np.ndarray:
    from ..models.execute import run_samples

    return run_samples(g, feeds)[g.outputs[0]].reshape(len(next(iter(feeds.values()))), -1).argmax(axis=1)


def assert_compression_keeps(model, inputs, labels=None, error_budget: float = 0.05, max_accuracy_loss=None,
                             max_agreement_loss=None, calibration=None, compressed=None) -> dict:
    """RLC at `error_budget` (or the model file `compressed`) keeps top-1 accuracy on (inputs, labels) within
    `max_accuracy_loss`, and/or top-1 agreement with the uncompressed model within `max_agreement_loss`
    (fractions: 0.01 = one point). Calibrated on `calibration` (default: `inputs`). Returns the figures."""
    from ..models import compress, load
    from ..models.data import Data

    if max_accuracy_loss is None and max_agreement_loss is None:
        raise ValueError("give max_accuracy_loss= (with labels) or max_agreement_loss=")
    if max_accuracy_loss is not None and labels is None:
        raise ValueError("max_accuracy_loss needs labels: pass labels=, or use max_agreement_loss=")
    feeds = _feeds(model, inputs)
    one = {k: (1,) + v.shape[1:] for k, v in feeds.items()}
    g = load.load_model(str(model), one)
    if compressed is None:
        cal = _feeds(model, calibration if calibration is not None else inputs)
        n = len(next(iter(cal.values())))
        if n < 8:
            raise ValueError(f"{n} calibration samples: give at least 8 (fit, check, held out)")
        data = Data(cal, None, "calibration")
        job = compress.Job(g, data.part(0, n - n // 4, "calibration (fit)"),
                           data.part(n - n // 4, n, "calibration (validation)"))
        small, report = compress.compress_to(job, error_budget)
        ratio = report["flops_before"] / max(report["flops_after"], 1)
        how = f"RLC at error budget {error_budget:g} ({ratio:.1f}x fewer FLOPs)"
    else:
        small, how = load.load_model(str(compressed), one), f"{compressed}"
    before, after = _top1(g, feeds), _top1(small, feeds)
    n = len(before)
    figures = dict(samples=n, agreement=float((before == after).mean()))
    problems = []
    if max_agreement_loss is not None and 1 - figures["agreement"] > max_agreement_loss:
        problems.append(f"top-1 agreement with the uncompressed model is {figures['agreement']:.2%} "
                        f"({int((before != after).sum())} of {n} differ), the promise is >= "
                        f"{1 - max_agreement_loss:.2%} (short by {1 - figures['agreement'] - max_agreement_loss:.2%})")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        figures.update(accuracy_before=float((before == labels).mean()), accuracy_after=float((after == labels).mean()))
        loss = figures["accuracy_before"] - figures["accuracy_after"]
        if max_accuracy_loss is not None and loss > max_accuracy_loss:
            problems.append(f"accuracy falls from {figures['accuracy_before']:.2%} to {figures['accuracy_after']:.2%} "
                            f"({loss:.2%} lost), the promise is at most {max_accuracy_loss:.2%} (over by "
                            f"{loss - max_accuracy_loss:.2%})")
    assert not problems, (f"{how} on your {n} samples: " + "; ".join(problems) +
                          ". Try a lower error_budget, calibration data closer to what the model sees, or more of it")
    return figures
