"""TanH: the hyperbolic tangent.

MACs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import ElementwiseImpl, f32
from .base import register


@register("TanH")
class TanH(ElementwiseImpl):
    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        # tanh_layer.cpp: top = tanh(x).
        return [np.tanh(f32(bottoms[0]))]
