"""Bundles (`.dxb`): one zip carrying a model's graph, weights and plan to a board, checked before use.

Members, all stored (not compressed) with their data 64-byte aligned (runtime.zipmap):
  manifest.json  format, deepx version, model name and sha256, board, plan summary, sha256 and size of
                 each member below
  graph.json     the graph (models.serialize)
  weights.npz    the constants, one .npy each; the board maps them in place from the bundle
  plan.json      the plan (runtime.plan), with the board profile it was made for (`board_profile`)
The zip comment, "deepx-bundle/1 <sha256>", holds the sha256 of every byte of the file outside those
three members' data (zip headers, manifest, directory); with the members' own sha256 in the manifest,
each byte of the bundle is checked once, before anything in it is used.
"""
import hashlib
import json
import mmap
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass

from .. import __version__
from ..errors import DeepxError
from ..models import serialize
from ..models.graph import Graph
from . import zipmap

FORMAT = "deepx-bundle/1"
VERSION = 1
MEMBERS = ("graph.json", "weights.npz", "plan.json")
_COMMENT = re.compile(rb"deepx-bundle/(\d+) ([0-9a-f]{64})")


class BundleError(DeepxError):
    """A bundle that cannot be written, read or used here: the message names the file and the part at fault."""


@dataclass
class Bundle:
    path: str
    manifest: dict
    graph: Graph
    plan: dict
    size: int  # bytes


def _rest_sha256(buf, spans) -> str:
    """sha256 of buf outside the (start, end) spans."""
    h, pos = hashlib.sha256(), 0
    for start, end in sorted(spans):
        h.update(buf[pos:start])
        pos = end
    h.update(buf[pos:])
    return h.hexdigest()


def _manifest(g: Graph, plan: dict, model_sha256: str, board: str, sums: dict) -> dict:
    blocks = plan.get("blocks", [])
    return dict(format=FORMAT, deepx_version=__version__, board=board,
                model=dict(name=g.name, sha256=model_sha256, inputs={n: list(g.shapes[n]) for n in g.inputs},
                           outputs=list(g.outputs), param_bytes=sum(v.nbytes for v in g.constants.values())),
                plan=dict(objective=plan.get("objective"), predicted=plan.get("predicted"), blocks=len(blocks),
                          backends=sorted({p["backend"] for b in blocks for p in b["parts"]})),
                members={m: sums[m] for m in MEMBERS})


def _copy(src, dst):
    src.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: src.read(1 << 20), b""):
        h.update(chunk)
        if dst is not None:
            dst.write(chunk)
    return dict(sha256=h.hexdigest(), size=src.tell())


def pack(g: Graph, plan: dict, model_sha256: str, board: str, path, profile: str | None = None) -> dict:
    """Write g (with its constants), its plan for `board` and a manifest to `path` (atomically); the manifest.
    `profile`: the board profile's TOML text, carried in plan.json (`board_profile`) so that the board runs
    the plan on the profile it was made for, a calibrated one included."""
    if plan.get("board") != board or plan.get("model", {}).get("sha256") != model_sha256:
        raise BundleError(f"{path}: the plan was made for board {plan.get('board')!r} and another model, "
                          f"not this model on {board!r}")
    if profile is not None:
        plan = dict(plan, board_profile=profile)
    doc = {"graph.json": json.dumps(serialize.to_json(g)).encode(), "plan.json": json.dumps(plan).encode()}
    sums = {m: dict(sha256=hashlib.sha256(d).hexdigest(), size=len(d)) for m, d in doc.items()}
    tmp = f"{path}.partial"
    try:
        with tempfile.TemporaryFile() as weights:
            zipmap.write_npz(weights, g.constants)
            sums["weights.npz"] = _copy(weights, None)
            manifest = _manifest(g, plan, model_sha256, board, sums)
            with open(tmp, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=False) as zf:
                zf.writestr(zipmap.aligned_info(zf, "manifest.json"), json.dumps(manifest, indent=1))
                for m in MEMBERS:
                    with zf.open(zipmap.aligned_info(zf, m), "w") as out:
                        if m == "weights.npz":
                            _copy(weights, out)
                        else:
                            out.write(doc[m])
                zf.comment = b"deepx-bundle/1 " + b"0" * 64  # the length is fixed before the directory is hashed
        _seal(tmp)
        os.replace(tmp, path)
    except (zipfile.LargeZipFile, RuntimeError) as e:
        _remove(tmp)
        raise BundleError(f"{path}: too large for a bundle ({e}); members are limited to 2 GiB") from None
    except OSError as e:
        _remove(tmp)
        raise BundleError(f"{path}: cannot write: {e.strerror or e}") from None
    return manifest


def _seal(path):
    """Write the sha256 of everything outside the members' data into the zip comment's last 64 bytes."""
    with open(path, "r+b") as f:
        buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        spans = zipmap.members(buf)[1]
        digest = _rest_sha256(buf[:len(buf) - 64], [spans[m] for m in MEMBERS])
        f.seek(-64, os.SEEK_END)
        f.write(digest.encode())


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def load(path, board: str | None = None) -> Bundle:
    """Read and check a bundle: structure, format, board (when given), every checksum; then the graph with
    its weights mapped in place from the file, and the plan. BundleError naming the part at fault."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise BundleError(f"{path}: empty file, not a deepx bundle")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # writable views; pages stay the file's
    except OSError as e:
        raise BundleError(f"{path}: cannot read: {e.strerror or e}") from None
    buf = memoryview(mm)
    try:
        zf, spans = zipmap.members(buf)
        m = _COMMENT.fullmatch(zf.comment)
        if not m:
            raise zipmap.ZipMapError("no deepx-bundle checksum in the zip comment")
    except zipmap.ZipMapError as e:
        raise BundleError(f"{path}: not a deepx bundle, or truncated ({size} bytes): {e}") from None
    if int(m.group(1)) > VERSION:
        raise BundleError(f"{path}: bundle format deepx-bundle/{int(m.group(1))} is newer than this runtime reads "
                          f"({FORMAT}, deepx {__version__}): upgrade deepx on this board (deepx flash does)")
    eocd = size - len(zf.comment) - 22
    if eocd < 0 or bytes(buf[eocd:eocd + 4]) != b"PK\x05\x06":
        raise BundleError(f"{path}: corrupt: bytes after the zip directory, or its end record is damaged")
    if set(spans) != {"manifest.json", *MEMBERS}:
        raise BundleError(f"{path}: members {sorted(spans)}, expected manifest.json, {', '.join(MEMBERS)}")
    if _rest_sha256(buf[:size - 64], [spans[n] for n in MEMBERS]) != m.group(2).decode():
        raise BundleError(f"{path}: corrupt: the zip headers, manifest or directory (bytes outside "
                          f"{', '.join(MEMBERS)}) do not match the bundle's checksum")
    manifest = json.loads(bytes(buf[slice(*spans["manifest.json"])]))
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: manifest format {manifest.get('format')!r}: this runtime reads {FORMAT} "
                          f"(deepx {__version__})")
    if board and manifest.get("board") != board:
        raise BundleError(f"{path}: packed for board {manifest.get('board')!r}, this board is {board!r}: "
                          f"pack it again with --board {board}")
    for name in MEMBERS:
        start, end = spans[name]
        want = (manifest.get("members") or {}).get(name) or {}
        if end - start != want.get("size") or hashlib.sha256(buf[start:end]).hexdigest() != want["sha256"]:
            raise BundleError(f"{path}: corrupt: member {name} (bytes {start}..{end}) does not match its sha256 "
                              f"in the manifest")
    try:
        weights = zipmap.map_npz(buf[slice(*spans["weights.npz"])])
    except zipmap.ZipMapError as e:
        raise BundleError(f"{path}: weights.npz: {e}") from None
    graph = serialize.from_json(json.loads(bytes(buf[slice(*spans["graph.json"])])), weights, f"{path}: graph.json")
    plan = json.loads(bytes(buf[slice(*spans["plan.json"])]))
    return Bundle(path, manifest, graph, plan, size)
