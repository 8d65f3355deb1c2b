"""Sigmoid: 1 / (1 + exp(-x)).

MACs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@register("Sigmoid")
class Sigmoid(ElementwiseImpl):
    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        # sigmoid_layer.cpp: BVLC since 2017 computes 0.5 * tanh(0.5 * x) + 0.5; older
        # Caffe (and the PSPNet fork) 1 / (1 + exp(-x)). They agree to float32 rounding;
        # the tanh form cannot overflow for large negative x.
        half = F32(0.5)
        return [half * np.tanh(half * x) + half]
