"""BN: the PSPNet/ICNet fork's batch normalisation (``bn_layer.cpp``), not BVLC BatchNorm.

Four learned params, each 1 x C x 1 x 1: slope (gamma), bias (beta), moving mean and
moving **variance** (not std, no scale-factor blob). The released nets are all
``frozen: true``, and inference is TEST phase, so the stored statistics are always used:
``y = (x - mean) * (var + eps)^-0.5 * slope + bias``. eps comes from ``bn_param.eps``
(default 1e-5; no official prototxt sets it).
MACs: 1 per output element (one multiply-add once folded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, count, fmt_shape, register


@dataclass(frozen=True)
class BNParams:
    eps: float = 1e-5
    #: Training-only settings, kept for reports: they do not change inference.
    momentum: float = 0.9
    frozen: bool = False


@register("BN")
class BN(LayerImpl):
    roles = ("gamma", "beta", "mean", "variance")

    def channel_affine(self, params):
        gamma, beta, mean, var = (np.asarray(p, np.float64).ravel() for p in params[:4])
        s = gamma / np.sqrt(var + float(np.float32(self.p.eps)))
        return s, beta - mean * s

    def channel_map(self) -> str:
        return "pointwise"

    def channel_roles(self) -> tuple[str, ...]:
        return self.roles

    def read_params(self, proto) -> BNParams:
        bp = proto.bn_param
        return BNParams(eps=float(bp.eps), momentum=float(bp.momentum), frozen=bool(bp.frozen))

    def _check(self, shape: Shape) -> None:
        # bn_layer.cpp reads num/channels/height/width (legacy 4-D accessors), so a
        # bottom has 2 to 4 axes, channels on axis 1.
        if not 2 <= len(shape) <= 4:
            raise self.fail(f"BN needs a bottom with 2 to 4 axes (N x C [x H [x W]]), got {fmt_shape(shape)}")

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        c = int(bottom_shapes[0][1])
        # bn_layer.cpp LayerSetUp: slope, bias, mean, variance, each shaped 1 x C x 1 x 1.
        return [(1, c, 1, 1)] * 4

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        slope, bias, mean, var = (f32(b).reshape(bshape) for b in params[:4])
        # bn_layer.cpp Forward_cpu, frozen/TEST branch, in its float32 order:
        # x_norm = x - mean; inv_std = (var + eps)^-0.5; x_norm *= inv_std;
        # top = x_norm * slope; top += bias.
        inv_std = np.power(var + F32(self.p.eps), F32(-0.5))
        return [((x - mean) * inv_std) * slope + bias]
