"""Threshold: 1 where x > threshold, else 0.

MACs: 1 per output element (one comparison).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class ThresholdParams:
    threshold: float = 0.0


@register("Threshold")
class Threshold(ElementwiseImpl):
    def read_params(self, proto) -> ThresholdParams:
        return ThresholdParams(threshold=float(proto.threshold_param.threshold))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        # threshold_layer.cpp: top = (x > threshold) ? 1 : 0 (strictly greater).
        return [(x > F32(self.p.threshold)).astype(F32)]
