"""AbsVal: |x|.

MACs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import ElementwiseImpl, f32
from .base import Shape, register


@register("AbsVal")
class AbsVal(ElementwiseImpl):
    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        # AbsValLayer::LayerSetUp: CHECK_NE(top[0], bottom[0]): no in-place computation
        # (its backward needs the input).
        if list(self.tops[:1]) == list(self.bottoms[:1]):
            raise self.fail(f"AbsVal does not allow in-place computation (top '{self.tops[0]}')")
        return [tuple(bottom_shapes[0])]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.abs(f32(bottoms[0]))]
