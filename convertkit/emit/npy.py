"""``.npy`` dict in caffe-tensorflow's convention (what hellochick's ports load).

One pickled dict ``{op: {param: array}}``; a target key ``op/param`` is split at its
first '/'. Read back with ``np.load(path, allow_pickle=True).item()``: plain dicts and
float32 (or the stated dtype) arrays, nothing from convertkit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..fileio import atomic_write
from .base import register


def as_dict(targets) -> dict[str, dict[str, np.ndarray]]:
    """The nested dict; keys without a '/' cannot be split into op and param."""
    bad = [t.key for t in targets if "/" not in t.key.strip("/")]
    if bad:
        raise UsageError(f"the .npy dict needs keys 'op/param', and {len(bad)} keys have no "
                         f"'/': {', '.join(bad)} (use a mapping table made for npy, e.g. "
                         "caffe or hellochick-tf)")
    out: dict[str, dict[str, np.ndarray]] = {}
    for t in targets:
        op, param = t.key.split("/", 1)
        out.setdefault(op, {})[param] = np.asarray(t.array)
    return out


@register("npy", suffix=".npy", about="caffe-tensorflow .npy dict {op: {param: array}}")
def write(targets, path: Path, meta) -> None:
    data = as_dict(targets)
    with atomic_write(path, "wb") as fh:
        # A 0-d object array holding the dict; pickle protocol 4 (numpy's), whose
        # bytes depend only on the data and the insertion order.
        np.save(fh, data, allow_pickle=True)
