"""BNLL ("binomial normal log likelihood"): softplus, log(1 + exp(x)).

MACs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@register("BNLL")
class BNLL(ElementwiseImpl):
    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        # bnll_layer.cpp: x > 0 ? x + log(1. + exp(-x)) : log(1. + exp(x)), i.e.
        # max(x, 0) + log(1 + exp(-|x|)); exp in float, the log and sum in double
        # (the literal 1. promotes), rounded to float on the store.
        e = np.exp(-np.abs(x)).astype(np.float64)
        y = np.maximum(x, F32(0)).astype(np.float64) + np.log(1.0 + e)
        return [y.astype(F32)]
