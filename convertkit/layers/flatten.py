"""Flatten: merge axes ``axis`` .. ``end_axis`` (inclusive) into one.

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import LayerImpl, Shape, canonical_axis, count, fmt_shape, register


@dataclass(frozen=True)
class FlattenParams:
    axis: int = 1
    end_axis: int = -1


@register("Flatten")
class Flatten(LayerImpl):
    def read_params(self, proto) -> FlattenParams:
        fp = proto.flatten_param
        return FlattenParams(axis=int(fp.axis), end_axis=int(fp.end_axis))

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        # FlattenLayer::Reshape: "Flatten layer does not allow in-place computation."
        if list(self.tops[:1]) == list(self.bottoms[:1]):
            raise self.fail(f"Flatten does not allow in-place computation (top '{self.tops[0]}')")
        start = canonical_axis(self.p.axis, len(shape), self)
        end = canonical_axis(self.p.end_axis, len(shape), self, "end_axis")
        if end < start:
            raise self.fail(
                f"Flatten end_axis {self.p.end_axis} comes before axis {self.p.axis} "
                f"in bottom {fmt_shape(shape)}"
            )
        return [shape[:start] + (count(shape, start, end + 1),) + shape[end + 1:]]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = bottoms[0]
        # Row-major, like Caffe's memory layout: a view, no copy.
        return [x.reshape(self.reshape([tuple(x.shape)])[0])]
