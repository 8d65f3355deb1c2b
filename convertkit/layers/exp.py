"""Exp: base ^ (shift + scale * x); base -1 (the default) means e.

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
class ExpParams:
    base: float = -1.0
    scale: float = 1.0
    shift: float = 0.0


@register("Exp")
class Exp(ElementwiseImpl):
    def read_params(self, proto) -> ExpParams:
        ep = proto.exp_param
        p = ExpParams(base=float(ep.base), scale=float(ep.scale), shift=float(ep.shift))
        # ExpLayer::LayerSetUp: CHECK_GT(base, 0) unless base == -1 (e).
        if p.base != -1 and not p.base > 0:
            raise PrototxtError(f"exp_param base must be -1 (e) or > 0, got {p.base:g}", layer=self.name)
        return p

    def scales(self) -> tuple[np.float32, np.float32]:
        """(inner, outer) as ExpLayer::LayerSetUp computes them in float32, so that
        top = outer * exp(inner * x): inner = log(base) * scale; outer = 1 when shift
        is 0, else base ^ shift (e ^ shift for the natural base)."""
        p = self.p
        natural = p.base == -1
        inner = (F32(1) if natural else np.log(F32(p.base))) * F32(p.scale)
        if p.shift == 0:
            return inner, F32(1)
        return inner, np.exp(F32(p.shift)) if natural else np.power(F32(p.base), F32(p.shift))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        inner, outer = self.scales()
        # Forward_cpu: top = exp(inner * x) (no multiply when inner == 1); top *= outer.
        y = np.exp(x) if inner == 1 else np.exp(x * inner)
        if outer != 1:
            y = y * outer
        return [y]
