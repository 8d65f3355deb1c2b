"""Normalize (SSD, weiliu89 ``normalize_layer.cpp``): L2 normalisation, then a learned
scale. ``across_spatial`` (the default): each image divided by
``sqrt(sum over C, H, W of x^2 + eps)``; else each pixel by ``sqrt(sum over C of x^2 +
eps)``. The scale param is one value (``channel_shared``, the default) or one per
channel. MACs: 2 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, count, fmt_shape, register


@dataclass(frozen=True)
class NormalizeParams:
    across_spatial: bool = True
    channel_shared: bool = True
    eps: float = 1e-10


@register("Normalize")
class Normalize(LayerImpl):
    roles = ("gamma",)

    def read_params(self, proto: Any) -> NormalizeParams:
        p = proto.norm_param
        return NormalizeParams(bool(p.across_spatial), bool(p.channel_shared), float(p.eps))

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        if len(shape) < 2:
            raise self.fail(f"Normalize needs an N x C x ... bottom, got {fmt_shape(shape)}")
        return [(1,) if self.p.channel_shared else (int(shape[1]),)]

    def channel_roles(self) -> tuple[str, ...]:
        return () if self.p.channel_shared else self.roles

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return 2 * count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        sq = x * x
        if self.p.across_spatial:
            axes = tuple(range(1, x.ndim))
        else:
            axes = (1,)
        norm = np.sqrt(sq.sum(axis=axes, keepdims=True, dtype=np.float64).astype(F32)
                       + F32(self.p.eps))
        scale = f32(params[0]).reshape((1, -1) + (1,) * (x.ndim - 2))
        return [(x / norm) * scale]
