"""PReLU: ReLU with a learned negative slope per channel (or one shared slope).

MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import Shape, fmt_shape, register


@dataclass(frozen=True)
class PReLUParams:
    channel_shared: bool = False


@register("PReLU")
class PReLU(ElementwiseImpl):
    roles = ("slope",)

    def channel_map(self) -> str:
        return "pointwise"

    def channel_roles(self) -> tuple[str, ...]:
        return () if self.p.channel_shared else self.roles

    def read_params(self, proto) -> PReLUParams:
        return PReLUParams(channel_shared=bool(proto.prelu_param.channel_shared))

    def _check(self, shape: Shape) -> None:
        # PReLULayer::LayerSetUp: CHECK_GE(bottom[0]->num_axes(), 2); channels = shape(1).
        if len(shape) < 2:
            raise self.fail(f"PReLU needs a bottom with at least 2 axes, got {fmt_shape(shape)}")

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        # One slope (a scalar blob, shape (), as Caffe makes it), or one per channel.
        return [()] if self.p.channel_shared else [(int(bottom_shapes[0][1]),)]

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        return [tuple(bottom_shapes[0])]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        # prelu_layer.cpp: c = (i / dim) % channels / div_factor; the shared case uses
        # slope[0] for every channel. top = max(x, 0) + slope[c] * min(x, 0).
        slope = f32(params[0]).reshape((1, -1) + (1,) * (x.ndim - 2))
        return [np.maximum(x, F32(0)) + slope * np.minimum(x, F32(0))]
