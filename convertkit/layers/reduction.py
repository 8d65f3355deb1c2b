"""Reduction: SUM, ASUM (sum of |x|), SUMSQ (sum of x^2) or MEAN over every axis from
``axis`` on, times ``coeff`` (BVLC ``reduction_layer.cpp``).

The top's shape is ``bottom.shape[:axis]`` (a scalar, shape ``()``, for axis 0). MEAN
is the sum times ``coeff / dim`` (Caffe divides the coefficient, in float32), and the
coefficient is applied only when it is not 1, as Caffe's ``caffe_scal``.

MACs: 1 per bottom element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, canonical_axis, count, register

OPERATIONS = {1: "SUM", 2: "ASUM", 3: "SUMSQ", 4: "MEAN"}


@dataclass(frozen=True)
class ReductionParams:
    operation: str = "SUM"
    axis: int = 0
    coeff: float = 1.0


@register("Reduction")
class Reduction(LayerImpl):
    def read_params(self, proto) -> ReductionParams:
        rp = proto.reduction_param
        return ReductionParams(operation=OPERATIONS[int(rp.operation)], axis=int(rp.axis),
                               coeff=float(F32(rp.coeff)))

    def _axis(self, shape: Shape) -> int:
        return canonical_axis(self.p.axis, len(shape), self)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        return [shape[:self._axis(shape)]]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(bottom_shapes[0])

    def coeff(self, dim: int) -> np.float32:
        """The factor Caffe multiplies by: coeff, divided by ``dim`` for MEAN (float32)."""
        c = F32(self.p.coeff)
        return c / F32(dim) if self.p.operation == "MEAN" else c

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        axis = self._axis(x.shape)
        rows = x.reshape(count(x.shape, 0, axis), count(x.shape, axis))
        op = self.p.operation
        if op == "ASUM":
            top = np.abs(rows).sum(axis=1, dtype=F32)
        elif op == "SUMSQ":
            top = (rows * rows).sum(axis=1, dtype=F32)
        else:  # SUM, MEAN: a dot with ones
            top = rows.sum(axis=1, dtype=F32)
        c = self.coeff(rows.shape[1])
        if c != F32(1):
            top = top * c
        return [top.astype(F32).reshape(x.shape[:axis])]
