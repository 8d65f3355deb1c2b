"""TanH: the hyperbolic tangent.

FLOPs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import ElementwiseImpl, f32
from .base import register


@register("TanH")
class TanH(ElementwiseImpl):
    def forward(self, bottoms: Sequence[np.ndarray], blobs: Sequence[np.ndarray]) -> list[np.ndarray]:
        # tanh_layer.cpp: top = tanh(x).
        return [np.tanh(f32(bottoms[0]))]
