"""Split: hand one bottom to several tops (Caffe inserts these for fan-out).

Caffe's tops share the bottom's data; so do ours (no layer writes in place).
MACs: 0 (data movement).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import LayerImpl, Shape, register


@register("Split")
class Split(LayerImpl):
    def channel_map(self) -> str:
        return "linear"

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        # SplitLayer::Reshape: every top is shaped like the bottom.
        return [tuple(bottom_shapes[0]) for _ in self.tops]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [bottoms[0] for _ in self.tops]
