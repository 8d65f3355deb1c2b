"""Caffe ``LRN`` (local response normalisation), both norm regions, NCHW.

``lrn_layer.cpp``; ``local_size`` must be odd and ``pre_pad = (local_size - 1) / 2``.

* ACROSS_CHANNELS: ``scale = k + alpha/size * sum(x^2 over channels
  [c - pre_pad, c - pre_pad + size) clipped to [0, C))``, ``top = x * scale^-beta``.
  (Caffe keeps a running sum over channels; the window sum here is the same quantity,
  summed directly, so it differs from Caffe only by float32 rounding.)
* WITHIN_CHANNEL: Caffe builds a sub-net ``x^2 -> AVE pool (kernel size, stride 1,
  pad pre_pad) -> Power(power -beta, scale alpha, shift 1) -> product with x``. ``k``
  is **not** used (the shift is fixed at 1), and the AVE divisor counts the zero
  padding, which with an odd size and stride 1 is always ``size^2``. The pool is the
  Pooling module's, so it is Caffe's AVE pooling exactly.

MACs convention: per output element, ``local_size`` (ACROSS) or ``local_size^2``
(WITHIN) multiply-adds for the windowed sum of squares, plus 2 for the power and the
product with x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, count, fmt_shape, register
from .pooling import pool2d


@dataclass(frozen=True)
class LRNParams:
    local_size: int
    alpha: float
    beta: float
    k: float
    #: "ACROSS_CHANNELS" or "WITHIN_CHANNEL"
    norm_region: str


@register("LRN")
class LRNLayer(LayerImpl):
    def read_params(self, proto: Any) -> LRNParams:
        lp = proto.lrn_param
        region = lp.DESCRIPTOR.fields_by_name["norm_region"].enum_type.values_by_number[
            lp.norm_region].name
        if lp.local_size % 2 != 1:
            raise PrototxtError(f"local_size {lp.local_size}: LRN only supports odd values",
                                layer=self.name)
        # The float fields are float32 in the proto: keep them as Caffe holds them.
        return LRNParams(local_size=int(lp.local_size), alpha=float(np.float32(lp.alpha)),
                         beta=float(np.float32(lp.beta)), k=float(np.float32(lp.k)),
                         norm_region=region)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        if len(shape) != 4:
            raise self.fail(f"LRN needs a 4-axis NxCxHxW bottom, got {fmt_shape(shape)}")
        return [shape]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        size = self.p.local_size
        window = size if self.p.norm_region == "ACROSS_CHANNELS" else size * size
        return count(bottom_shapes[0]) * (window + 2)

    def reach(self, shape: Shape) -> int:
        """How far the window reaches on each side, cut to what the blob can hold: a
        window wider than the blob sees only Caffe's zero padding beyond it, so a huge
        local_size (2147483647 is odd, and Caffe accepts it) costs no more than the
        blob's own extent (C channels, or the larger of H and W)."""
        extent = shape[1] if self.p.norm_region == "ACROSS_CHANNELS" else max(shape[2], shape[3])
        return min((self.p.local_size - 1) // 2, max(int(extent) - 1, 0))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        self.reshape([x.shape])
        p = self.p
        size = p.local_size
        alpha, beta = np.float32(p.alpha), np.float32(p.beta)
        sq = x * x
        reach = self.reach(x.shape)
        if p.norm_region == "ACROSS_CHANNELS":
            n, c, h, w = x.shape
            padded = np.zeros((n, c + 2 * reach, h, w), np.float32)
            padded[:, reach:reach + c] = sq * (alpha / np.float32(size))
            scale = np.full(x.shape, np.float32(p.k), np.float32)
            for t in range(2 * reach + 1):
                scale += padded[:, t:t + c]
        else:
            _, _, h, w = x.shape
            kernel = 2 * reach + 1
            avg = pool2d(sq, "AVE", (kernel, kernel), (1, 1), (reach, reach), (h, w))
            if kernel != size:  # the pool divides by kernel^2, Caffe's by size^2
                avg = avg * (np.float32(kernel * kernel) / np.float32(float(size) * size))
            scale = avg * alpha
            scale += np.float32(1)
        return [np.power(scale, -beta, dtype=np.float32) * x]
