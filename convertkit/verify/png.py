"""A minimal PNG encoder (zlib from the standard library), so that reports embed
pictures without an imaging package: 8-bit RGB or greyscale, no interlacing, filter 0
(none) on every row. The output is deterministic for the same pixels."""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode(pixels: np.ndarray) -> bytes:
    """H x W (grey) or H x W x 3 (RGB) uint8 pixels as PNG bytes."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, not {a.dtype}")
    if a.ndim == 2:
        colour = 0
    elif a.ndim == 3 and a.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"PNG pixels must be H x W or H x W x 3, not {a.shape}")
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("an empty picture")
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))


def data_uri(pixels: np.ndarray) -> str:
    """The picture as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(encode(pixels)).decode("ascii")
