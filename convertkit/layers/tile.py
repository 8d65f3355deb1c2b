"""Tile: the bottom repeated ``tiles`` times along ``axis`` (BVLC ``tile_layer.cpp``).

With ``outer = count(0, axis)`` and ``inner = count(axis)``, each of the ``outer``
blocks of ``inner`` values is copied ``tiles`` times in a row: the top's shape is the
bottom's with ``shape[axis] * tiles``.

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import f32
from .base import LayerImpl, Shape, canonical_axis, count, register


@dataclass(frozen=True)
class TileParams:
    axis: int
    tiles: int | None


@register("Tile")
class Tile(LayerImpl):
    def read_params(self, proto) -> TileParams:
        tp = proto.tile_param
        return TileParams(axis=int(tp.axis), tiles=int(tp.tiles) if tp.HasField("tiles") else None)

    def _axis(self, shape: Shape) -> int:
        return canonical_axis(self.p.axis, len(shape), self)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        if self.p.tiles is None:
            raise self.fail("Tile needs tile_param { tiles: ... }")
        if self.p.tiles <= 0:
            raise self.fail(f"tiles must be positive, got {self.p.tiles}")
        top = list(bottom_shapes[0])
        axis = self._axis(top)
        top[axis] *= self.p.tiles
        return [tuple(top)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        axis = self._axis(x.shape)
        blocks = x.reshape(count(x.shape, 0, axis), count(x.shape, axis))
        top = np.tile(blocks, (1, self.p.tiles))
        return [top.reshape(self.reshape([x.shape])[0])]
