"""Power: (shift + scale * x) ^ power.

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import register


@dataclass(frozen=True)
class PowerParams:
    power: float = 1.0
    scale: float = 1.0
    shift: float = 0.0


@register("Power")
class Power(ElementwiseImpl):
    def read_params(self, proto) -> PowerParams:
        pp = proto.power_param
        return PowerParams(power=float(pp.power), scale=float(pp.scale), shift=float(pp.shift))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        power, scale, shift = F32(self.p.power), F32(self.p.scale), F32(self.p.shift)
        # power_layer.cpp: when power * scale == 0 the output is constant:
        # 1 if power == 0, else shift ^ power.
        if power * scale == 0:
            value = F32(1) if power == 0 else np.power(shift, power)
            return [np.full(x.shape, value, dtype=F32)]
        # Otherwise scale, then shift, then raise, each step skipped when it is the
        # identity (same float32 steps as Caffe's caffe_scal / add_scalar / powx).
        y = x
        if scale != 1:
            y = y * scale
        if shift != 0:
            y = y + shift
        if power != 1:
            y = np.power(y, power)
        if y is x:  # the identity: still hand back a distinct array
            y = x.copy()
        return [y]
