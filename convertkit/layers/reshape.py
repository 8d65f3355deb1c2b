"""Reshape: replace axes ``axis`` .. ``axis+num_axes`` of the bottom by ``shape``;
a 0 copies the bottom's dimension at that place, one -1 is inferred from the count.

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, count, fmt_shape, register


@dataclass(frozen=True)
class ReshapeParams:
    dims: tuple[int, ...] = ()
    axis: int = 0
    num_axes: int = -1


@register("Reshape")
class Reshape(LayerImpl):
    def read_params(self, proto) -> ReshapeParams:
        rp = proto.reshape_param
        dims = tuple(int(d) for d in rp.shape.dim)
        # ReshapeLayer::LayerSetUp: "new shape contains multiple -1 dims; at most a
        # single (1) value of -1 may be specified"; other values are sizes or 0.
        if dims.count(-1) > 1:
            raise PrototxtError(f"reshape_param shape {list(dims)} has more than one -1", layer=self.name)
        if any(d < -1 for d in dims):
            raise PrototxtError(f"reshape_param shape {list(dims)} has a dimension below -1", layer=self.name)
        return ReshapeParams(dims=dims, axis=int(rp.axis), num_axes=int(rp.num_axes))

    def fixed_sizes(self, bottom_shapes: Sequence[Shape]) -> list[tuple[int, tuple[int, ...], str]]:
        """Explicit dims without a -1 name the count of the axes they replace."""
        bottom = tuple(int(d) for d in bottom_shapes[0])
        p = self.p
        if -1 in p.dims:
            return []
        start = p.axis if p.axis >= 0 else len(bottom) + p.axis + 1
        end = len(bottom) if p.num_axes == -1 else start + p.num_axes
        named = [start + i for i, d in enumerate(p.dims) if d != 0 and start + i < end]
        axes = tuple(a for a in range(start, end) if a not in
                     [start + i for i, d in enumerate(p.dims) if d == 0])
        if not named or not axes:
            return []
        return [(0, axes, f"Reshape to explicit dims {list(p.dims)}")]

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        bottom = tuple(int(d) for d in bottom_shapes[0])
        nb, p = len(bottom), self.p
        # Reshape: a negative axis counts from the end *inclusive* of the end position
        # (start = num_axes + axis + 1), so axis -1 appends after the last axis.
        start = p.axis if p.axis >= 0 else nb + p.axis + 1
        if not 0 <= start <= nb:
            raise self.fail(f"reshape axis {p.axis} out of range for bottom {fmt_shape(bottom)}")
        if p.num_axes < -1:
            raise self.fail(f"reshape num_axes must be >= 0, or -1 for all; got {p.num_axes}")
        end = nb if p.num_axes == -1 else start + p.num_axes
        if end > nb:
            raise self.fail(
                f"reshape axis {p.axis} + num_axes {p.num_axes} is beyond bottom {fmt_shape(bottom)}"
            )
        top = list(bottom[:start]) + list(p.dims) + list(bottom[end:])
        for i, d in enumerate(p.dims):
            if d == 0:
                # "new shape contains a 0, but there was no corresponding bottom axis to copy"
                if start + i >= nb:
                    raise self.fail(
                        f"reshape shape {list(p.dims)} has a 0 at position {i} but bottom "
                        f"{fmt_shape(bottom)} has no axis {start + i} to copy"
                    )
                top[start + i] = bottom[start + i]
        total = count(bottom)
        if -1 in p.dims:
            j = start + p.dims.index(-1)
            known = count([d for k, d in enumerate(top) if k != j])
            # "bottom count must be divisible by the product of the specified dimensions"
            if known == 0 or total % known:
                raise self.fail(
                    f"bottom {fmt_shape(bottom)} (count {total}) is not divisible by the "
                    f"product {known} of the other dimensions of shape {list(p.dims)}"
                )
            top[j] = total // known
        if count(top) != total:
            raise self.fail(
                f"reshape of bottom {fmt_shape(bottom)} (count {total}) to "
                f"{fmt_shape(top)} (count {count(top)}) changes the element count"
            )
        return [tuple(top)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = bottoms[0]
        # Row-major, like Caffe's memory layout: a view, no copy.
        return [x.reshape(self.reshape([tuple(x.shape)])[0])]
