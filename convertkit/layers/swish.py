"""Swish: x * sigmoid(beta * x) (BVLC ``swish_layer.cpp``).

Caffe scales a copy of the bottom by ``beta``, runs its Sigmoid layer on it (the tanh
form, see sigmoid.py) and multiplies by the bottom; each step in float32.

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class SwishParams:
    beta: float = 1.0


@register("Swish")
class Swish(ElementwiseImpl):
    def read_params(self, proto) -> SwishParams:
        return SwishParams(beta=float(proto.swish_param.beta))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        half = F32(0.5)
        sig = half * np.tanh(half * (x * F32(self.p.beta))) + half
        return [x * sig]
