"""`deepx plan --error-budget`: RLC compression levels and placement chosen together, and the compressed
model that the plan runs.

Each compressible layer's RLC candidates (models.compress: rank, FLOPs, estimated error on calibration
data) become planner variants; the planner picks one option per block, variants included, under the
error budget. The chosen factors are then computed and written as ONNX; the plan is the placement of
that file's graph (it imports as the same blocks, so its prediction equals the joint optimum), and its
model hash is the file's, so `deepx emulate COMPRESSED.onnx --plan PLAN.json` runs it.
"""
from pathlib import Path

from ..models import compress, load
from ..models.onnx_export import save_onnx
from . import planner as PL
from .plan import file_sha256, make_plan


def plan_with_rlc(model, g, board, error_budget, output, objective="energy", deadline_ms=None, memory_mb=None,
                  planner=None, calibration=None, samples=32, method="auto", seed=0, layers=None) -> dict:
    """The plan of the compressed model written to `output` (ONNX), with a `compression` section: the
    layers chosen, their estimated and measured errors, and the uncompressed model's best plan (None if
    only a compressed model meets the limits) and single-processor baselines. `layers` reuses
    compress.candidates' result for `g`."""
    if error_budget < 0:
        raise PL.PlanError(f"error budget must be >= 0, got {error_budget:g}")
    if Path(output).resolve() == Path(model).resolve():
        raise PL.PlanError(f"{output}: the compressed model would overwrite the model; give another "
                           f"--compressed-output")
    job = compress.job(str(model), calibration, samples, seed, graph=g)
    layers = layers or compress.candidates(g, job.calibration, method, seed)
    variants = {layer.node.name: [PL.Variant(*compress.lowrank_node(layer.node, c), c.error)
                                  for c in layer.candidates] for layer in layers}
    source = file_sha256(model)
    joint = make_plan(g, source, board, objective, deadline_ms, memory_mb, planner, variants, error_budget)
    try:
        plain = make_plan(g, source, board, objective, deadline_ms, memory_mb, planner)["predicted"]
    except PL.PlanError:  # the limits are met only compressed
        plain = None
    chosen = {}
    for layer in layers:
        step = next(b for b in joint["blocks"] if b["nodes"][0] == layer.node.name)
        if step["variant"] >= 0:
            chosen[layer.node.name] = layer.candidates[step["variant"]]
    small = compress.apply(g, chosen)
    save_onnx(small, output)
    plan = make_plan(load.load_model(output, {n: g.shapes[n] for n in g.inputs}), file_sha256(output), board,
                     objective, deadline_ms, memory_mb, planner)
    measured = compress.measured_errors(g, small, job.held_out)
    rows = [dict(compress.layer_row(layer, chosen.get(layer.node.name)), measured_error=measured.get(layer.node.name))
            for layer in layers]
    plan["compression"] = dict(
        model=dict(name=g.name, sha256=source), output=str(output), error_budget=error_budget,
        calibration=str(calibration) if calibration else f"{samples} random normal samples",
        estimated_error=joint["predicted"]["error"], **compress.sizes(g, small), layers=rows,
        joint_predicted=joint["predicted"], uncompressed=dict(predicted=plain, baselines=joint["baselines"]))
    return plan
