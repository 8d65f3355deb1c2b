"""Bias: add a learned blob (one bottom) or a second bottom, broadcast over the axes
around it (``bias_layer.cpp``; the same axis rules as Scale).

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._broadcast import as_broadcast, learned_shape, operand_axis
from ._elementwise import f32
from .base import LayerImpl, Shape, count, register


@dataclass(frozen=True)
class BiasParams:
    axis: int = 1
    num_axes: int = 1


@register("Bias")
class Bias(LayerImpl):
    num_bottoms = (1, 2)

    def channel_map(self) -> str | None:
        return "pointwise" if len(self.bottoms) == 1 and self.p.axis == 1 and self.p.num_axes <= 1 else None

    def channel_roles(self) -> tuple[str, ...]:
        return self.param_roles() if self.p.num_axes == 1 else ()

    def param_roles(self) -> tuple[str, ...]:
        # With two bottoms the bias is bottom 1, not a learned param.
        return ("bias",) if len(self.bottoms) == 1 else ()

    def read_params(self, proto) -> BiasParams:
        bp = proto.bias_param
        return BiasParams(axis=int(bp.axis), num_axes=int(bp.num_axes))

    def _bias_shape(self, bottom_shapes: Sequence[Shape]) -> Shape:
        if len(bottom_shapes) > 1:
            return tuple(bottom_shapes[1])
        return learned_shape(self, bottom_shapes[0], self.p.axis, self.p.num_axes, "bias")

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        # BiasLayer::LayerSetUp makes a blob only with one bottom:
        # shape = bottom[0].shape[axis : axis+num_axes].
        return [self._bias_shape(bottom_shapes)] if len(bottom_shapes) == 1 else []

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        what = "bias bottom" if len(bottom_shapes) > 1 else "bias"
        operand_axis(self, bottom_shapes[0], self._bias_shape(bottom_shapes), self.p.axis, what)
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        if len(bottoms) > 1:
            bias = f32(bottoms[1])
            shape = bias.shape
        else:
            shape = self._bias_shape([x.shape])
            bias = f32(params[0])
        start = operand_axis(self, x.shape, shape, self.p.axis, "bias")
        # bias_layer.cpp Forward_cpu: top = x + bias[d] over (outer, bias_dim, inner).
        x3, b3 = as_broadcast(x, bias, start, len(shape))
        return [(x3 + b3).reshape(x.shape)]
