"""Slice: split one bottom along an axis into several tops, at ``slice_point``s or
into equal parts.

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, canonical_axis, fmt_shape, register


@dataclass(frozen=True)
class SliceParams:
    axis: int = 1
    slice_points: tuple[int, ...] = ()
    #: True when the axis came from the deprecated ``slice_dim`` (never negative).
    from_slice_dim: bool = False


@register("Slice")
class Slice(LayerImpl):
    def read_params(self, proto) -> SliceParams:
        sp = proto.slice_param
        points = tuple(int(v) for v in sp.slice_point)
        # LayerSetUp: "Either axis or slice_dim should be specified; not both."
        if sp.HasField("axis") and sp.HasField("slice_dim"):
            raise PrototxtError("slice_param sets both axis and slice_dim; give only one", layer=self.name)
        if sp.HasField("slice_dim"):
            return SliceParams(axis=int(sp.slice_dim), slice_points=points, from_slice_dim=True)
        return SliceParams(axis=int(sp.axis), slice_points=points)

    def _axis(self, ndim: int) -> int:
        if self.p.from_slice_dim:
            if not 0 <= self.p.axis < ndim:
                raise self.fail(f"slice_dim {self.p.axis} out of range for a {ndim}-axis blob")
            return self.p.axis
        return canonical_axis(self.p.axis, ndim, self)

    def _sizes(self, shape: Shape) -> tuple[int, list[int]]:
        """The slice axis and the size of every top along it (SliceLayer::Reshape)."""
        axis = self._axis(len(shape))
        n_top, size, points = len(self.tops), int(shape[axis]), self.p.slice_points
        if points:
            # CHECK_EQ(slice_point_size, top.size() - 1); points strictly increasing.
            if len(points) != n_top - 1:
                raise self.fail(
                    f"Slice has {len(points)} slice_point values for {n_top} tops; "
                    f"it needs {n_top - 1}"
                )
            prev, sizes = 0, []
            for p in points:
                if p <= prev:
                    raise self.fail(f"slice_point values must increase from 1: {list(points)}")
                sizes.append(p - prev)
                prev = p
            if prev > size:
                raise self.fail(
                    f"slice_point {prev} lies beyond axis {axis} of bottom {fmt_shape(shape)}"
                )
            sizes.append(size - prev)
            return axis, sizes
        # No slice_point: "Number of top blobs should evenly divide input slice axis".
        if size % n_top:
            raise self.fail(
                f"{n_top} tops do not evenly divide axis {axis} (size {size}) of bottom {fmt_shape(shape)}"
            )
        return axis, [size // n_top] * n_top

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        axis, sizes = self._sizes(shape)
        return [shape[:axis] + (s,) + shape[axis + 1:] for s in sizes]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = bottoms[0]
        axis, sizes = self._sizes(tuple(x.shape))
        cuts = np.cumsum(sizes)[:-1]
        return list(np.split(x, cuts, axis=axis))
