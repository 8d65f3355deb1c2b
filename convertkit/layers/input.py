"""Input: declares network inputs with ``input_param { shape { dim: ... } }``.

Caffe's ``InputLayer`` has no bottoms and one or more tops; it only shapes its tops,
whose data the caller fills. MACs: 0 (no computation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import UsageError
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class InputParams:
    #: Declared shapes: none, one for every top, or one per top (input_layer.cpp).
    shapes: tuple[Shape, ...]


@register("Input")
class Input(LayerImpl):
    num_bottoms = (0, 0)

    def read_params(self, proto) -> InputParams:
        shapes = tuple(tuple(int(d) for d in s.dim) for s in proto.input_param.shape)
        return InputParams(shapes=shapes)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shapes, tops = self.p.shapes, self.tops
        # InputLayer::LayerSetUp: "Must specify 'shape' once, once per top blob, or not
        # at all"; a single shape applies to every top.
        if not shapes:
            raise self.fail(
                f"declares no input_param shape for {', '.join(repr(t) for t in tops)}: "
                "pass --input-shape"
            )
        if len(shapes) not in (1, len(tops)):
            raise self.fail(
                f"has {len(tops)} tops but {len(shapes)} shapes "
                f"({', '.join(fmt_shape(s) for s in shapes)}); give one shape, or one per top"
            )
        for s in shapes:
            if any(d < 0 for d in s):
                raise self.fail(f"declares a negative dimension in shape {fmt_shape(s)}")
        return [shapes[0] if len(shapes) == 1 else shapes[i] for i in range(len(tops))]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        # Caffe's InputLayer::Forward_cpu does nothing: the data comes from the caller.
        raise UsageError(
            f"Input layer has no forward pass: feed {', '.join(repr(t) for t in self.tops)} "
            "as network inputs",
            layer=self.name,
        )
