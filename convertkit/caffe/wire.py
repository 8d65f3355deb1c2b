"""Reading and writing .caffemodel files at the protobuf wire level.

A released PSPNet101 caffemodel is ~263 MB of packed floats. Parsing it with the
protobuf runtime and then copying ``blob.data`` into numpy costs about 3x the file in
memory (and minutes with the pure-Python backend). Here the file is mapped into memory
(a private copy-on-write mapping) and the fields are scanned by hand: for every packed
``data`` field we make a zero-copy ``np.frombuffer`` view into that mapping, so loading
costs less than reading the bytes, and a param's pages are read only when it is used
(see bench/bench_load.py and bench/bench_convert.py).

Only each layer's ``name``, ``type`` and ``blobs`` are decoded here; its other fields
are kept as raw bytes and parsed with the schema only when no prototxt is given
(``RawLayer.params``), because older fork files used other numbers for the
hyper-parameters (CAFFE_SEMANTICS.md §0).

Wire format: each field is a varint key ``(number << 3) | wire_type`` followed by a
varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5).
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import CaffemodelError, InputFileError
from ..fileio import atomic_write
from .proto import caffe_pb2
from .sniff import check_kind

# NetParameter
NET_LAYER, NET_LAYERS_V1 = 100, 2
# LayerParameter / V1LayerParameter
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS = 1, 2, 7
V1_NAME, V1_TYPE, V1_BLOBS = 4, 5, 6
# BlobProto
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_DIFF, BLOB_SHAPE, BLOB_DOUBLE_DATA, BLOB_DOUBLE_DIFF = 5, 6, 7, 8, 9

#: Fields whose binary number differs between BVLC and our schema, per layer type:
#: BVLC writes Input's input_param as 143, which is the fork's interp_param, and
#: Embed's and Tile's params as 137 and 138, which are SegNet's.
BINARY_FIELD_ALIASES = {"Input": {143: 2143}, "Embed": {137: 2137}, "Tile": {138: 2138}}

WIRE_VARINT, WIRE_FIXED64, WIRE_LEN, WIRE_FIXED32 = 0, 1, 2, 5


class _Corrupt(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Corrupt("truncated varint", pos)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Corrupt("varint longer than 10 bytes", pos)


def _fields(buf, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (field number, wire type, value or payload start, payload end, tag start)."""
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Corrupt("field number 0", start)
        if wire == WIRE_VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos, start
        elif wire == WIRE_LEN:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _Corrupt(f"field {number} runs {pos + length - end} bytes past its end", start)
            yield number, wire, pos, pos + length, start
            pos += length
        elif wire == WIRE_FIXED32:
            if pos + 4 > end:
                raise _Corrupt(f"field {number} truncated", start)
            yield number, wire, pos, pos + 4, start
            pos += 4
        elif wire == WIRE_FIXED64:
            if pos + 8 > end:
                raise _Corrupt(f"field {number} truncated", start)
            yield number, wire, pos, pos + 8, start
            pos += 8
        else:
            raise _Corrupt(f"invalid wire type {wire} for field {number}", start)


@dataclass
class RawBlob:
    data: np.ndarray  # float32, already shaped
    #: True when the shape came from the legacy num/channels/height/width fields.
    legacy_shape: bool
    offset: int


@dataclass
class RawLayer:
    name: str
    type: str
    blobs: list[RawBlob]
    offset: int
    #: The layer's other fields (hyper-parameters etc.), re-encoded for our schema.
    param_bytes: bytes = b""
    v1: bool = False

    def params(self):
        """The layer's hyper-parameters parsed with our schema (caffemodel-only use)."""
        pb = caffe_pb2()
        msg = (pb.V1LayerParameter if self.v1 else pb.LayerParameter)()
        msg.ParseFromString(self.param_bytes)
        return msg


@dataclass
class Caffemodel:
    path: str
    size: int
    layers: list[RawLayer] = field(default_factory=list)
    #: NetParameter fields other than the layers (name, input, input_dim, ...).
    header_bytes: bytes = b""

    def header(self):
        msg = caffe_pb2().NetParameter()
        msg.ParseFromString(self.header_bytes)
        return msg


def read_caffemodel(path: str | os.PathLike) -> Caffemodel:
    """Scan a binary caffemodel; blobs are zero-copy float32 views of one buffer."""
    path = Path(path)
    check_kind(path, "caffemodel")  # a PNG, a text prototxt...: say so before scanning
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # A private copy-on-write mapping: pages are read when a param is used
            # (a conversion streams them straight to the output), and the arrays are
            # writable without ever touching the file.
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) if size else b""
    except FileNotFoundError:
        raise InputFileError("caffemodel not found", path=path) from None
    except IsADirectoryError:
        raise InputFileError("caffemodel is a directory", path=path) from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read caffemodel: {getattr(exc, 'strerror', None) or exc}",
                             path=path) from None
    return parse_caffemodel(buf, str(path))


def parse_caffemodel(buf: bytearray | bytes, path: str = "<bytes>") -> Caffemodel:
    model = Caffemodel(path=path, size=len(buf))
    if not buf:
        raise CaffemodelError("empty file", path=path)
    header = bytearray()
    try:
        for number, wire, a, b, start in _fields(buf, 0, len(buf)):
            if number == NET_LAYER and wire == WIRE_LEN:
                model.layers.append(_parse_layer(buf, a, b, start, v1=False))
            elif number == NET_LAYERS_V1 and wire == WIRE_LEN:
                model.layers.append(_parse_layer(buf, a, b, start, v1=True))
            else:
                header += buf[start:b]
    except _Corrupt as exc:
        hint = ""
        if buf[:64].lstrip()[:1].isalpha() or buf[:64].lstrip().startswith(b"#"):
            hint = " (this looks like a text prototxt, not a binary caffemodel)"
        raise CaffemodelError(f"corrupt or truncated at byte {exc.offset} of {len(buf)}: "
                              f"{exc}{hint}", path=path) from None
    except _BlobError as exc:
        raise CaffemodelError(f"{exc} (byte {exc.offset})", path=path, layer=exc.layer) from None
    model.header_bytes = bytes(header)
    if not model.layers and len(buf) > 0:
        raise CaffemodelError("no layers found: not a caffemodel", path=path)
    return model


class _BlobError(Exception):
    def __init__(self, message: str, offset: int, layer: str):
        super().__init__(message)
        self.offset, self.layer = offset, layer


def _parse_layer(buf, a: int, b: int, start: int, v1: bool) -> RawLayer:
    name_no, type_no, blobs_no = (V1_NAME, V1_TYPE, V1_BLOBS) if v1 else (LAYER_NAME, LAYER_TYPE, LAYER_BLOBS)
    name, type_, blob_spans, rest = "", "", [], []
    for number, wire, x, y, fstart in _fields(buf, a, b):
        if number == name_no and wire == WIRE_LEN:
            name = bytes(buf[x:y]).decode("utf-8", "replace")
        elif number == type_no and not v1 and wire == WIRE_LEN:
            type_ = bytes(buf[x:y]).decode("utf-8", "replace")
        elif number == type_no and v1 and wire == WIRE_VARINT:
            type_ = _v1_type_name(x)
        elif number == blobs_no and wire == WIRE_LEN:
            blob_spans.append((x, y))
            continue
        rest.append((number, wire, x, y, fstart))
    blobs = []
    for i, (x, y) in enumerate(blob_spans):
        try:
            blobs.append(_parse_blob(buf, x, y))
        except _Corrupt as exc:
            raise _BlobError(f"blob {i}: {exc}", exc.offset, name) from None
    aliases = BINARY_FIELD_ALIASES.get(type_, {})
    params = bytearray()
    for number, wire, x, y, fstart in rest:
        if number in aliases and wire == WIRE_LEN:
            params += _key(aliases[number], WIRE_LEN) + _encode_varint(y - x) + buf[x:y]
        else:
            params += buf[fstart:y]
    return RawLayer(name=name, type=type_, blobs=blobs, offset=start,
                    param_bytes=bytes(params), v1=v1)


def _v1_type_name(number: int) -> str:
    from .prototxt import V1_TYPE_NAMES

    enum = caffe_pb2().V1LayerParameter.DESCRIPTOR.fields_by_name["type"].enum_type
    value = enum.values_by_number.get(number)
    if value is None:
        return f"V1:{number}"
    return V1_TYPE_NAMES.get(value.name, value.name)


def _parse_blob(buf, a: int, b: int) -> RawBlob:
    dims: list[int] | None = None
    legacy = [0, 0, 0, 0]
    legacy_seen = False
    chunks: list[np.ndarray] = []
    scattered: list[int] = []  # offsets of unpacked (one-per-tag) floats
    for number, wire, x, y, fstart in _fields(buf, a, b):
        if number == BLOB_SHAPE and wire == WIRE_LEN:
            dims = []
            for n2, w2, v, e, s2 in _fields(buf, x, y):
                if n2 != 1:
                    continue
                if w2 == WIRE_LEN:  # packed
                    p = v
                    while p < e:
                        d, p = _varint(buf, p, e)
                        dims.append(d)
                elif w2 == WIRE_VARINT:
                    dims.append(v)
        elif number == BLOB_DATA:
            if wire == WIRE_LEN:
                if (y - x) % 4:
                    raise _Corrupt("packed float data length is not a multiple of 4", fstart)
                chunks.append(np.frombuffer(buf, dtype="<f4", count=(y - x) // 4, offset=x))
            elif wire == WIRE_FIXED32:
                scattered.append(x)
        elif number == BLOB_DOUBLE_DATA:
            if wire == WIRE_LEN:
                if (y - x) % 8:
                    raise _Corrupt("packed double data length is not a multiple of 8", fstart)
                chunks.append(np.frombuffer(buf, dtype="<f8", count=(y - x) // 8, offset=x)
                              .astype(np.float32))
            elif wire == WIRE_FIXED64:
                chunks.append(np.frombuffer(buf, dtype="<f8", count=1, offset=x).astype(np.float32))
        elif BLOB_NUM <= number <= BLOB_WIDTH and wire == WIRE_VARINT:
            legacy[number - 1] = _as_int32(x)
            legacy_seen = True
    if scattered:
        idx = np.asarray(scattered, dtype=np.int64)[:, None] + np.arange(4)
        chunks.append(np.frombuffer(buf, dtype=np.uint8)[idx].view("<f4").ravel())
    if not chunks:
        data = np.zeros(0, np.float32)
    elif len(chunks) == 1:
        data = chunks[0]
    else:
        data = np.concatenate(chunks)
    if dims is not None:
        shape, is_legacy = tuple(dims), False
    elif legacy_seen:
        shape, is_legacy = tuple(legacy), True
    else:
        shape, is_legacy = (data.size,), False
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if any(d < 0 for d in shape):
        raise _Corrupt(f"negative dimension in shape {shape}", a)
    if expected != data.size:
        raise _Corrupt(f"shape {'x'.join(map(str, shape))} needs {expected} values "
                       f"but the blob holds {data.size}", a)
    data = data.reshape(shape)
    if data.dtype != np.float32:
        data = data.astype(np.float32)
    return RawBlob(data=data, legacy_shape=is_legacy, offset=a)


def _as_int32(value: int) -> int:
    # int32 fields are varint-encoded as 64-bit two's complement when negative.
    return value - (1 << 64) if value >= (1 << 63) else value


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------

def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _encode_varint((number << 3) | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, WIRE_LEN) + _encode_varint(len(payload)) + payload


def _blob_header(arr: np.ndarray) -> tuple[bytes, int]:
    """Bytes of a BlobProto up to the float payload, and the payload length."""
    dims = b"".join(_encode_varint(int(d)) for d in arr.shape)
    shape = _len_field(BLOB_SHAPE, _len_field(1, dims))
    nbytes = arr.size * 4
    return shape + _key(BLOB_DATA, WIRE_LEN) + _encode_varint(nbytes), nbytes


def save_caffemodel(net, path: str | os.PathLike) -> None:
    """Write ``net`` (its layers' hyper-parameters and learned blobs) as a binary
    caffemodel, as Caffe's Net::ToProto does; deterministic bytes, atomic write.

    Float data is streamed from the arrays, never copied into protobuf messages.
    """
    pb = caffe_pb2()
    head = pb.NetParameter()
    head.name = net.name
    for name, shape in net.inputs.items():
        head.input.append(name)
        if shape is not None:
            head.input_shape.add().dim.extend(int(d) for d in shape)
    with atomic_write(path, "wb") as fh:
        fh.write(head.SerializeToString(deterministic=True))
        for layer in net.layers:
            body = layer.to_proto().SerializeToString(deterministic=True)
            # np.require keeps a scalar blob's shape () (ascontiguousarray makes it (1,)).
            arrays = [np.require(b, dtype="<f4", requirements="C") for b in layer.params]
            blob_parts = []
            total = len(body)
            for arr in arrays:
                header, nbytes = _blob_header(arr)
                blob_len = len(header) + nbytes
                prefix = _key(LAYER_BLOBS, WIRE_LEN) + _encode_varint(blob_len) + header
                blob_parts.append((prefix, arr))
                total += len(prefix) + nbytes
            fh.write(_key(NET_LAYER, WIRE_LEN) + _encode_varint(total) + body)
            for prefix, arr in blob_parts:
                fh.write(prefix)
                fh.write(memoryview(arr).cast("B"))
