"""Axpy (SENet, hujie-frank/SENet ``axpy_layer.cpp``): ``top = a * x + y`` with three
bottoms: ``a`` N x C x 1 x 1 (the squeeze-excitation gates), ``x`` and ``y`` N x C x H x W.
MACs: 1 per output element.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._elementwise import f32
from .base import LayerImpl, Shape, count, fmt_shape, register


@register("Axpy")
class Axpy(LayerImpl):
    num_bottoms = (3, 3)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        a, x, y = (tuple(s) for s in bottom_shapes)
        if x != y:
            raise self.fail(f"x {fmt_shape(x)} and y {fmt_shape(y)} must have one shape")
        if len(x) < 2 or a[:2] != x[:2] or any(d != 1 for d in a[2:]):
            raise self.fail(f"a {fmt_shape(a)} must be N x C x 1 x 1 for x {fmt_shape(x)}")
        return [x]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        a, x, y = (f32(b) for b in bottoms)
        a = a.reshape(a.shape[:2] + (1,) * (x.ndim - 2))
        return [a * x + y]
