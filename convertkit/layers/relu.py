"""ReLU, with Caffe's leaky variant ``relu_param.negative_slope``.

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class ReLUParams:
    negative_slope: float = 0.0


@register("ReLU")
class ReLU(ElementwiseImpl):
    def read_params(self, proto) -> ReLUParams:
        return ReLUParams(negative_slope=float(proto.relu_param.negative_slope))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        slope = F32(self.p.negative_slope)
        # relu_layer.cpp: top = max(x, 0) + negative_slope * min(x, 0).
        if slope == 0:
            return [np.maximum(x, F32(0))]
        return [np.maximum(x, F32(0)) + slope * np.minimum(x, F32(0))]
