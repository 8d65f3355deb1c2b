"""Flat ``.npz``: one ``.npy`` member per target key (``np.load(path)[key]``).

numpy's own ``savez`` stamps every zip member with the current time, so the zip is
written here with a fixed date (1980-01-01), fixed permissions and the members in
target order: the same targets give the same bytes. Members are stored uncompressed,
as ``np.savez`` does; ChainerCV's ``load_npz`` and ``np.load`` read them alike.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .base import register

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, whatever machine writes it
    info.external_attr = 0o644 << 16
    return info


@register("npz", suffix=".npz", about="flat .npz, one array per key (numpy, Chainer)")
def write(targets, path: Path, meta) -> None:
    with atomic_write(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
            for t in targets:
                arr = np.asarray(t.array)
                if not arr.flags.c_contiguous:  # (ascontiguousarray would make 0-d arrays 1-d)
                    arr = arr.copy(order="C")
                with zf.open(member(t.key + ".npy"), "w", force_zip64=True) as out:
                    # np.save's version 1.0 header, then the bytes in one write (numpy's
                    # write_array would copy them in 16 MiB chunks first).
                    np.lib.format.write_array_header_1_0(
                        out, np.lib.format.header_data_from_array_1_0(arr))
                    out.write(memoryview(arr).cast("B") if arr.size else b"")
