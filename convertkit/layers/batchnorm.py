"""BatchNorm: BVLC's normalisation without affine (a ``Scale`` layer usually follows).

Three learned params: mean * s (C,), variance * s (C,) and the moving-average factor
s (1,); the stored statistics are divided by s, and s == 0 means zero statistics.
``use_global_stats`` defaults to true at TEST (our phase); a prototxt that sets it
false normalises by the statistics of the batch itself, as Caffe does then.
MACs: 1 per output element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, count, fmt_shape, register


@dataclass(frozen=True)
class BatchNormParams:
    #: use_global_stats as it applies at TEST: the prototxt's value where set, else true.
    use_global_stats: bool = True
    eps: float = 1e-5
    #: Training-only, kept for reports.
    moving_average_fraction: float = 0.999


@register("BatchNorm")
class BatchNorm(LayerImpl):
    roles = ("mean", "variance", "scale_factor")

    def normalizes(self) -> bool:
        return True

    def channel_affine(self, params):
        if not self.p.use_global_stats:
            return None
        factor = float(np.asarray(params[2], np.float64).ravel()[0])
        factor = 0.0 if factor == 0 else 1.0 / factor  # Caffe: a factor of 0 means 0
        mean = np.asarray(params[0], np.float64).ravel() * factor
        var = np.asarray(params[1], np.float64).ravel() * factor
        s = 1.0 / np.sqrt(var + float(np.float32(self.p.eps)))
        return s, -mean * s

    def channel_map(self) -> str:
        return "pointwise"

    def channel_roles(self) -> tuple[str, ...]:
        return ("mean", "variance")

    def read_params(self, proto) -> BatchNormParams:
        bp = proto.batch_norm_param
        # batch_norm_layer.cpp: use_global_stats_ = phase == TEST, overridden only where
        # the prototxt has the field (a presence test).
        ugs = bool(bp.use_global_stats) if bp.HasField("use_global_stats") else True
        return BatchNormParams(
            use_global_stats=ugs, eps=float(bp.eps),
            moving_average_fraction=float(bp.moving_average_fraction),
        )

    @staticmethod
    def _channels(shape: Shape) -> int:
        # batch_norm_layer.cpp: channels_ = num_axes == 1 ? 1 : shape(1).
        return 1 if len(shape) == 1 else int(shape[1])

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        c = self._channels(bottom_shapes[0])
        return [(c,), (c,), (1,)]

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        if len(bottom_shapes[0]) < 1:
            raise self.fail(
                f"BatchNorm needs a bottom with at least 1 axis, got {fmt_shape(bottom_shapes[0])}"
            )
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        c = self._channels(x.shape)
        bshape = (1, c) + (1,) * (x.ndim - 2) if x.ndim > 1 else (1,)
        if self.p.use_global_stats:
            # Forward_cpu: scale_factor = params[2][0] == 0 ? 0 : 1 / params[2][0];
            # mean = scale_factor * params[0]; variance = scale_factor * params[1].
            s = float(f32(params[2]).ravel()[0])
            factor = F32(0) if s == 0 else F32(1) / F32(s)
            mean = (factor * f32(params[0]).ravel()).reshape(bshape)
            var = (factor * f32(params[1]).ravel()).reshape(bshape)
        else:
            # Batch statistics over every axis but the channel axis; the variance is
            # E[(x - mean)^2] (biased), as Caffe computes it.
            axes = tuple(i for i in range(x.ndim) if i != 1) if x.ndim > 1 else (0,)
            mean = x.mean(axis=axes, dtype=np.float64).astype(F32).reshape(bshape)
            var = np.square(x - mean).mean(axis=axes, dtype=np.float64).astype(F32).reshape(bshape)
        # top = x - mean; variance += eps; std = sqrt(variance); top /= std.
        std = np.sqrt(var + F32(self.p.eps))
        return [(x - mean) / std]
