"""Permute (SSD, weiliu89 ``permute_layer.cpp``): the axes in ``order``; axes left out
keep their order after the given ones. MACs: 0 (data movement)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .base import LayerImpl, Shape, register


@dataclass(frozen=True)
class PermuteParams:
    order: tuple[int, ...] = ()


@register("Permute")
class Permute(LayerImpl):
    def read_params(self, proto: Any) -> PermuteParams:
        return PermuteParams(tuple(int(o) for o in proto.permute_param.order))

    def axes(self, ndim: int) -> tuple[int, ...]:
        """The full order for a blob of ``ndim`` axes (PermuteLayer::LayerSetUp)."""
        order = list(self.p.order)
        for o in order:
            if not 0 <= o < ndim:
                raise self.fail(f"order {o} is outside a {ndim}-axis blob")
        if len(set(order)) != len(order):
            raise self.fail(f"order {list(order)} repeats an axis")
        return tuple(order + [i for i in range(ndim) if i not in order])

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        return [tuple(shape[i] for i in self.axes(len(shape)))]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], np.float32)
        return [np.ascontiguousarray(x.transpose(self.axes(x.ndim)))]
