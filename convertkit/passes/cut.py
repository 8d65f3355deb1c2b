"""Cut a net before its data-dependent layers: the part every framework can express.

A layer whose output size depends on the data (``LayerImpl.dynamic_output``: SSD's
DetectionOutput, whose rows are the detections NMS keeps; py-faster-rcnn's proposal
layer) may have no expression in a framework (the proposals have none in ONNX,
TensorFlow or torch.export; SSD's DetectionOutput has one in each). Without it and
every layer fed by it, the net ends at its bottoms (a Faster R-CNN's RPN scores and
deltas; an SSD's loc, conf and prior blobs), which those frameworks compute exactly;
``convertkit.layers`` (``proposal``, ``detection_output``) finishes them.
"""
from __future__ import annotations

from ..graph import Net


def data_dependent(net: Net) -> list[str]:
    """Names of the layers whose output size depends on the data."""
    return [layer.name for layer in net.layers if layer.impl.dynamic_output]


def cut_data_dependent(net: Net) -> tuple[Net, list[str]]:
    """``net`` without its data-dependent layers and everything they feed, and a note
    naming them and the blobs the cut net ends at."""
    cut = set(data_dependent(net))
    if not cut:
        return net.replace(), []
    tainted: set[str] = set()
    kept, dropped = [], []
    for layer in net.layers:
        if layer.name in cut or tainted.intersection(layer.bottoms):
            tainted.update(layer.tops)
            dropped.append(layer)
        else:
            kept.append(layer)
    out = net.replace(layers=kept)
    first = dropped[0]
    note = (f"ends at {', '.join(out.outputs)}: {first.name} ({first.type}) gives a number "
            f"of rows that depends on the data" + (f", and {len(dropped) - 1} more layer(s) "
                                                   "follow it" if len(dropped) > 1 else ""))
    return out, [note]
