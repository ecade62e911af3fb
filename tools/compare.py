"""`deepx compare`: the README's performance table. deepx against ONNX Runtime on onnx's nine light models
(random He-initialised weights) at each thread count: latency ratio and largest output difference, peak
activation memory against the sum of all tensors; with --rlc, AlexNet and VGG19 compressed by deepx, with
ONNX Runtime on the same compressed model and on the uncompressed one; with peers (--against mnn ncnn), those
engines on the same file too. A model is a light or modern one by name, or a zoo model (mobilenet-v2: trained)."""
import os

from .. import kernels
from ..config import CACHE_DIR
from ..errors import DeepxError
from ..models import io, light, load, zoo
from ..runtime.executor import Executor
from .runner import against_onnxruntime

RLC_MODELS = ("bvlc_alexnet", "vgg19")


def names() -> list:
    """The models compare takes: onnx's light ones, issue 15's modern ones, and the zoo's trained ones."""
    return light.names() + list(light.modern()) + list(zoo.MODELS)


def model_path(name: str) -> str:
    """A zoo model's file, else a light or modern model's He-initialised one."""
    if name not in names():
        raise DeepxError(f"deepx compare: no model {name!r} (models: {', '.join(names())})")
    return zoo.path(name) if name in zoo.MODELS else light.path(name)


def rel_diff(r: dict, suffix: str = "") -> float:
    """A row's largest output difference / max(1, largest output) (`suffix` "_uncompressed": against ORT on the
    uncompressed model; "_mnn", "_ncnn": a peer's against ORT)."""
    return r["max_abs_diff" + suffix] / max(1.0, r.get("max_abs_onnxruntime" + suffix, r["max_abs_onnxruntime"]))


def compressed(name: str, budget: float) -> str:
    """The light model `name` compressed by RLC at `budget` (written once, cached)."""
    from ..models import compress
    from ..models.onnx_export import save_onnx

    out = os.path.join(CACHE_DIR, "light", f"{name}-he-rlc{budget:g}.onnx")
    if not os.path.exists(out):
        g, _ = compress.compress_to(compress.job(light.path(name)), budget, None, "auto")
        save_onnx(g, out + ".part.onnx")
        os.replace(out + ".part.onnx", out)
    return out


def rows(models, threads, seconds: float, rlc_budget: float | None, progress=None, peers=()):
    """One row per (model, threads, variant) with the `deepx bench` keys (and the peers'), the model and the
    variant."""
    models = models or light.names()
    todo = [(m, "uncompressed") for m in models]
    if rlc_budget is not None:
        todo += [(m, f"rlc {rlc_budget:g}") for m in models if m in RLC_MODELS]
    for model, variant in (progress(todo) if progress else todo):
        reference = model_path(model)
        ours = compressed(model, rlc_budget) if variant != "uncompressed" else reference
        g = load.load_model(ours)
        feeds = io.random_inputs(g)
        ex = Executor(g)
        try:
            for n in threads:
                kernels.set_threads(n)
                yield dict(model=model, variant=variant,
                           **against_onnxruntime(ours, g, feeds, ex, n, seconds, peers=peers,
                                                 uncompressed=reference if ours != reference else None))
        finally:
            ex.close()
