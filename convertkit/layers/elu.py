"""ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class ELUParams:
    alpha: float = 1.0


@register("ELU")
class ELU(ElementwiseImpl):
    def read_params(self, proto) -> ELUParams:
        return ELUParams(alpha=float(proto.elu_param.alpha))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        zero = F32(0)
        # elu_layer.cpp: top = max(x, 0) + alpha * (exp(min(x, 0)) - 1); Caffe uses
        # exp(), not expm1(), so do we.
        neg = np.exp(np.minimum(x, zero)) - F32(1)
        return [np.maximum(x, zero) + F32(self.p.alpha) * neg]
