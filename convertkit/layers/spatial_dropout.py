"""ENet's ``spatial_dropout.SpatialDropoutLayer`` (a Python layer), built in: it drops
whole channels while training and is the identity at TEST, where convertkit runs.

MACs: 0 (data movement).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import ElementwiseImpl
from .base import Shape, register


@register("SpatialDropout")
class SpatialDropout(ElementwiseImpl):
    def channel_map(self) -> str:
        return "linear"

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return 0

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [bottoms[0]]
