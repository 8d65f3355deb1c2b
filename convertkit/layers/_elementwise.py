"""Shared base of the one-bottom, one-top element-wise layers (ReLU, Sigmoid, Power...).

Caffe's ``NeuronLayer`` base gives all of them the same shape rule: the top is shaped
like the bottom (``neuron_layer.cpp``: ``top[0]->ReshapeLike(*bottom[0])``), and they
may run in place. Not a layer module itself: the leading underscore keeps
``convertkit.layers`` from importing it as one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import LayerImpl, Shape, count

F32 = np.float32


def f32(x: np.ndarray) -> np.ndarray:
    """The array as float32, without a copy when it already is one."""
    return np.asarray(x, dtype=F32)


class ElementwiseImpl(LayerImpl):
    """One bottom, one top of the same shape; MACs: 1 per output element."""

    def channel_map(self) -> str:
        return "pointwise"

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        # NeuronLayer::Reshape: the top takes the bottom's shape unchanged.
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        # Convention for element-wise math: one operation per output element.
        return count(top_shapes[0])
