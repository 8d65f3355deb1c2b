"""ROIPooling (Faster R-CNN, rbgirshick ``roi_pooling_layer.cpp``): two bottoms, the
features N x C x H x W and the regions R x 5 ``(batch index, x1, y1, x2, y2)`` in
image coordinates. Each region, scaled by ``spatial_scale`` and rounded (half away
from zero, C's ``round``), is cut into ``pooled_h x pooled_w`` bins of
``max(extent, 1) / pooled`` cells each (floor of the start, ceil of the end, clipped
to the map); each bin's max is the output, 0 for an empty bin. Top R x C x ph x pw.
MACs: 0 (comparisons only, counted as data movement).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class ROIPoolingParams:
    pooled_h: int
    pooled_w: int
    spatial_scale: float


def caffe_round(v: float) -> int:
    """C's round(): halves away from zero (Python's round() goes to even)."""
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def roi_bins(roi: np.ndarray, p: ROIPoolingParams, height: int, width: int):
    """(batch index, [(hstart, hend)] per row bin, [(wstart, wend)] per column bin)."""
    scale = np.float32(p.spatial_scale)
    x1, y1, x2, y2 = (caffe_round(float(np.float32(v) * scale)) for v in roi[1:5])
    roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
    bin_h, bin_w = np.float32(roi_h) / np.float32(p.pooled_h), np.float32(roi_w) / np.float32(p.pooled_w)

    def spans(n, size, start, limit):
        out = []
        for i in range(n):
            lo = int(math.floor(np.float32(i) * size)) + start
            hi = int(math.ceil(np.float32(i + 1) * size)) + start
            out.append((min(max(lo, 0), limit), min(max(hi, 0), limit)))
        return out

    return int(roi[0]), spans(p.pooled_h, bin_h, y1, height), spans(p.pooled_w, bin_w, x1, width)


@register("ROIPooling")
class ROIPooling(LayerImpl):
    num_bottoms = (2, 2)

    def read_params(self, proto: Any) -> ROIPoolingParams:
        rp = proto.roi_pooling_param
        if rp.pooled_h <= 0 or rp.pooled_w <= 0:
            raise PrototxtError("pooled_h and pooled_w must be positive", layer=self.name)
        return ROIPoolingParams(int(rp.pooled_h), int(rp.pooled_w), float(rp.spatial_scale))

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        feat, rois = (tuple(s) for s in bottom_shapes)
        if len(feat) != 4:
            raise self.fail(f"features must be N x C x H x W, got {fmt_shape(feat)}")
        if len(rois) < 2 or rois[1] != 5 or any(d != 1 for d in rois[2:]):
            raise self.fail(f"regions must be R x 5 (batch, x1, y1, x2, y2), got {fmt_shape(rois)}")
        return [(rois[0], feat[1], self.p.pooled_h, self.p.pooled_w)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        feat = np.asarray(bottoms[0], np.float32)
        rois = np.asarray(bottoms[1], np.float32).reshape(-1, 5)
        _, c, h, w = feat.shape
        top = np.zeros((rois.shape[0], c, self.p.pooled_h, self.p.pooled_w), np.float32)
        for r, roi in enumerate(rois):
            n, rows, cols = roi_bins(roi, self.p, h, w)
            if not 0 <= n < feat.shape[0]:
                raise self.fail(f"region {r} names image {n} of a batch of {feat.shape[0]}")
            for i, (hs, he) in enumerate(rows):
                for j, (ws, we) in enumerate(cols):
                    if he > hs and we > ws:
                        top[r, :, i, j] = feat[n, :, hs:he, ws:we].max(axis=(1, 2))
        return [top]
