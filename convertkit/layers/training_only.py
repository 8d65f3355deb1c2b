"""Data, loss and accuracy layers: known to convertkit, but dropped from deploy graphs.

Registering them lets the loader tell "training-only, dropped (noted)" apart from
"unsupported". They never run: shape inference and forward refuse them. ``Python``
layers stay unsupported, since their code is not part of the model files.
MACs: 0 (never run).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import LayerImpl, Shape, register

TRAINING_ONLY_TYPES = (
    # data sources (the fork adds ImageSegData)
    "Data", "ImageData", "ImageSegData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
    # losses
    "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "EuclideanLoss", "HingeLoss",
    "InfogainLoss", "MultinomialLogisticLoss", "ContrastiveLoss",
    # metrics and sinks (the fork adds SegAccuracy)
    "Accuracy", "SegAccuracy", "Silence", "HDF5Output",
)


@register(*TRAINING_ONLY_TYPES)
class TrainingOnly(LayerImpl):
    training_only = True
    num_bottoms = (0, None)

    def _refuse(self) -> Exception:
        return self.fail(
            f"{self.type} is a training-only layer; deploy graphs drop it before use"
        )

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        raise self._refuse()

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise self._refuse()
