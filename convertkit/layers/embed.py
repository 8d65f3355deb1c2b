"""Embed: a lookup table (BVLC ``embed_layer.cpp``). Each bottom value is an index into
the ``input_dim`` x ``num_output`` weight; the top is ``bottom.shape + (num_output,)``,
the weight's row per value, plus the bias (``bias_term``, default true).

Caffe casts each value to int (``static_cast<int>``: truncation toward zero) and checks
the range only in debug builds; here a value outside [0, input_dim) is refused, naming
the layer.

MACs: 0 (a copy per value; the bias add is not counted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PrototxtError
from ._elementwise import f32
from .base import LayerImpl, Shape, register


@dataclass(frozen=True)
class EmbedParams:
    num_output: int
    input_dim: int
    bias_term: bool = True


@register("Embed")
class Embed(LayerImpl):
    def read_params(self, proto) -> EmbedParams:
        ep = proto.embed_param
        if ep.num_output <= 0 or ep.input_dim <= 0:
            raise PrototxtError("Embed needs positive num_output and input_dim", layer=self.name)
        return EmbedParams(num_output=int(ep.num_output), input_dim=int(ep.input_dim),
                           bias_term=bool(ep.bias_term))

    def param_roles(self) -> tuple[str, ...]:
        return ("weight", "bias") if self.p.bias_term else ("weight",)

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shapes: list[Shape] = [(self.p.input_dim, self.p.num_output)]
        if self.p.bias_term:
            shapes.append((self.p.num_output,))
        return shapes

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        return [tuple(bottom_shapes[0]) + (self.p.num_output,)]

    def indices(self, x: np.ndarray) -> np.ndarray:
        """The rows Caffe reads: each value truncated toward zero, checked in range."""
        index = np.trunc(f32(x)).astype(np.int64)
        bad = (index < 0) | (index >= self.p.input_dim) | ~np.isfinite(x)
        if bad.any():
            value = float(np.asarray(x)[bad].flat[0])
            raise self.fail(f"index {value:g} is outside the table of {self.p.input_dim} rows")
        return index

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        top = f32(params[0])[self.indices(bottoms[0])]
        if self.p.bias_term:
            top = top + f32(params[1])
        return [np.ascontiguousarray(top, dtype=np.float32)]
