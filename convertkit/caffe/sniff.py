"""What kind of file is this? The first bytes of a file, read before any parser runs.

A PNG given where a caffemodel is expected should be reported as "cat.png is a PNG
image, not a Caffe caffemodel", not as a caffemodel corrupt at byte 8. The readers
(:func:`convertkit.caffe.prototxt.parse_prototxt`, :func:`convertkit.caffe.wire.read_caffemodel`
and :func:`convertkit.load`) call :func:`check_kind` first; ``describe`` answers for
messages elsewhere (``run --input``, ``run --image``).

Only the first :data:`HEAD` bytes are read (zip archives also have their directory
listed, to tell an ``.npz`` from a PyTorch checkpoint). Recognised: images (PNG,
JPEG, GIF, BMP, TIFF, WebP), numpy ``.npy`` and ``.npz``, zip, HDF5, Python pickles
(protocol 2 and later), ONNX models (best effort: a protobuf ``ModelProto`` starts
with its ``ir_version``), safetensors, TensorFlow Lite, gzip/bzip2/xz/7z/tar, PDF,
and text (JSON, HTML and XML told apart). A binary Caffe caffemodel is recognised by
its first protobuf field, also best effort.
"""
from __future__ import annotations

import codecs
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..errors import CaffemodelKindError, FileKindError, PrototxtKindError

#: Bytes read from the start of a file.
HEAD = 4096

Source = Union[str, os.PathLike, bytes, bytearray, memoryview]


@dataclass(frozen=True)
class Kind:
    """``key``: a short stable name ("png", "text", "caffemodel", "binary", ...);
    ``what``: the phrase used in messages ("a PNG image")."""

    key: str
    what: str

    @property
    def is_text(self) -> bool:
        return self.key in TEXT_KEYS


#: Keys of text files: "text" may be a prototxt, the others cannot be.
TEXT_KEYS = ("text", "json", "html", "xml")

#: (offset, magic bytes, key, phrase). Checked in order, before the text test.
_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "png", "a PNG image"),
    (0, b"\xff\xd8\xff", "jpeg", "a JPEG image"),
    (0, b"GIF87a", "gif", "a GIF image"),
    (0, b"GIF89a", "gif", "a GIF image"),
    (0, b"II*\x00", "tiff", "a TIFF image"),
    (0, b"MM\x00*", "tiff", "a TIFF image"),
    (0, b"\x93NUMPY", "npy", "a numpy .npy array"),
    (0, b"\x89HDF\r\n\x1a\n", "hdf5", "an HDF5 file (a Keras .h5 model?)"),
    # HDF5 allows its superblock at 512, 1024, 2048... after a user block.
    (512, b"\x89HDF\r\n\x1a\n", "hdf5", "an HDF5 file (a Keras .h5 model?)"),
    (1024, b"\x89HDF\r\n\x1a\n", "hdf5", "an HDF5 file (a Keras .h5 model?)"),
    (2048, b"\x89HDF\r\n\x1a\n", "hdf5", "an HDF5 file (a Keras .h5 model?)"),
    (0, b"\x1f\x8b", "gzip", "a gzip-compressed file (unpack it first)"),
    (0, b"\xfd7zXZ\x00", "xz", "an xz-compressed file (unpack it first)"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z", "a 7-Zip archive (unpack it first)"),
    (0, b"%PDF-", "pdf", "a PDF document"),
    (257, b"ustar", "tar", "a tar archive (unpack it first)"),
    (4, b"TFL3", "tflite", "a TensorFlow Lite model"),
)

#: NetParameter's field numbers and wire types (caffe.proto): name, layers (V1),
#: input, input_dim, force_backward, state, debug_info, input_shape, layer.
_NET_FIELDS = {1: 2, 2: 2, 3: 2, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 100: 2}
#: ONNX ModelProto fields that follow ir_version (1) in files written by exporters:
#: producer_name 2, producer_version 3, domain 4, model_version 5, doc_string 6,
#: graph 7, opset_import 8, metadata_props 14, training_info 20, functions 25.
_ONNX_NEXT_KEYS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA}


def _read(source: Source) -> tuple[bytes, Path | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:HEAD]), None
    path = Path(source)
    with open(path, "rb") as fh:
        return fh.read(HEAD), path


def sniff(source: Source) -> Kind | None:
    """The kind of a file (a path) or of bytes (a whole file, or its first bytes).
    None when it is empty or cannot be read; ``Kind("binary", ...)`` when it is
    binary and unrecognised."""
    try:
        head, path = _read(source)
    except OSError:
        return None
    if not head:
        return None
    for offset, magic, key, what in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return Kind(key, what)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_kind(path if path is not None else source)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind("webp", "a WebP image")
    if head[:2] == b"BM" and len(head) > 14 and head[6:10] == b"\0\0\0\0":
        return Kind("bmp", "a BMP image")
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return Kind("bzip2", "a bzip2-compressed file (unpack it first)")
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return Kind("pickle", "a Python pickle")
    if len(head) > 10 and head[8:10] == b'{"' and 0 < int.from_bytes(head[:8], "little") < 1 << 32:
        return Kind("safetensors", "a safetensors file")
    text = _text_kind(head)
    if text is not None:
        return text
    if _looks_like_onnx(head):
        return Kind("onnx", "an ONNX model")
    if _looks_like_caffemodel(head):
        return Kind("caffemodel", "a binary Caffe caffemodel")
    return Kind("binary", "a binary file")


def describe(source: Source) -> str | None:
    """A phrase naming what a file is ("a PNG image", "a text file"), or None when
    it is empty, unreadable or not recognised (an unrecognised binary file may well
    be a caffemodel)."""
    kind = sniff(source)
    if kind is None or kind.key == "binary":
        return None
    return kind.what


def _zip_kind(source) -> Kind:
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            names = zipfile.ZipFile(io.BytesIO(bytes(source))).namelist()
        else:
            with zipfile.ZipFile(source) as zf:
                names = zf.namelist()
    except Exception:  # noqa: BLE001 - damaged archives fail in many ways (versions, EOF...)
        return Kind("zip", "a zip archive")
    if names and all(n.endswith(".npy") for n in names):
        return Kind("npz", "a numpy .npz archive")
    if any(n.endswith("data.pkl") for n in names):
        return Kind("pytorch", "a PyTorch checkpoint (a zip of pickles)")
    if "config.json" in names and any(n.endswith(".h5") for n in names):
        return Kind("keras", "a Keras model archive")
    return Kind("zip", "a zip archive")


def _text_kind(head: bytes) -> Kind | None:
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    if b"\x00" in head:
        return None
    # Only tab, newline, vertical tab, form feed and carriage return among controls.
    if any(b < 0x20 and b not in (9, 10, 11, 12, 13) or b == 0x7F for b in head):
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Latin-1 and other 8-bit text: mostly ASCII (at most 1 byte in 10 above
        # 0x7f). The prototxt reader then says which byte is not UTF-8.
        if sum(b >= 0x80 for b in head) * 10 > len(head):
            return None
    start = head.lstrip()[:1024].lower()
    if start[:1] in (b"{", b"["):
        return Kind("json", "a JSON file")
    if start.startswith(b"<"):
        if b"<html" in start or b"<!doctype html" in start:
            return Kind("html", "an HTML page")
        return Kind("xml", "an XML file")
    return Kind("text", "a text file")


def _varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7
    return None


def _looks_like_onnx(head: bytes) -> bool:
    """ModelProto: ``ir_version`` (field 1, varint; 1 to 20 so far) first, then
    another ModelProto field. A Caffe NetParameter cannot start with this key:
    its field 1 is the name, a string."""
    if head[:1] != b"\x08":
        return False
    got = _varint(head, 1)
    if got is None:
        return False
    version, pos = got
    return 1 <= version <= 20 and pos < len(head) and head[pos] in _ONNX_NEXT_KEYS


def _looks_like_caffemodel(head: bytes) -> bool:
    """The first two protobuf fields are NetParameter fields with the right wire
    types (a field running past the head is fine: layers are large)."""
    pos, seen = 0, 0
    while pos < len(head) and seen < 2:
        got = _varint(head, pos)
        if got is None:
            return seen > 0
        key, pos = got
        number, wire = key >> 3, key & 7
        if _NET_FIELDS.get(number) != wire:
            return False
        got = _varint(head, pos)
        if got is None:
            return seen > 0
        value, pos = got
        if wire == 2:
            pos += value
        seen += 1
    return seen > 0


#: What each reader expects, for messages.
_EXPECTED = {
    "prototxt": "a Caffe prototxt",
    "caffemodel": "a Caffe caffemodel",
    "model": "a Caffe prototxt or caffemodel",
}


def check_kind(source: Source, expected: str, path: str | os.PathLike | None = None) -> None:
    """Raise a one-line error when ``source`` (a path, or the file's bytes with
    ``path`` naming it) is plainly not ``expected``: "prototxt" (text),
    "caffemodel" (binary) or "model" (either). Unreadable or empty files pass; the
    reader reports them. Errors are :class:`~convertkit.errors.FileKindError`; for
    "prototxt" also PrototxtError, for "caffemodel" also CaffemodelError."""
    if expected not in _EXPECTED:
        raise ValueError(f"expected must be one of {', '.join(_EXPECTED)}, not {expected!r}")
    kind = sniff(source)
    if kind is None:
        return
    if path is None and not isinstance(source, (bytes, bytearray, memoryview)):
        path = source
    name = str(path) if path is not None else "the file"
    if expected == "prototxt":
        if kind.key == "text":
            return
        if kind.key == "caffemodel":
            cause = ("is a binary file (a Caffe caffemodel?), not a text prototxt: "
                     "give it as the CAFFEMODEL argument")
        elif kind.key == "binary":
            cause = "is a binary file, not a text prototxt"
        else:
            cause = f"is {kind.what}, not {_EXPECTED[expected]}"
        raise PrototxtKindError(cause, path=name)
    if expected == "caffemodel":
        if kind.key in ("caffemodel", "binary"):
            return
        if kind.key == "text":
            cause = ("is a text file (a prototxt?), not a binary caffemodel: "
                     "give a text prototxt as the PROTOTXT argument")
        elif kind.key == "html":
            cause = f"is {kind.what} (saved by a failed download?), not {_EXPECTED[expected]}"
        else:
            cause = f"is {kind.what}, not {_EXPECTED[expected]}"
        raise CaffemodelKindError(cause, path=name)
    if kind.key in ("text", "caffemodel", "binary"):
        return
    raise FileKindError(f"is {kind.what}, not {_EXPECTED[expected]}", path=name)


def check_inputs(prototxt: Source | None, caffemodel: Source | None) -> None:
    """What :func:`convertkit.load` checks first: a prototxt and a caffemodel that
    look swapped, then each file's kind (before a large caffemodel is read)."""
    if prototxt is not None and caffemodel is not None:
        kp, kc = sniff(prototxt), sniff(caffemodel)
        if kp is not None and kc is not None and kp.key in ("caffemodel", "binary") \
                and kc.key == "text":
            raise PrototxtKindError(
                f"is a binary file and {caffemodel} a text file: the prototxt and the "
                "caffemodel look swapped (give the text prototxt first)", path=str(prototxt))
    if prototxt is not None:
        check_kind(prototxt, "prototxt")
    if caffemodel is not None:
        check_kind(caffemodel, "caffemodel")
