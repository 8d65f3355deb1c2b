"""ShuffleChannel (ShuffleNet forks): channels seen as ``group x C/group`` are
transposed to ``C/group x group``. MACs: 0 (data movement)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class ShuffleChannelParams:
    group: int = 1


@register("ShuffleChannel")
class ShuffleChannel(LayerImpl):
    def read_params(self, proto: Any) -> ShuffleChannelParams:
        g = int(proto.shuffle_channel_param.group)
        if g < 1:
            raise PrototxtError(f"group {g} must be at least 1", layer=self.name)
        return ShuffleChannelParams(g)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        if len(shape) < 2 or shape[1] % self.p.group:
            raise self.fail(f"channels of {fmt_shape(shape)} are not divisible by group {self.p.group}")
        return [shape]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], np.float32)
        n, c = x.shape[:2]
        g = self.p.group
        y = x.reshape(n, g, c // g, -1).transpose(0, 2, 1, 3)
        return [np.ascontiguousarray(y).reshape(x.shape)]
