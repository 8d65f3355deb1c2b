"""Softmax along one axis (default 1, channels).

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import f32
from .base import LayerImpl, Shape, canonical_axis, count, register


@dataclass(frozen=True)
class SoftmaxParams:
    axis: int = 1


@register("Softmax")
class Softmax(LayerImpl):
    def read_params(self, proto) -> SoftmaxParams:
        return SoftmaxParams(axis=int(proto.softmax_param.axis))

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        canonical_axis(self.p.axis, len(bottom_shapes[0]), self)
        return [tuple(bottom_shapes[0])]

    def output_hint(self, k: int = 0) -> str:
        return "probabilities"

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        axis = canonical_axis(self.p.axis, x.ndim, self)
        # softmax_layer.cpp: subtract the max over the axis (numerical stability),
        # exponentiate, divide by the sum over the axis.
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return [e / e.sum(axis=axis, keepdims=True)]
