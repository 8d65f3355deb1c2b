"""Caffe ``InnerProduct`` (fully connected).

The bottom is flattened from ``axis`` on (``inner_product_layer.cpp``): with
``M = count(0, axis)`` rows and ``K = count(axis)`` features, ``top = M x O`` reshaped to
``bottom.shape[:axis] + (O,)``. Weights are ``O x K`` (``K x O`` with ``transpose: true``),
the bias ``(O,)`` unless ``bias_term: false``.

MACs convention: multiply-adds of the weights, ``M*K*O``; the bias add is not counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, canonical_axis, count, fmt_shape, register


@dataclass(frozen=True)
class InnerProductParams:
    num_output: int
    bias_term: bool
    axis: int
    transpose: bool


@register("InnerProduct")
class InnerProductLayer(LayerImpl):

    def param_roles(self) -> tuple[str, ...]:
        return ("weight", "bias") if self.p.bias_term else ("weight",)

    def weight_axes(self) -> tuple[int, int]:
        return (1, 0) if self.p.transpose else (0, 1)  # O x K, or K x O transposed
    def read_params(self, proto: Any) -> InnerProductParams:
        ip = proto.inner_product_param
        if ip.num_output <= 0:
            raise PrototxtError("num_output must be given and positive", layer=self.name)
        return InnerProductParams(num_output=int(ip.num_output), bias_term=bool(ip.bias_term),
                                  axis=int(ip.axis), transpose=bool(ip.transpose))

    def _axis(self, shape: Shape) -> int:
        return canonical_axis(self.p.axis, len(shape), self)

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        p = self.p
        k = count(bottom_shapes[0], self._axis(bottom_shapes[0]))
        shapes: list[Shape] = [(k, p.num_output) if p.transpose else (p.num_output, k)]
        if p.bias_term:
            shapes.append((p.num_output,))
        return shapes

    def fixed_sizes(self, bottom_shapes: Sequence[Shape]) -> list[tuple[int, tuple[int, ...], str]]:
        shape = tuple(bottom_shapes[0])
        axis = self._axis(shape)
        k = count(shape, axis)
        return [(0, tuple(range(axis, len(shape))),
                 f"InnerProduct takes {k} features ({fmt_shape(shape[axis:])} of its bottom)")]

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        if not shape:
            raise self.fail("needs a bottom with at least one axis")
        axis = self._axis(shape)
        return [tuple(shape[:axis]) + (self.p.num_output,)]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        axis = self._axis(bottom_shapes[0])
        return count(bottom_shapes[0], 0, axis) * count(bottom_shapes[0], axis) * self.p.num_output

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        (top,) = self.reshape([x.shape])
        expected = self.param_shapes([x.shape])
        if len(params) != len(expected):
            raise self.fail(f"needs {len(expected)} params "
                            f"({', '.join(fmt_shape(s) for s in expected)}), got {len(params)}")
        arrays = []
        for i, (b, shape) in enumerate(zip(params, expected)):
            b = np.asarray(b, dtype=np.float32)
            if b.size != count(shape):
                # Caffe: "Input size incompatible with inner product parameters."
                raise self.fail(f"param {i} is {fmt_shape(b.shape)} but bottom {fmt_shape(x.shape)} "
                                f"needs {fmt_shape(shape)}")
            arrays.append(b.reshape(shape))
        axis = self._axis(x.shape)
        flat = x.reshape(count(x.shape, 0, axis), count(x.shape, axis))
        weights = arrays[0]
        y = flat @ (weights if self.p.transpose else weights.T)
        if self.p.bias_term:
            y += arrays[1]
        return [y.reshape(top)]
