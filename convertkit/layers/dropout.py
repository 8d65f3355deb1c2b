"""Dropout: the identity at TEST, which is the only phase convertkit runs, except in
py-faster-rcnn's Caffe fork with ``scale_train: false``.

BVLC Caffe (``dropout_layer.cpp``) scales in training, by a Bernoulli mask / (1 -
dropout_ratio), and copies at TEST. The fork (rbgirshick/caffe-fast-rcnn) adds
``DropoutParameter.scale_train`` (field 2, default true): with false, training keeps
the mask unscaled and TEST multiplies by ``1 / scale_`` where ``scale_ = 1 / (1 -
ratio)`` is held in float32, so the factor is ``float32(1 / float64(scale_))``. A
converter that ignores the field is off by that factor after every such layer.
(PSPNet's ``conv5_4/dropout`` has ratio 0.1 and the default.)

MACs: 0 (data movement), or 1 per element when it scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import LayerImpl, Shape, count, register


@dataclass(frozen=True)
class DropoutParams:
    dropout_ratio: float = 0.5
    #: caffe-fast-rcnn's field: False scales at TEST instead of in training.
    scale_train: bool = True


@register("Dropout")
class Dropout(LayerImpl):
    def channel_map(self) -> str:
        return "linear"  # identity or one factor at TEST

    def read_params(self, proto) -> DropoutParams:
        dp = proto.dropout_param
        return DropoutParams(dropout_ratio=float(dp.dropout_ratio), scale_train=bool(dp.scale_train))

    def test_scale(self) -> np.float32 | None:
        """The factor of the TEST phase, or None for the identity (BVLC's Dropout)."""
        if self.p.scale_train:
            return None
        threshold = np.float32(self.p.dropout_ratio)
        scale = np.float32(1.0 / (1.0 - float(threshold)))  # Dtype scale_
        return np.float32(1.0 / float(scale))  # caffe_scal's Dtype alpha

    def channel_affine(self, params):
        s = self.test_scale()
        return None if s is None else (np.float64(s), np.float64(0))

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return 0 if self.test_scale() is None else count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        # Forward_cpu, TEST phase: caffe_copy(bottom, top), then (the fork) caffe_scal.
        s = self.test_scale()
        x = bottoms[0]
        return [x if s is None else np.asarray(x, np.float32) * s]
