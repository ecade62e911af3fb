"""Bundles: the graph as JSON, packing and loading, and every kind of damage refused with one line."""
import json
import math
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from deepx import boards
from deepx.kernels.common import CLIP, SIGMOID, Act
from deepx.models import io, load, serialize, zoo
from deepx.models.graph import Graph, ModelError, Node
from deepx.runtime import bundle, zipmap
from deepx.runtime.plan import file_sha256, make_plan
from onnx_cases import LIGHT, PYTORCH, name

SHA = "ab" * 32


def same(a, b):
    """Equal values of the same types, all the way down (nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def assert_same_graph(g, h):
    assert (h.name, h.inputs, h.outputs, h.shapes, list(h.constants)) == \
           (g.name, g.inputs, g.outputs, g.shapes, list(g.constants))
    for m, n in zip(g.nodes, h.nodes, strict=True):
        assert (m.name, m.op, m.inputs, m.outputs) == (n.name, n.op, n.inputs, n.outputs)
        assert same(m.attrs, n.attrs) or all(same(m.attrs[k], n.attrs[k]) for k in m.attrs), m.name


def every_op_graph() -> Graph:
    """One node of every kind of attribute the kernels take: tuples, Act (inf bounds), bools, floats."""
    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    g = Graph("every-op", ["x"], ["y"], shapes={"x": (1, 4, 8, 8)})
    g.constants = {"w": w(4, 4, 3, 3), "w1": w(2, 4, 3, 3), "w2": w(4, 2, 1, 1), "wi": w(2, 4, 1, 1),
                   "wc": w(2, 2, 3, 3), "wo": w(4, 2, 1, 1), "b": w(4), "v": w(3, 16), "u": w(5, 3), "d": w(6, 5)}
    g.shapes.update({k: v.shape for k, v in g.constants.items()})
    g.nodes = [
        Node("c", "conv2d", ["x", "w", "b"], ["t1"], dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1), groups=1,
                                                          act=Act(CLIP, 0.0, math.inf))),
        Node("lr", "conv2d_lowrank", ["t1", "w1", "w2", ""], ["t2"], dict(stride=(1, 1), pads=(1, 1, 1, 1),
                                                                          dilation=(1, 1), act=Act(CLIP, -1.5, 6.0))),
        Node("tk", "conv2d_tucker2", ["t2", "wi", "wc", "wo", "b"], ["t3"], dict(stride=(2, 2), pads=(1, 0, 1, 0),
                                                                                 dilation=(1, 1), act=Act(SIGMOID))),
        Node("mp", "maxpool2d", ["t3"], ["t4"], dict(kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0), ceil_mode=True,
                                                     dilation=(1, 1))),
        Node("ap", "avgpool2d", ["t4"], ["t5"], dict(kernel=(1, 1), stride=(1, 1), pads=(0, 0, 0, 0), ceil_mode=False,
                                                     count_include_pad=True)),
        Node("n", "lrn", ["t5"], ["t6"], dict(size=3, alpha=1e-4, beta=0.75, bias=1.0)),
        Node("f", "reshape", ["t6"], ["t7"], dict(shape=(1, 16))),
        Node("dl", "dense_lowrank", ["t7", "v", "u", ""], ["t8"], dict(act=Act())),
        Node("de", "dense", ["t8", "d", ""], ["t9"], dict(act=Act(CLIP, -math.inf, 0.5))),
        Node("sm", "softmax", ["t9"], ["y"], dict(axis=1)),
    ]
    g.infer_shapes()
    return g


def light_or_pytorch():
    paths = [p for p in LIGHT if "vgg19" not in p and "alexnet" not in p and "zfnet" not in p]
    for p in PYTORCH:
        try:
            load.load_model(p)
        except ModelError:  # operators deepx does not import
            continue
        paths.append(p)
    return paths


@pytest.mark.parametrize("path", light_or_pytorch(), ids=name)
def test_graph_json_round_trip_onnx_models(path):
    g = load.load_model(path)
    h = serialize.from_json(json.loads(json.dumps(serialize.to_json(g))), g.constants)
    assert_same_graph(g, h)


def test_graph_json_round_trip_every_attribute_kind():
    g = every_op_graph()
    doc = json.dumps(serialize.to_json(g), allow_nan=False)  # strict JSON: inf is tagged
    h = serialize.from_json(json.loads(doc), g.constants)
    assert_same_graph(g, h)
    assert type(h.nodes[0].attrs["act"]) is Act and h.nodes[0].attrs["act"].hi == math.inf


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["nodes"][0].update(op="conv9d"), "unknown op 'conv9d'"),
    (lambda d: d["nodes"][1]["inputs"].__setitem__(0, "nowhere"), "reads ['nowhere'] before they are made"),
    (lambda d: d["shapes"].__setitem__("t1", [1, 4, 8, 9]), "node 'c' makes shape (1, 4, 8, 8), the graph records"),
    (lambda d: d["nodes"][0]["attrs"].update(act={"lambda": 1}), "unknown attribute value"),
    (lambda d: d.pop("nodes"), "malformed graph"),
    (lambda d: d["constants"].append("extra"), "weights do not match the graph"),
])
def test_graph_json_mistakes_name_the_node(mutate, message):
    g = every_op_graph()
    doc = json.loads(json.dumps(serialize.to_json(g)))
    mutate(doc)
    with pytest.raises(ModelError, match="graph.json: .*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        serialize.from_json(doc, g.constants, "graph.json")


def tiny_bundle(path, board="jetson-nano"):
    g = every_op_graph()
    return bundle.pack(g, make_plan(g, SHA, boards.load(board)), SHA, board, path), g


def test_pack_load_round_trip(tmp_path):
    path = tmp_path / "m.dxb"
    manifest, g = tiny_bundle(path)
    assert manifest["format"] == "deepx-bundle/1" and manifest["board"] == "jetson-nano"
    assert set(manifest["members"]) == {"graph.json", "weights.npz", "plan.json"}
    b = bundle.load(path, "jetson-nano")
    assert_same_graph(g, b.graph)
    for k, v in g.constants.items():  # mapped in place, 64-byte aligned, equal
        assert np.array_equal(b.graph.constants[k], v) and b.graph.constants[k].ctypes.data % 64 == 0
    x = io.random_inputs(g)
    from deepx.models.execute import run_graph
    assert np.array_equal(run_graph(b.graph, x, "ref")["y"], run_graph(g, x, "ref")["y"])
    with zipfile.ZipFile(path) as z:  # plain tools read it too: zip, np.load without pickle
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        with z.open("weights.npz") as f, np.load(f, allow_pickle=False) as npz:
            assert {k: npz[k].tolist() for k in npz.files} == {k: v.tolist() for k, v in g.constants.items()}
        assert json.loads(z.read("plan.json"))["board"] == "jetson-nano"


def test_flipped_bytes_and_truncations_are_refused(tmp_path):
    """Every byte of the zip headers, manifest and directory, the first 256 bytes of each member and
    every 17th after; truncations to every 13th length and to each of the last 200."""
    path = tmp_path / "m.dxb"
    tiny_bundle(path)
    data = path.read_bytes()
    spans = [s for name, s in zipmap.members(data)[1].items() if name != "manifest.json"]
    offsets = [i for i in range(len(data)) if all(not a + 256 <= i < b or (i - a) % 17 == 0 for a, b in spans)]
    bad = tmp_path / "bad.dxb"
    accepted = []
    for i in offsets:
        bad.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        try:
            bundle.load(bad)
            accepted.append(i)
        except bundle.BundleError as e:  # DeepxError subclasses only, one line
            assert "\n" not in str(e) and str(bad) in str(e)
    assert not accepted, f"flipped bytes accepted at offsets {accepted}"
    for n in sorted(set(range(0, len(data), 13)) | set(range(len(data) - 200, len(data)))):
        bad.write_bytes(data[:n])
        with pytest.raises(bundle.BundleError):
            bundle.load(bad)


def test_damage_is_named(tmp_path):
    path = tmp_path / "m.dxb"
    tiny_bundle(path)
    data = bytearray(path.read_bytes())
    mm = memoryview(data)
    spans = zipmap.members(mm)[1]
    del mm
    start, end = spans["weights.npz"]
    data[(start + end) // 2] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(bundle.BundleError, match=r"corrupt: member weights.npz \(bytes \d+\.\.\d+\) does not match"):
        bundle.load(path)
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(bundle.BundleError, match="not a deepx bundle, or truncated"):
        bundle.load(path)
    path.write_bytes(b"")
    with pytest.raises(bundle.BundleError, match="empty file"):
        bundle.load(path)
    with pytest.raises(bundle.BundleError, match="cannot read: No such file"):
        bundle.load(tmp_path / "none.dxb")


def test_another_board_and_a_newer_format_are_refused(tmp_path):
    path = tmp_path / "m.dxb"
    tiny_bundle(path)
    with pytest.raises(bundle.BundleError, match="packed for board 'jetson-nano', this board is 'rpi4b'"):
        bundle.load(path, "rpi4b")
    newer = tmp_path / "newer.dxb"
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(newer, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            if info.filename == "manifest.json":
                data = json.dumps(dict(json.loads(data), format="deepx-bundle/2")).encode()
            out.writestr(info.filename, data)
        out.comment = b"deepx-bundle/2 " + b"0" * 64
    with pytest.raises(bundle.BundleError, match="format deepx-bundle/2 is newer than this runtime reads"):
        bundle.load(newer)


def test_pack_refuses_a_plan_for_another_board(tmp_path):
    g = every_op_graph()
    with pytest.raises(bundle.BundleError, match="the plan was made for board 'rpi4b'"):
        bundle.pack(g, make_plan(g, SHA, boards.load("rpi4b")), SHA, "jetson-nano", tmp_path / "m.dxb")
    assert not list(tmp_path.iterdir())


def deepx(*args):
    return subprocess.run([sys.executable, "-m", "deepx.tools.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_deepx_pack_command(tmp_path):
    model, out, plan = zoo.path("digits-cnn"), tmp_path / "cnn.dxb", tmp_path / "plan.json"
    p = deepx("pack", model, "--board", "rpi4b", "--input-shape", "x=1,1,32,32", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "plan made now" in p.stdout and bundle.load(out, "rpi4b").manifest["model"]["sha256"] == file_sha256(model)
    p = deepx("plan", model, "--board", "jetson-nano", "--input-shape", "x=1,1,32,32", "-o", str(plan))
    assert p.returncode == 0, p.stderr
    p = deepx("pack", model, "--board", "jetson-nano", "--plan", str(plan), "--input-shape", "x=1,1,32,32",
              "-o", str(out))
    assert p.returncode == 0, p.stderr
    carried = bundle.load(out).plan
    assert carried.pop("board_profile") == boards.load("jetson-nano").text  # the profile the plan was made for
    assert carried == json.loads(plan.read_text())
    p = deepx("pack", model, "--board", "rpi4b", "--plan", str(plan), "--input-shape", "x=1,1,32,32",
              "-o", str(tmp_path / "other.dxb"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "the plan was made for board 'jetson-nano'" in p.stderr and not (tmp_path / "other.dxb").exists()
