"""MVN: mean-variance normalisation per image and channel (or per image with
``across_channels``): y = (x - mean) / (std + eps), or just x - mean.

Note eps is added to the standard deviation, not to the variance (unlike BN).
The top always has 4 axes: MVNLayer::Reshape shapes it with the legacy
num()/channels()/height()/width() accessors, which read 1 for an axis the bottom
lacks, so an (N, C) bottom gives an (N, C, 1, 1) top.
MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, ElementwiseImpl, f32
from .base import Shape, fmt_shape, register


@dataclass(frozen=True)
class MVNParams:
    normalize_variance: bool = True
    across_channels: bool = False
    eps: float = 1e-9


@register("MVN")
class MVN(ElementwiseImpl):
    def read_params(self, proto) -> MVNParams:
        mp = proto.mvn_param
        return MVNParams(
            normalize_variance=bool(mp.normalize_variance),
            across_channels=bool(mp.across_channels), eps=float(mp.eps),
        )

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        # mvn_layer.cpp uses the legacy num()/channels() accessors: 1 to 4 axes.
        if not 1 <= len(bottom_shapes[0]) <= 4:
            raise self.fail(f"MVN needs a bottom with 1 to 4 axes, got {fmt_shape(bottom_shapes[0])}")
        return [legacy_shape(bottom_shapes[0])]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        p = self.p
        # Forward_cpu: num = across_channels ? N : N * C rows of dim = count / num.
        rows = x.shape[0] if p.across_channels or x.ndim < 2 else x.shape[0] * x.shape[1]
        v = x.reshape(rows, -1)
        centred = v - v.mean(axis=1, keepdims=True)  # X - E[X]
        if p.normalize_variance:
            # var = E[(X - E[X])^2]; then std = var^0.5; std += eps; top /= std.
            std = np.sqrt(np.square(centred).mean(axis=1, keepdims=True)) + F32(p.eps)
            centred = centred / std
        return [centred.reshape(legacy_shape(x.shape))]


def legacy_shape(shape: Sequence[int]) -> Shape:
    """Blob::LegacyShape of every axis: (num, channels, height, width), 1 where the
    blob has no such axis."""
    return tuple(int(d) for d in shape) + (1,) * (4 - len(shape))
