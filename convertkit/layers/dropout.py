"""Dropout: the identity at TEST, which is the only phase convertkit runs.

(In TRAIN Caffe multiplies by a Bernoulli mask / (1 - dropout_ratio); PSPNet's
``conv5_4/dropout`` has ratio 0.1.)
MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import LayerImpl, register


@dataclass(frozen=True)
class DropoutParams:
    #: Training-only, kept for reports.
    dropout_ratio: float = 0.5


@register("Dropout")
class Dropout(LayerImpl):
    def channel_map(self) -> str:
        return "linear"  # identity at TEST

    def read_params(self, proto) -> DropoutParams:
        return DropoutParams(dropout_ratio=float(proto.dropout_param.dropout_ratio))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        # dropout_layer.cpp Forward_cpu, TEST phase: caffe_copy(bottom, top).
        return [bottoms[0]]
