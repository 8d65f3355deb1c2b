"""ReLU6 (MobileNet forks): ``min(max(x, 0), 6)``. MACs: 1 per output element."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import ElementwiseImpl, F32, f32
from .base import register


@register("ReLU6")
class ReLU6(ElementwiseImpl):
    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.minimum(np.maximum(f32(bottoms[0]), F32(0)), F32(6))]
