"""`deepx plan --error-budget`: RLC compression levels and placement chosen together, and the compressed
model that the plan runs. With a promise (`limit`: accuracy or agreement loss on validation data) the error
budget is the largest that keeps it, found by models.compress.back_off over joint plans, each layer's errors weighed
by its measured sensitivity (models.compress.sensitivities).

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
                  planner=None, calibration=None, samples=32, method="auto", seed=0, layers=None, limit=None,
                  job=None) -> dict:
    """The plan of the compressed model written to `output` (ONNX), with a `compression` section: the
    layers chosen, their estimated and measured errors, and the uncompressed model's best plan (None if
    only a compressed model meets the limits) and single-processor baselines. `layers` reuses
    compress.candidates' result for `g`; `limit` ("accuracy" | "agreement", loss) replaces the error budget by
    the largest that keeps that promise on the validation data; `job` (compress.job's) gives the data."""
    if error_budget < 0:
        raise PL.PlanError(f"error budget must be >= 0, got {error_budget:g}")
    if Path(output).resolve() == Path(model).resolve():
        raise PL.PlanError(f"{output}: the compressed model would overwrite the model; give another "
                           f"--compressed-output")
    job = job or compress.job(str(model), calibration, samples, seed, graph=g)
    layers = layers or compress.candidates(g, job.fit.inputs, method, seed)
    promise = compress.Limit(*limit, g, job.validation) if limit else None
    weights = compress.sensitivities(g, layers, job.validation) if limit else [1.0] * len(layers)
    variants = {layer.node.name: [PL.Variant(*compress.lowrank_node(layer.node, c), c.error * w)
                                  for c in layer.candidates] for layer, w in zip(layers, weights)}
    source = file_sha256(model)

    def trial(budget):
        joint = make_plan(g, source, board, objective, deadline_ms, memory_mb, planner, variants, budget)
        chosen = {}
        for layer in layers:
            step = next(b for b in joint["blocks"] if b["nodes"][0] == layer.node.name)
            if step["variant"] >= 0:
                chosen[layer.node.name] = layer.candidates[step["variant"]]
        return chosen, compress.apply(g, chosen), joint

    if limit:
        hi = max([v.error for vs in variants.values() for v in vs] or [0.0]) * len(layers)
        error_budget, (chosen, small, joint), loss = compress.back_off(trial, promise, hi)
    else:
        chosen, small, joint = trial(error_budget)
    try:
        plain = make_plan(g, source, board, objective, deadline_ms, memory_mb, planner)["predicted"]
    except PL.PlanError:  # the limits are met only compressed
        plain = None
    save_onnx(small, output)
    plan = make_plan(load.load_model(output, {n: g.shapes[n] for n in g.inputs}), file_sha256(output), board,
                     objective, deadline_ms, memory_mb, planner)
    measured = compress.measured_errors(g, small, job.validation.part(0, compress.MEASURED, "").inputs)
    rows = [dict(compress.layer_row(layer, chosen.get(layer.node.name)), measured_error=measured.get(layer.node.name))
            for layer in layers]
    plan["compression"] = dict(
        model=dict(name=g.name, sha256=source), output=str(output), error_budget=error_budget,
        data=dict(fit=job.fit.about, validation=job.validation.about, test=job.test and job.test.about),
        estimated_error=joint["predicted"]["error"], **compress.sizes(g, small), layers=rows,
        joint_predicted=joint["predicted"], uncompressed=dict(predicted=plain, baselines=joint["baselines"]))
    if promise:
        plan["compression"]["limit"] = dict(kind=promise.kind, value=promise.value, validation_loss=loss)
    plan["compression"]["test"] = compress.figures(job, g, small)
    return plan
