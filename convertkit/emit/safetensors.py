"""``.safetensors`` (``safetensors.torch.load_file`` / ``safetensors.numpy.load_file``).

Written here rather than with ``safetensors.numpy.save_file`` for two reasons: that
function copies every array into one bytes object first (twice the model in memory),
and it orders the ``__metadata__`` keys by a per-process random hash, so two runs give
different bytes. The layout is the library's: an 8-byte little-endian header length,
the JSON header padded with spaces to a multiple of 8, then the tensors back to back,
ordered as the library orders them (wider dtypes first, then by name). With at most
one metadata key the bytes equal the library's own (tested).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..fileio import atomic_write
from .base import register

#: numpy dtype -> (safetensors name, rank in the library's order, larger first).
DTYPES = {"int64": ("I64", 5), "float64": ("F64", 4), "float32": ("F32", 3),
          "int32": ("I32", 2), "bool": ("BOOL", 0)}


def header(targets, meta) -> tuple[bytes, list]:
    """The length-prefixed, padded header and the arrays in file order."""
    order = []
    for t in targets:
        a = np.asarray(t.array)
        if a.dtype.name not in DTYPES:
            raise UsageError(f"safetensors: unsupported dtype {a.dtype} for {t.key!r}")
        order.append((t.key, a))
    order.sort(key=lambda ka: (-DTYPES[ka[1].dtype.name][1], ka[0]))
    head: dict = {}
    if meta:
        head["__metadata__"] = {str(k): str(meta[k]) for k in sorted(meta)}
    offset = 0
    for key, a in order:
        if key == "__metadata__":
            raise UsageError("safetensors: '__metadata__' cannot be a tensor name")
        head[key] = {"dtype": DTYPES[a.dtype.name][0], "shape": list(a.shape),
                     "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text, order


@register("safetensors", suffix=".safetensors", about="safetensors (PyTorch, JAX, ...)")
def write(targets, path: Path, meta) -> None:
    head, order = header(targets, meta)
    with atomic_write(path, "wb") as fh:
        fh.write(head)
        for _, a in order:
            # Little-endian, C order; no copy for an array that already is.
            a = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
            fh.write(a.reshape(-1).view(np.uint8).data)
