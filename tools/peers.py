"""Peer engines beside ONNX Runtime (`deepx compare --against mnn ncnn`): MNN and ncnn run the ONNX file deepx
runs, converted once (cached in `${DEEPX_CACHE_DIR}/peers/<converter>-<version>/`, named by the file's sha256),
with the same thread count, in float32.

Conversion installs nothing and sends nothing: MNN's runs `_tools.mnnconvert`, the C++ MNNConvert that MNN's wheel
ships, not the `MNN.tools.mnnconvert` wrapper (its log module pip-installs aliyun-log-python-sdk and posts every
conversion to Alibaba's log service); ncnn's runs the `pnnx` executable in pnnx's wheel as a process, not pnnx's
Python module (which imports torch). Both convert the file `prepared` writes.
"""
import contextlib
import ctypes
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from ..config import CACHE_DIR
from ..errors import DeepxError
from ..runtime.plan import file_sha256

#: largest |peer - ONNX Runtime| / max(1, largest |ONNX Runtime|) of a peer that is timed
TOLERANCE = 1e-3


def prepared(onnx_path: str, dest: str):
    """Write the model as both converters read it right, with the same meaning: initializers out of graph.input
    (pnnx takes them for inputs); the lowest IR version its opsets allow, at least 4 (pnnx's ONNX Runtime reads up
    to 13, onnx 1.23 writes 14); every Softmax, LogSoftmax and Hardmax of opset < 13 written as its definition
    there, Flatten(axis) -> the op on 2-D -> Reshape back. Both converters read such a node without an axis as
    opset 13's axis -1: SqueezeNet's softmax over (1, 1000, 1, 1) became one over a single element, 1.0
    everywhere."""
    import onnx
    from onnx import helper

    model = onnx.load(onnx_path)
    g = model.graph
    weights = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in weights]
    del g.input[:]
    g.input.extend(inputs)
    model.ir_version = max(4, helper.find_min_ir_version_for(model.opset_import, ignore_unknown=True))
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        nodes = []
        for n in g.node:
            if n.op_type not in ("Softmax", "LogSoftmax", "Hardmax"):
                nodes.append(n)
                continue
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            x, y = n.input[0], n.output[0]
            nodes += [helper.make_node("Flatten", [x], [y + "/2d"], axis=axis),
                      helper.make_node(n.op_type, [y + "/2d"], [y + "/2d_out"], axis=1),
                      helper.make_node("Shape", [x], [y + "/shape"]),
                      helper.make_node("Reshape", [y + "/2d_out", y + "/shape"], [y])]
        del g.node[:]
        g.node.extend(nodes)
    onnx.save(model, dest)


def _module(name: str, pip: str):
    try:
        with _c_stdout_to_stderr():  # MNN prints the CPU's features on import
            return importlib.import_module(name)
    except ImportError:
        raise DeepxError(f"the peer needs the Python package {name!r}: {pip}") from None


@contextlib.contextmanager
def _c_stdout_to_stderr():
    """What C code prints to stdout (MNN's notes) goes to stderr meanwhile, so `--json` prints JSON alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def _converted(folder: str, onnx_path: str, suffixes, convert) -> list:
    """The files `convert(prepared_onnx, outputs)` writes for `onnx_path`, once: <sha256><suffix> in `folder`."""
    digest = file_sha256(onnx_path)
    folder = os.path.join(CACHE_DIR, "peers", folder)
    paths = [os.path.join(folder, digest + s) for s in suffixes]
    if not all(map(os.path.exists, paths)):
        os.makedirs(folder, exist_ok=True)
        work = tempfile.mkdtemp(dir=folder)
        try:
            prepared(onnx_path, os.path.join(work, "model.onnx"))
            parts = [os.path.join(work, "out" + s) for s in suffixes]
            convert(os.path.join(work, "model.onnx"), parts)
            for part, path in zip(parts, paths):
                os.replace(part, path)
        finally:
            shutil.rmtree(work)
    return paths


class MNN:
    """MNN's Module API on the MNNConvert'ed model: CPU backend, precision "high" (float32), numThread = threads."""

    pip, label = "pip install MNN", "MNN"

    @classmethod
    def about(cls) -> str:
        return (f"MNN {_module('MNN', cls.pip).version()}: MNNConvert without --fp16 or --weightQuantBits (float32 "
                f"weights), CPU backend, precision=high (float32), numThread = threads; its thread pool's workers "
                f"spin (yield) while a run lasts, then sleep")

    def __init__(self, onnx_path: str, feeds: dict, outputs: list, threads: int):
        mnn = _module("MNN", self.pip)
        tools = _module("_tools", self.pip)

        def convert(src, out):
            with _c_stdout_to_stderr():
                ok = tools.mnnconvert(["MNNConvert", "-f", "ONNX", "--modelFile", src, "--MNNModel", out[0],
                                       "--bizCode", "deepx"])
            if not ok or not os.path.exists(out[0]):
                raise DeepxError(f"{onnx_path}: MNNConvert failed (its messages above)")

        path, = _converted(f"mnn-{mnn.version()}", onnx_path, [".mnn"], convert)
        self.expr, self.inputs, self.outputs = mnn.expr, list(feeds), outputs
        with _c_stdout_to_stderr():
            rt = mnn.nn.create_runtime_manager(({"backend": "CPU", "numThread": threads, "precision": "high"},))
            self.module = mnn.nn.load_module_from_file(path, self.inputs, outputs, runtime_manager=rt)

    def run(self, feeds: dict) -> dict:
        F = self.expr
        ys = self.module.forward([F.const(feeds[n], list(feeds[n].shape), F.NCHW) for n in self.inputs])
        return {n: y.read() for n, y in zip(self.outputs, ys)}


def _pnnx(pip: str) -> tuple:
    """(pnnx's executable, its version), found without importing pnnx (its Python module imports torch)."""
    spec = importlib.util.find_spec("pnnx")
    exe = spec and os.path.join(spec.submodule_search_locations[0], "pnnx")
    if not exe or not os.path.exists(exe):
        raise DeepxError(f"the ncnn peer converts with pnnx's executable: {pip}")
    return exe, importlib.metadata.version("pnnx")


class NCNN:
    """ncnn on pnnx's conversion (float32 weights, fp16=0): no fp16 or bf16 storage or arithmetic, no int8, no
    Vulkan, num_threads = threads; inputs and outputs by position (pnnx names them in0…, out0…), batch 1."""

    pip, label = "pip install ncnn && pip install --no-deps pnnx", "ncnn"  # pnnx's executable alone: no torch

    @classmethod
    def about(cls) -> str:
        return (f"ncnn {_module('ncnn', cls.pip).__version__} on pnnx {_pnnx(cls.pip)[1]}'s conversion with fp16=0 "
                f"(float32 weights): use_fp16_storage, use_fp16_packed, use_fp16_arithmetic, use_bf16_storage, "
                f"use_int8_inference off, num_threads = threads, lightmode on; its OpenMP (libgomp) reads deepx's "
                f"GOMP_SPINCOUNT and OMP_WAIT_POLICY")

    def __init__(self, onnx_path: str, feeds: dict, outputs: list, threads: int):
        ncnn = _module("ncnn", self.pip)
        exe, version = _pnnx(self.pip)
        if any(x.shape[:1] != (1,) for x in feeds.values()):
            raise DeepxError(f"{onnx_path}: the ncnn peer runs batch 1 (inputs {[x.shape for x in feeds.values()]})")
        shapes = ",".join("[" + ",".join(map(str, x.shape)) + "]" for x in feeds.values())

        def convert(src, out):
            r = subprocess.run([exe, src, f"inputshape={shapes}", "fp16=0", "device=cpu", f"ncnnparam={out[0]}",
                                f"ncnnbin={out[1]}"], cwd=os.path.dirname(src), capture_output=True, text=True,
                               check=False)
            if r.returncode or not all(map(os.path.exists, out)):
                last = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit status {r.returncode}"]
                raise DeepxError(f"{onnx_path}: pnnx failed: {last[0]}")

        tag = "_".join("x".join(map(str, x.shape)) for x in feeds.values())
        param, weights = _converted(f"pnnx-{version}", onnx_path, [f"-{tag}.ncnn.param", f"-{tag}.ncnn.bin"], convert)
        self.net = net = ncnn.Net()
        o = net.opt
        o.num_threads, o.lightmode = threads, True
        o.use_vulkan_compute = o.use_int8_inference = o.use_bf16_storage = False
        o.use_fp16_storage = o.use_fp16_packed = o.use_fp16_arithmetic = False
        if net.load_param(param) or net.load_model(weights):
            raise DeepxError(f"{param}: ncnn cannot load pnnx's conversion of {onnx_path} (ncnn's reason above)")
        self.mat = ncnn.Mat
        self.inputs = [(f"in{i}", n) for i, n in enumerate(feeds)]
        self.outputs = [(f"out{i}", n) for i, n in enumerate(outputs)]

    def run(self, feeds: dict) -> dict:
        ex = self.net.create_extractor()
        for blob, n in self.inputs:
            ex.input(blob, self.mat(feeds[n][0]))
        return {n: np.array(ex.extract(blob)[1])[None] for blob, n in self.outputs}


ENGINES = {"mnn": MNN, "ncnn": NCNN}


def session(name: str, onnx_path: str, feeds: dict, outputs: list, threads: int):
    """Peer `name` on `onnx_path`: `feeds` in the order of the file's inputs, `outputs` all its output names in
    order; `.run(feeds)` -> {output name: array}, `.about()` its settings in words."""
    return ENGINES[name](onnx_path, feeds, outputs, threads)


def max_abs_diff(name: str, outputs: dict, reference: dict) -> float:
    """Largest |peer - ONNX Runtime| over `reference`'s outputs; a peer off by more than TOLERANCE is refused."""
    try:
        diff = max(float(np.abs(np.reshape(outputs[n], r.shape) - r).max()) for n, r in reference.items())
    except ValueError as e:  # a size that differs
        raise DeepxError(f"{name}: its outputs do not have ONNX Runtime's shapes ({e}): not timed") from None
    top = max(float(np.abs(r).max()) for r in reference.values())
    if not diff <= TOLERANCE * max(1.0, top):
        raise DeepxError(f"{name}: its outputs differ from ONNX Runtime's by up to {diff:.3g} (outputs up to "
                         f"{top:.3g}; limit {TOLERANCE:g} x max(1, that)): not timed")
    return diff
