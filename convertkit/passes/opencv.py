"""Rewrite a net so that OpenCV dnn's Caffe importer loads it and computes the same.

OpenCV has no ``BN`` type and computes a 0x0 output for a shrink ``Interp``; each
layer's module says how OpenCV expresses it (``LayerImpl.for_opencv``), and this pass
only applies those answers. Blob names are kept, and each replaced layer's last
replacement keeps the original layer name, so OpenCV's per-layer outputs line up with
the numpy runtime's.
"""
from __future__ import annotations

from pathlib import Path

from ..graph import Net
from ..prototxt import net_to_text
from ..wire import save_caffemodel
from ..fileio import atomic_write


def rewrite_for_opencv(net: Net) -> tuple[Net, list[str]]:
    """A new Net OpenCV can load; returns it and notes on what changed."""
    if not net.blob_shapes:
        net.infer_shapes()
    layers: list = []
    changed: dict[str, list[str]] = {}  # "BN -> BatchNorm + Scale": layer names
    for layer in net.layers:
        replacement = layer.impl.for_opencv()
        if replacement is None:
            layers.append(layer)
        else:
            layers.extend(replacement)
            kind = f"{layer.type} -> {' + '.join(r.type for r in replacement)}"
            changed.setdefault(kind, []).append(layer.name)
    out = Net(name=net.name, inputs=dict(net.inputs), layers=layers,
              notes=list(net.notes), prototxt_path=net.prototxt_path,
              caffemodel_path=net.caffemodel_path)
    out.infer_shapes()
    notes = []
    if changed:
        total = sum(len(v) for v in changed.values())
        notes.append(f"rewrote {total} layers for OpenCV: " + "; ".join(
            f"{len(names)} {kind} ({names[0]}{', ...' if len(names) > 1 else ''})"
            for kind, names in changed.items()))
    return out, notes


def write_net(net: Net, prototxt: str | Path, caffemodel: str | Path | None) -> None:
    """Write a graph as prototxt (+ caffemodel when it has weights), atomically."""
    with atomic_write(prototxt, "w") as fh:
        fh.write(net_to_text(net))
    if caffemodel is not None:
        save_caffemodel(net, caffemodel)
