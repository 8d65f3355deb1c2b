"""Eltwise: element-wise SUM (with optional per-bottom coefficients), PROD or MAX of
two or more bottoms of identical shape.

No broadcasting: Caffe checks every bottom against bottom 0 (``eltwise_layer.cpp``
Reshape). This is where ICNet fails at 1024x2048 (``sub12_sum``: 128x256 vs 129x257).
MACs: 1 per output element per bottom after the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, count, fmt_shape, register

_OPS = {0: "PROD", 1: "SUM", 2: "MAX"}


@dataclass(frozen=True)
class EltwiseParams:
    operation: str = "SUM"
    #: One per bottom, or empty (all 1).
    coeffs: tuple[float, ...] = ()
    #: Backward-only, kept for reports.
    stable_prod_grad: bool = True


@register("Eltwise")
class Eltwise(LayerImpl):
    # EltwiseLayer::MinBottomBlobs() == 2.
    num_bottoms = (2, None)

    def ties_channels(self) -> bool:
        return True

    def read_params(self, proto) -> EltwiseParams:
        ep = proto.eltwise_param
        return EltwiseParams(
            operation=_OPS[int(ep.operation)],
            coeffs=tuple(float(c) for c in ep.coeff),
            stable_prod_grad=bool(ep.stable_prod_grad),
        )

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        p = self.p
        # LayerSetUp: "Eltwise Layer takes one coefficient per bottom blob", and
        # "Eltwise layer only takes coefficients for summation".
        if p.coeffs and p.operation != "SUM":
            raise self.fail(f"Eltwise {p.operation} takes no coeff (coefficients are for SUM only)")
        if p.coeffs and len(p.coeffs) != len(bottom_shapes):
            raise self.fail(
                f"Eltwise SUM has {len(p.coeffs)} coeff values for {len(bottom_shapes)} bottoms; "
                "give one per bottom"
            )
        # Reshape: CHECK(bottom[0]->shape() == bottom[i]->shape()) for every i.
        first = tuple(bottom_shapes[0])
        if any(tuple(s) != first for s in bottom_shapes[1:]):
            shapes = " vs ".join(fmt_shape(s) for s in bottom_shapes)
            names = ", ".join(f"'{b}'" for b in self.bottoms)
            raise self.fail(
                f"Eltwise {p.operation} bottoms differ in shape: {shapes} (bottoms {names})"
            )
        return [first]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return (len(bottom_shapes) - 1) * count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        xs = [f32(b) for b in bottoms]
        op = self.p.operation
        if op == "SUM":
            coeffs = self.p.coeffs or (1.0,) * len(xs)
            # Forward_cpu SUM: top = 0; top += coeff[i] * bottom[i] for each bottom in
            # order (caffe_axpy). A coefficient of 1 adds the bottom unscaled.
            y = xs[0] * F32(coeffs[0]) if coeffs[0] != 1 else xs[0].copy()
            for c, x in zip(coeffs[1:], xs[1:]):
                y += x * F32(c) if c != 1 else x
            return [y]
        if op == "PROD":
            # top = bottom[0] * bottom[1], then top *= bottom[i].
            y = xs[0] * xs[1]
            for x in xs[2:]:
                y *= x
            return [y]
        # MAX: top = a > b ? a : b, then top = bottom[i] > top ? bottom[i] : top.
        # The strict comparisons decide which bottom wins on ties and NaNs.
        y = np.where(xs[0] > xs[1], xs[0], xs[1])
        for x in xs[2:]:
            y = np.where(x > y, x, y)
        return [y]
