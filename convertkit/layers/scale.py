"""Scale: multiply by a learned blob (one bottom) or by a second bottom, broadcast
over the axes around it; with ``bias_term``, add a learned bias after.

ICNet's ``data_sub1`` has no scale_param, so axis 1 / num_axes 1 apply and its blob is
(C,) = (3,).
MACs: 1 per output element (a multiply, or a multiply-add with the bias).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._broadcast import as_broadcast, learned_shape, operand_axis
from ._elementwise import f32
from .base import LayerImpl, Shape, count, register


@dataclass(frozen=True)
class ScaleParams:
    axis: int = 1
    num_axes: int = 1
    bias_term: bool = False


@register("Scale")
class Scale(LayerImpl):
    num_bottoms = (1, 2)

    def channel_affine(self, params):
        # Per channel only with a learned scale on axis 1 (or one value for all).
        if len(self.bottoms) != 1 or not params:
            return None
        s = np.asarray(params[0], np.float64)
        if s.size != 1 and not (self.p.axis == 1 and s.ndim == 1):
            return None
        t = np.asarray(params[1], np.float64) if self.p.bias_term else np.zeros_like(s)
        return s.ravel(), t.ravel()

    def channel_map(self) -> str | None:
        return "pointwise" if len(self.bottoms) == 1 and self.p.axis == 1 and self.p.num_axes <= 1 else None

    def channel_roles(self) -> tuple[str, ...]:
        return self.param_roles() if self.p.num_axes == 1 else ()

    def param_roles(self) -> tuple[str, ...]:
        # With two bottoms the scale is bottom 1, not a learned param.
        learned = ("gamma",) if len(self.bottoms) == 1 else ()
        return learned + (("beta",) if self.p.bias_term else ())

    def read_params(self, proto) -> ScaleParams:
        sp = proto.scale_param
        return ScaleParams(axis=int(sp.axis), num_axes=int(sp.num_axes), bias_term=bool(sp.bias_term))

    def _scale_shape(self, bottom_shapes: Sequence[Shape]) -> Shape:
        if len(bottom_shapes) > 1:
            return tuple(bottom_shapes[1])
        return learned_shape(self, bottom_shapes[0], self.p.axis, self.p.num_axes, "scale")

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shapes: list[Shape] = []
        if len(bottom_shapes) == 1:
            # ScaleLayer::LayerSetUp: blob shape = bottom[0].shape[axis : axis+num_axes].
            shapes.append(self._scale_shape(bottom_shapes))
        if self.p.bias_term:
            # The internal BiasLayer gets axis = scale axis and num_axes = bottom[1]'s
            # axis count (two bottoms) or scale num_axes (one bottom): the same shape
            # as the scale.
            bottom = bottom_shapes[0]
            if len(bottom_shapes) > 1:
                n = len(bottom_shapes[1])
                shapes.append(learned_shape(self, bottom, self.p.axis if n else 0, n, "bias"))
            else:
                shapes.append(learned_shape(self, bottom, self.p.axis, self.p.num_axes, "bias"))
        return shapes

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        scale = self._scale_shape(bottom_shapes)
        what = "scale bottom" if len(bottom_shapes) > 1 else "scale"
        operand_axis(self, bottom_shapes[0], scale, self.p.axis, what)
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        if len(bottoms) > 1:
            scale = f32(bottoms[1])
            scale_shape = scale.shape
            rest = list(params)
        else:
            scale_shape = self._scale_shape([x.shape])
            scale, rest = f32(params[0]), list(params[1:])
        start = operand_axis(self, x.shape, scale_shape, self.p.axis, "scale")
        # scale_layer.cpp Forward_cpu: top = scale[d] * x over (outer, scale_dim, inner).
        x3, s3 = as_broadcast(x, scale, start, len(scale_shape))
        y = x3 * s3
        if self.p.bias_term:
            # Then the internal BiasLayer: top += bias[d] (a second float32 rounding,
            # as in Caffe, not a fused multiply-add).
            y = y + f32(rest[0]).reshape(s3.shape)
        return [y.reshape(x.shape)]
