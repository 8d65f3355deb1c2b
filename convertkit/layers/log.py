"""Log: log_base(shift + scale * x); base -1 (the default) means e.

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
class LogParams:
    base: float = -1.0
    scale: float = 1.0
    shift: float = 0.0


@register("Log")
class Log(ElementwiseImpl):
    def read_params(self, proto) -> LogParams:
        lp = proto.log_param
        p = LogParams(base=float(lp.base), scale=float(lp.scale), shift=float(lp.shift))
        # LogLayer::LayerSetUp: CHECK_GT(base, 0) unless base == -1 (e).
        if p.base != -1 and not p.base > 0:
            raise PrototxtError(f"log_param base must be -1 (e) or > 0, got {p.base:g}", layer=self.name)
        return p

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        p = self.p
        scale, shift = F32(p.scale), F32(p.shift)
        # log_layer.cpp: base_scale = base == -1 ? 1 : 1 / log(base).
        base_scale = F32(1) if p.base == -1 else F32(1) / np.log(F32(p.base))
        # Forward_cpu: y = x; y *= scale (if != 1); y += shift (if != 0); y = log(y);
        # y *= base_scale (if != 1). Non-positive arguments give -inf / NaN, as in Caffe.
        y = x
        if scale != 1:
            y = y * scale
        if shift != 0:
            y = y + shift
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(y)
        if base_scale != 1:
            y = y * base_scale
        return [y]
