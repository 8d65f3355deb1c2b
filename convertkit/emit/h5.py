"""HDF5 (h5py): one dataset per target under its key (``layer/role`` with the caffe
table), attributes ``caffe_layer``, ``caffe_role``, ``caffe_shape`` and ``layout``;
``meta`` as root attributes.

Deterministic bytes: datasets and groups are created without object times
(``track_times=False``, a group-creation list with ``set_obj_track_times(False)``),
and the file format is pinned to ``libver=("earliest", "v108")``, whose root group
carries no time either. Datasets are contiguous, in target order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..fileio import atomic_write
from .base import register


def _group(h5py, parent, name: str):
    """The child group ``name`` of ``parent``, created without timestamps if absent."""
    if name in parent:
        got = parent[name]
        if not isinstance(got, h5py.Group):
            raise KeyError(name)
        return got
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode("utf-8"), gcpl=gcpl))


@register("h5", suffix=".h5", about="HDF5, one dataset per param with Caffe shape and layout",
          needs=("h5py",))
def write(targets, path: Path, meta) -> None:
    import h5py

    with atomic_write(path, "w+b") as fh:
        with h5py.File(fh, "w", libver=("earliest", "v108")) as f:
            for k in sorted(meta):
                f.attrs[k] = str(meta[k])
            for t in targets:
                parts = [p for p in t.key.split("/") if p]
                if not parts or parts[-1] in (".", ".."):
                    raise UsageError(f"HDF5 cannot hold the key {t.key!r}")
                try:
                    group = f
                    for p in parts[:-1]:
                        group = _group(h5py, group, p)
                    ds = group.create_dataset(parts[-1], data=np.asarray(t.array),
                                              track_times=False)
                except (KeyError, ValueError, TypeError):
                    raise UsageError(f"HDF5: key {t.key!r} clashes with another key (a "
                                     "dataset and a group of the same name)") from None
                ds.attrs["caffe_layer"] = t.layer
                ds.attrs["caffe_role"] = t.role
                ds.attrs["caffe_shape"] = np.asarray(
                    t.caffe_shape if t.caffe_shape is not None else (), dtype=np.int64)
                ds.attrs["layout"] = t.layout
