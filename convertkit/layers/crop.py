"""Caffe ``Crop``: crop bottom 0 to the shape of bottom 1 from ``axis`` on.

``crop_layer.cpp``: axes before ``axis`` (default 2) keep bottom 0's size; each axis
``i >= axis`` takes bottom 1's size, starting at an offset that is 0 when ``offset`` is
absent, ``offset[0]`` for every axis when given once, and ``offset[i - axis]`` when
given once per cropped axis (any other count is an error). Each crop must fit:
``bottom0.shape[i] - offset >= bottom1.shape[i]``. Bottom 1 only lends its shape.

MACs convention: 0 (data movement only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import LayerImpl, Shape, canonical_axis, fmt_shape, register


@dataclass(frozen=True)
class CropParams:
    axis: int
    offset: tuple[int, ...]


@register("Crop")
class CropLayer(LayerImpl):
    num_bottoms = (2, 2)

    def read_params(self, proto: Any) -> CropParams:
        cp = proto.crop_param
        return CropParams(axis=int(cp.axis), offset=tuple(int(o) for o in cp.offset))

    def _offsets(self, shape0: Shape, shape1: Shape) -> tuple[int, list[int]]:
        """(start axis, per-axis offsets) after checking both shapes; raises ShapeError."""
        if len(shape0) != len(shape1):
            raise self.fail(f"bottoms {fmt_shape(shape0)} and {fmt_shape(shape1)} have "
                            "different numbers of axes")
        ndim = len(shape0)
        start = canonical_axis(self.p.axis, ndim, self)
        given = self.p.offset
        if len(given) > 1 and start + len(given) != ndim:
            raise self.fail(f"{len(given)} offsets given for the {ndim - start} axes from axis "
                            f"{start} of bottom {fmt_shape(shape0)}: give one offset, or one "
                            "per cropped axis")
        offsets = [0] * ndim
        for i in range(start, ndim):
            off = given[0] if len(given) == 1 else (given[i - start] if given else 0)
            if shape0[i] - off < shape1[i]:
                raise self.fail(f"crop of axis {i} is out of bounds: bottom {fmt_shape(shape0)} "
                                f"cropped to {fmt_shape(shape1)} at offset {off} "
                                f"({off} + {shape1[i]} > {shape0[i]})")
            offsets[i] = off
        return start, offsets

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape0, shape1 = (tuple(s) for s in bottom_shapes[:2])
        start, _ = self._offsets(shape0, shape1)
        return [tuple(shape0[:start]) + tuple(shape1[start:])]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        ref_shape = tuple(np.shape(bottoms[1]))
        start, offsets = self._offsets(x.shape, ref_shape)
        index = tuple(slice(None) if i < start else slice(offsets[i], offsets[i] + ref_shape[i])
                      for i in range(x.ndim))
        return [np.array(x[index], dtype=np.float32, copy=True)]  # never alias the bottom
