"""The graph (IR) every later stage consumes: ordered layers, their blobs and shapes.

Blob names follow Caffe: a *blob* is a named activation (``bottom``/``top``), and a
layer's *learned blobs* (``Layer.blobs``) are its weights in Caffe layout, float32.
In-place layers (top == bottom, e.g. ``conv1/bn``) are kept as Caffe has them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .errors import ShapeError
from .layers import LayerImpl, Shape, impl_class
from .layers.base import fmt_shape

#: Largest blob convertkit will plan for: 2**31 float32 values (8 GiB). Anything
#: larger is a typo in a prototxt or a corrupt file, and is refused before allocation.
MAX_BLOB_ELEMENTS = 1 << 31


@dataclass(eq=False)
class Layer:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    #: The LayerParameter message the hyper-parameters come from (blobs cleared).
    proto: Any
    #: Learned blobs, float32, in Caffe layout (e.g. conv weights O x I x kh x kw).
    blobs: list[np.ndarray] = field(default_factory=list)
    #: Filled by Net.infer_shapes.
    bottom_shapes: list[Shape] | None = None
    top_shapes: list[Shape] | None = None
    #: Per blob: its shape came from the legacy num/channels/height/width fields.
    legacy_blob_shapes: list[bool] = field(default_factory=list, repr=False)
    _impl: LayerImpl | None = field(default=None, repr=False)

    @property
    def impl(self) -> LayerImpl:
        if self._impl is None:
            self._impl = impl_class(self.type)(self)
        return self._impl

    @property
    def params(self) -> Any:
        """The layer's typed hyper-parameters (its module's dataclass)."""
        return self.impl.p

    @property
    def num_params(self) -> int:
        return int(sum(b.size for b in self.blobs))

    def to_proto(self):
        """A LayerParameter with this layer's name, type, bottoms, tops and
        hyper-parameters, without blobs (what prototxts and caffemodels are written from)."""
        lp = type(self.proto)()
        lp.CopyFrom(self.proto)
        lp.ClearField("blobs")
        lp.name, lp.type = self.name, self.type
        del lp.bottom[:], lp.top[:]
        lp.bottom.extend(self.bottoms)
        lp.top.extend(self.tops)
        return lp

    def flops(self) -> int:
        if self.bottom_shapes is None or self.top_shapes is None:
            raise RuntimeError("run Net.infer_shapes() first")
        return int(self.impl.flops(self.bottom_shapes, self.top_shapes))


@dataclass(eq=False)
class Net:
    name: str
    #: Network inputs in order: blob name -> shape (None where unknown).
    inputs: dict[str, Shape | None]
    layers: list[Layer]
    #: Things the loader did that a user should know (dropped layers, upgrades...).
    notes: list[str] = field(default_factory=list)
    prototxt_path: str | None = None
    caffemodel_path: str | None = None
    #: Blob shapes after the last infer_shapes().
    blob_shapes: dict[str, Shape] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    @property
    def outputs(self) -> list[str]:
        """Blobs produced but never consumed (Caffe's net outputs)."""
        consumed: set[str] = set()
        produced: list[str] = []
        for lay in self.layers:
            consumed.update(b for b in lay.bottoms if b not in lay.tops)
            for t in lay.tops:
                if t not in produced:
                    produced.append(t)
        return [t for t in produced if t not in consumed]

    @property
    def num_blobs(self) -> int:
        return sum(len(lay.blobs) for lay in self.layers)

    @property
    def num_params(self) -> int:
        return sum(lay.num_params for lay in self.layers)

    def infer_shapes(self, input_shapes: dict[str, Shape] | None = None) -> dict[str, Shape]:
        """Run every layer's shape rule in order; fills Layer.bottom_shapes/top_shapes.

        ``input_shapes`` overrides the declared input shapes. Raises ShapeError naming
        the first layer whose bottoms are inconsistent.
        """
        shapes: dict[str, Shape] = {}
        for name, shape in self.inputs.items():
            if input_shapes and name in input_shapes:
                shape = tuple(int(d) for d in input_shapes[name])
            if shape is None:
                raise ShapeError(f"the shape of input '{name}' is unknown: pass --input-shape")
            shapes[name] = tuple(shape)
        for lay in self.layers:
            missing = [b for b in lay.bottoms if b not in shapes]
            if missing:
                raise ShapeError(
                    f"bottom '{missing[0]}' is produced by no earlier layer or input",
                    layer=lay.name,
                )
            lo, hi = lay.impl.num_bottoms
            if len(lay.bottoms) < lo or (hi is not None and len(lay.bottoms) > hi):
                want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
                raise ShapeError(
                    f"{lay.type} takes {want} bottoms, got {len(lay.bottoms)}", layer=lay.name
                )
            bottom_shapes = [shapes[b] for b in lay.bottoms]
            tops = [tuple(int(d) for d in s) for s in lay.impl.reshape(bottom_shapes)]
            if len(tops) != len(lay.tops):
                raise ShapeError(
                    f"{lay.type} makes {len(tops)} tops but the prototxt names {len(lay.tops)}",
                    layer=lay.name,
                )
            for top, shape in zip(lay.tops, tops):
                if int(np.prod(shape, dtype=object)) > MAX_BLOB_ELEMENTS:
                    raise ShapeError(
                        f"top '{top}' would be {fmt_shape(shape)}, over {MAX_BLOB_ELEMENTS} "
                        "values; refusing", layer=lay.name)
                if any(d <= 0 for d in shape):
                    raise ShapeError(
                        f"top '{top}' would have an empty shape {fmt_shape(shape)} "
                        f"(bottoms {', '.join(fmt_shape(s) for s in bottom_shapes)})",
                        layer=lay.name,
                    )
                shapes[top] = shape
            lay.bottom_shapes, lay.top_shapes = bottom_shapes, tops
        self.blob_shapes = shapes
        return shapes
