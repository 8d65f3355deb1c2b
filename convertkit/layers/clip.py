"""Clip: max(min, min(x, max)) (BVLC ``clip_layer.cpp``); both bounds are required.

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PrototxtError
from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class ClipParams:
    min: float
    max: float


@register("Clip")
class Clip(ElementwiseImpl):
    def read_params(self, proto) -> ClipParams:
        cp = proto.clip_param
        if not (cp.HasField("min") and cp.HasField("max")):
            raise PrototxtError("Clip needs clip_param { min: ... max: ... }", layer=self.name)
        return ClipParams(min=float(F32(cp.min)), max=float(F32(cp.max)))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        # std::max(min, std::min(x, max)): with min > max every value becomes min.
        return [np.maximum(F32(self.p.min), np.minimum(x, F32(self.p.max)))]
