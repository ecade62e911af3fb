"""Zip files whose stored members are read in place: each member's data starts on a 64-byte boundary
(padding in the local header's extra field, as Android's zipalign does), so an .npy inside an .npz
inside a bundle maps straight to a numpy array over the bundle's memory map, without a copy."""
import io
import struct
import zipfile

import numpy as np

ALIGN = 64
_PAD_ID = 0xD935  # the extra-field id zipalign uses for padding
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header, 30 bytes


class ZipMapError(ValueError):
    """The zip does not have the layout this module writes; the message says where."""


def aligned_info(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """A stored ZipInfo for the next member of `zf` (open for writing) whose data will start aligned."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = _LOCAL.size + len(name.encode("utf-8")) + 4
    pad = -(zf.start_dir + header) % ALIGN
    info.extra = struct.pack("<HH", _PAD_ID, pad) + bytes(pad)
    return info


class Slice(io.RawIOBase):
    """A seekable read-only file over a buffer, without copying it (zipfile reads its directory)."""

    def __init__(self, buf):
        self.buf, self.pos = memoryview(buf), 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = max(0, (0, self.pos, len(self.buf))[whence] + offset)
        return self.pos

    def readinto(self, b):
        n = max(0, min(len(b), len(self.buf) - self.pos))
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


def members(buf) -> tuple:
    """(ZipFile over buf, {name: (start, end) of its stored data in buf}); ZipMapError naming the fault."""
    try:
        zf = zipfile.ZipFile(Slice(buf))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ZipMapError(f"no zip directory at its end ({e})") from None
    spans = {}
    for info in zf.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            raise ZipMapError(f"member {info.filename!r} is compressed (deepx stores members)")
        head = bytes(buf[info.header_offset:info.header_offset + _LOCAL.size])
        if len(head) < _LOCAL.size or _LOCAL.unpack(head)[0] != b"PK\x03\x04":
            raise ZipMapError(f"member {info.filename!r}: no local header at byte {info.header_offset}")
        fields = _LOCAL.unpack(head)
        start = info.header_offset + _LOCAL.size + fields[-2] + fields[-1]
        end = start + info.compress_size
        if end > len(buf) or info.file_size != info.compress_size:
            raise ZipMapError(f"member {info.filename!r} (bytes {start}..{end}) runs past the end "
                              f"({len(buf)} bytes): truncated")
        spans[info.filename] = (start, end)
    return zf, spans


def map_npz(buf) -> dict:
    """{name: array} of an .npz written with aligned stored members, as views of `buf` (no copy)."""
    arrays = {}
    for name, (start, end) in members(buf)[1].items():
        if not name.endswith(".npy"):
            raise ZipMapError(f"member {name!r} is not an .npy array")
        f = Slice(buf[start:end])
        try:
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0)(f)
        except ValueError as e:
            raise ZipMapError(f"member {name!r}: not an .npy header ({e})") from None
        count = int(np.prod(shape))
        if dtype.hasobject or f.tell() + count * dtype.itemsize != end - start:
            raise ZipMapError(f"member {name!r}: {'object arrays are refused' if dtype.hasobject else 'size'}"
                              f" does not match its header {dtype} {shape}")
        flat = np.frombuffer(buf, dtype, count, start + f.tell())
        arrays[name[:-len(".npy")]] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays


def write_npz(fileobj, arrays: dict):
    """Write {name: array} as an .npz (np.load reads it) whose arrays start 64-byte aligned."""
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED, allowZip64=False) as zf:
        for name, a in arrays.items():
            with zf.open(aligned_info(zf, f"{name}.npy"), "w") as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)
