"""Concat: join bottoms along one axis (default 1, channels).

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, canonical_axis, fmt_shape, register


@dataclass(frozen=True)
class ConcatParams:
    axis: int = 1
    #: True when the axis came from the deprecated ``concat_dim`` (never negative).
    from_concat_dim: bool = False


@register("Concat")
class Concat(LayerImpl):
    # ConcatLayer::MinBottomBlobs() == 1 (one bottom is passed through).
    num_bottoms = (1, None)

    def read_params(self, proto) -> ConcatParams:
        cp = proto.concat_param
        # LayerSetUp: "Either axis or concat_dim should be specified; not both."
        if cp.HasField("axis") and cp.HasField("concat_dim"):
            raise PrototxtError("concat_param sets both axis and concat_dim; give only one", layer=self.name)
        if cp.HasField("concat_dim"):
            return ConcatParams(axis=int(cp.concat_dim), from_concat_dim=True)
        return ConcatParams(axis=int(cp.axis))

    def _axis(self, ndim: int) -> int:
        if self.p.from_concat_dim:
            # concat_dim is a uint32: no negative indexing, and it must be < num_axes.
            if not 0 <= self.p.axis < ndim:
                raise self.fail(f"concat_dim {self.p.axis} out of range for a {ndim}-axis blob")
            return self.p.axis
        return canonical_axis(self.p.axis, ndim, self)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        first = tuple(bottom_shapes[0])
        axis = self._axis(len(first))
        total = 0
        for s in bottom_shapes:
            # Reshape: same num_axes, and "All inputs must have the same shape, except
            # at concat_axis."
            if len(s) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis
            ):
                shapes = " vs ".join(fmt_shape(b) for b in bottom_shapes)
                names = ", ".join(f"'{b}'" for b in self.bottoms)
                raise self.fail(
                    f"Concat bottoms must match except on axis {axis}: {shapes} (bottoms {names})"
                )
            total += int(s[axis])
        top = list(first)
        top[axis] = total
        return [tuple(top)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(bottoms) == 1:
            # One bottom: Caffe shares its data with the top.
            return [bottoms[0]]
        axis = self._axis(np.ndim(bottoms[0]))
        return [np.concatenate([np.asarray(b, dtype=np.float32) for b in bottoms], axis=axis)]
