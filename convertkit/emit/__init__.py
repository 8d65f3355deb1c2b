"""Writers: one module per output format, registered by format name.

    from convertkit import emit
    files = emit.write("safetensors", targets, "out/model.safetensors",
                       meta={"source": "pspnet50.caffemodel"}, inputs=[prototxt, caffemodel])

``targets`` is what :func:`convertkit.mapping.resolve` returns (key, array,
layer, role, layout, Caffe shape). Every writer:

- produces a file its framework loads with its own loader, without convertkit;
- writes byte-identical output for the same targets and meta, run after run (no
  timestamps: zip entries dated 1980-01-01, HDF5 without object times);
- writes atomically (a temp file in the target folder, flushed, then renamed; the
  multi-file TF checkpoint as described in :mod:`convertkit.emit.tf`), refuses to
  replace an existing file unless ``force=True`` and never writes over one of
  ``inputs`` (compared once resolved), raising OutputFileError naming the file.

Framework packages are imported only by the writer that needs them. ``meta``
(str -> str) is stored where the format has a place for it: HDF5 root attributes and
the safetensors header; the other formats ignore it.
"""
from __future__ import annotations

from .base import FORMATS, Format, formats, get, output_files, register, write

# Register the writers (each imports its framework only when it writes).
from . import npy, npz, h5, tf, torch, safetensors  # noqa: E402,F401,I001

__all__ = ["FORMATS", "Format", "formats", "get", "output_files", "register", "write"]
