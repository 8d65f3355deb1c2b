"""Data, loss and accuracy layers: known to convertkit, but dropped from deploy graphs.

Registering them lets the loader tell "training-only, dropped (noted)" apart from
"unsupported". They never run: shape inference and forward refuse them. ``Python``
layers are refused with their module and class named (layers/python.py), since their
code is not part of the model files.
MACs: 0 (never run).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import LayerImpl, Shape, register

TRAINING_ONLY_TYPES = (
    # data sources (the fork adds ImageSegData)
    "Data", "ImageData", "ImageSegData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
    # losses
    "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "EuclideanLoss", "HingeLoss",
    "InfogainLoss", "MultinomialLogisticLoss", "ContrastiveLoss",
    # metrics and sinks (the fork adds SegAccuracy; DeepLab writes features with MatWrite)
    "Accuracy", "SegAccuracy", "Silence", "HDF5Output", "MatWrite",
    # other forks' data sources (SegNet's DenseImageData, SSD's AnnotatedData)
    "DenseImageData", "AnnotatedData",
)


@register(*TRAINING_ONLY_TYPES)
class TrainingOnly(LayerImpl):
    training_only = True
    num_bottoms = (0, None)

    def read_params(self, proto: Any) -> tuple[Shape | None, ...]:
        """For a data layer: the shape of each top its parameters fix (None where they
        do not), so a test net fed by one needs no --input-shape."""
        return tuple(data_top_shapes(proto))

    def data_shapes(self) -> tuple[Shape | None, ...]:
        return self.p

    def _refuse(self) -> Exception:
        return self.fail(
            f"{self.type} is a training-only layer; deploy graphs drop it before use"
        )

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        raise self._refuse()

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise self._refuse()


def data_top_shapes(proto: Any) -> list[Shape | None]:
    """What a data layer's parameters say of its tops' shapes (N x C x H x W for the
    image, N x 1 x H x W for a dense label map, N for a class label), as Caffe's
    data layers compute them; None where the data itself decides (an LMDB's size)."""
    tops = list(proto.top)
    if not tops:
        return []
    shape: Shape | None = None
    t = proto.type
    if t == "MemoryData":
        m = proto.memory_data_param
        shape = (int(m.batch_size), int(m.channels), int(m.height), int(m.width))
    elif t == "DummyData":
        d = proto.dummy_data_param
        shapes = [tuple(int(x) for x in s.dim) for s in d.shape] or [
            (int(n), int(c), int(h), int(w))
            for n, c, h, w in zip(d.num, d.channels, d.height, d.width)]
        if len(shapes) == 1:
            shapes *= len(tops)
        return [s if all(shapes) and s and all(v > 0 for v in s) else None
                for s in shapes[:len(tops)]] + [None] * (len(tops) - len(shapes))
    elif t in ("ImageData", "ImageSegData", "DenseImageData", "WindowData", "Data"):
        block = {"ImageData": "image_data_param", "ImageSegData": "image_data_param",
                 "DenseImageData": "dense_image_data_param", "WindowData": "window_data_param",
                 "Data": "data_param"}[t]
        p = getattr(proto, block)
        batch = int(getattr(p, "batch_size", 0) or 0)
        crop = int(proto.transform_param.crop_size or getattr(p, "crop_size", 0) or 0)
        h = crop or int(getattr(p, "new_height", 0) or 0)
        w = crop or int(getattr(p, "new_width", 0) or 0)
        color = getattr(p, "is_color", True)
        channels = 3 if color else 1
        if t == "Data" and not crop:
            h = w = 0  # an LMDB's images decide
        if batch and h and w:
            shape = (batch, channels, h, w)
            label = (batch, 1, h, w) if t in ("ImageSegData", "DenseImageData") else (batch,)
            return [shape] + [label] * (len(tops) - 1)
    return [shape] + [None] * (len(tops) - 1)
