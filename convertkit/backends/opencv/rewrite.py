"""Rewrite a net so that OpenCV dnn's Caffe importer loads it and computes the same.

Each layer type's OpenCV expression lives in ``convertkit/backends/opencv``; this
pass only applies them. Blob names are kept, and each replaced layer's last
replacement keeps the original layer name, so OpenCV's per-layer outputs line up
with the numpy runtime's. The input net is not changed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .. import Context, backend
from ...fileio import atomic_write
from ...graph import Net
from ...layers.base import Shape
from ...caffe.prototxt import net_to_text
from ...caffe.wire import save_caffemodel


def rewrite_for_opencv(net: Net, input_shapes: Mapping[str, Shape] | None = None
                       ) -> tuple[Net, list[str]]:
    """A new Net OpenCV can load, for the declared input shapes or ``input_shapes``
    (explicit Interp sizes depend on them); returns it and notes on what changed."""
    opencv = backend("opencv")
    plan = net.plan(input_shapes)
    layers: list = []
    changed: dict[str, list[str]] = {}  # "BN -> BatchNorm + Scale": layer names
    for layer in net.layers:
        replacement = opencv.convert(Context(net, plan, layer))
        if replacement is None:
            layers.append(layer)
        else:
            layers.extend(replacement)
            kind = f"{layer.type} -> {' + '.join(r.type for r in replacement)}"
            changed.setdefault(kind, []).append(layer.name)
    # A shapeless (scalar) blob, as Caffe saves a channel-shared PReLU's slope or a
    # Scale's of num_axes 0: OpenCV cannot make a Mat of no axes, and one value of one
    # axis means the same to it.
    layers = [layer.replace(params=[np.reshape(np.asarray(b, np.float32), (1,)) if np.ndim(b) == 0
                                    else b for b in layer.params])
              if any(np.ndim(b) == 0 for b in layer.params) else layer for layer in layers]
    out = net.replace(layers=layers, inputs=dict(plan.inputs))
    out.plan()
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
