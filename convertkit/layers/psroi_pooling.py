"""PSROIPooling (R-FCN, daijifeng001's Caffe ``psroi_pooling_layer.cu``): position-
sensitive average pooling. Bottoms: score maps N x (output_dim * group_size^2) x H x W
and regions R x 5 ``(batch index, x1, y1, x2, y2)``. Each region, its corners rounded
(C's ``round``) and scaled by ``spatial_scale`` (the end corner + 1 first), at least
0.1 wide and high, is cut into group_size x group_size bins (floor of the start, ceil
of the end, clipped to the map); bin (i, j) of output channel c averages input channel
``(c * group_size + i) * group_size + j`` over the bin, 0 for an empty bin. Top R x
output_dim x group_size x group_size. (R-FCN's Caffe computes it on the GPU only; this
is that kernel's arithmetic, in float32.)

MACs: 0 (counted as data movement).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register
from .roi_pooling import caffe_round

F32 = np.float32


@dataclass(frozen=True)
class PSROIPoolingParams:
    spatial_scale: float
    output_dim: int
    group_size: int


@register("PSROIPooling")
class PSROIPooling(LayerImpl):
    num_bottoms = (2, 2)

    def read_params(self, proto: Any) -> PSROIPoolingParams:
        p = proto.psroi_pooling_param
        if not all(p.HasField(f) for f in ("spatial_scale", "output_dim", "group_size")) \
                or p.output_dim <= 0 or p.group_size <= 0:
            raise PrototxtError("PSROIPooling needs positive spatial_scale, output_dim and "
                                "group_size", layer=self.name)
        return PSROIPoolingParams(float(F32(p.spatial_scale)), int(p.output_dim), int(p.group_size))

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        feat, rois = (tuple(s) for s in bottom_shapes)
        g, d = self.p.group_size, self.p.output_dim
        if len(feat) != 4 or feat[1] != d * g * g:
            raise self.fail(f"score maps {fmt_shape(feat)} are not N x {d * g * g} x H x W "
                            f"(output_dim {d} x group_size {g}^2)")
        if len(rois) < 2 or rois[1] != 5 or any(x != 1 for x in rois[2:]):
            raise self.fail(f"regions must be R x 5 (batch, x1, y1, x2, y2), got {fmt_shape(rois)}")
        return [(rois[0], d, g, g)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        feat = np.asarray(bottoms[0], F32)
        rois = np.asarray(bottoms[1], F32).reshape(-1, 5)
        _, _, h, w = feat.shape
        g, d = self.p.group_size, self.p.output_dim
        scale = F32(self.p.spatial_scale)
        top = np.zeros((len(rois), d, g, g), F32)
        for r, roi in enumerate(rois):
            n = int(roi[0])
            if not 0 <= n < feat.shape[0]:
                raise self.fail(f"region {r} names image {n} of a batch of {feat.shape[0]}")
            x1, y1, x2, y2 = (F32(caffe_round(float(v))) for v in roi[1:5])
            start_w, start_h = x1 * scale, y1 * scale
            end_w, end_h = (x2 + F32(1)) * scale, (y2 + F32(1)) * scale
            bin_w = max(end_w - start_w, F32(0.1)) / F32(g)
            bin_h = max(end_h - start_h, F32(0.1)) / F32(g)
            for i in range(g):
                hs = min(max(int(math.floor(F32(i) * bin_h + start_h)), 0), h)
                he = min(max(int(math.ceil(F32(i + 1) * bin_h + start_h)), 0), h)
                for j in range(g):
                    ws = min(max(int(math.floor(F32(j) * bin_w + start_w)), 0), w)
                    we = min(max(int(math.ceil(F32(j + 1) * bin_w + start_w)), 0), w)
                    if he <= hs or we <= ws:
                        continue
                    channels = (np.arange(d) * g + i) * g + j
                    area = F32((he - hs) * (we - ws))
                    top[r, :, i, j] = feat[n, channels, hs:he, ws:we].sum(axis=(1, 2), dtype=F32) / area
        return [top]
