"""The contract every Caffe layer type fulfils, and the registry that finds it.

One module per Caffe type (``convertkit/layers/<type>.py``) defines a subclass of
:class:`LayerImpl` decorated with :func:`register`. In this order it holds:

1. ``read_params(proto)``: the layer's hyper-parameters, read from the
   ``LayerParameter`` message with Caffe's defaults, into a small frozen dataclass;
2. ``blob_shapes(bottom_shapes)``: the learned blobs Caffe's ``LayerSetUp`` creates;
3. ``reshape(bottom_shapes)``: the shape rule (Caffe's ``Reshape``), raising
   :class:`~convertkit.errors.ShapeError` on inconsistent input;
4. ``flops(bottom_shapes, top_shapes)``: multiply-adds of one forward pass;
5. ``forward(bottoms, blobs)``: the numpy reference, exactly Caffe's ``Forward_cpu``
   in float32;
6. how each outside framework expresses it: ``for_opencv()`` returns the layers that
   OpenCV dnn's Caffe importer can load in its place (None: it loads this one as is).

The graph, loader and runtimes never switch on a type name: they ask the registry.
Adding a layer type means adding one module here; ``convertkit.layers`` imports every
module of the package, so nothing else changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from ..errors import ShapeError, UnsupportedLayerError

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Layer

Shape = tuple[int, ...]

_REGISTRY: dict[str, type["LayerImpl"]] = {}


def register(*type_names: str):
    """Class decorator: register a LayerImpl under one or more Caffe type names."""

    def deco(cls: type[LayerImpl]) -> type[LayerImpl]:
        for name in type_names:
            if name in _REGISTRY and _REGISTRY[name] is not cls:
                raise RuntimeError(f"layer type {name!r} registered twice")
            _REGISTRY[name] = cls
        if not cls.type_name:
            cls.type_name = type_names[0]
        return cls

    return deco


def impl_class(type_name: str) -> type["LayerImpl"]:
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnsupportedLayerError(f"unsupported layer type {type_name!r}") from None


def is_supported(type_name: str) -> bool:
    return type_name in _REGISTRY


def registered_types() -> list[str]:
    return sorted(_REGISTRY)


class LayerImpl:
    """Caffe semantics of one layer type, bound to one layer of a graph."""

    #: Caffe type name (set by @register from its first name when left empty).
    type_name: ClassVar[str] = ""
    #: True for data, loss and accuracy layers: dropped from deploy graphs, with a note.
    training_only: ClassVar[bool] = False
    #: Bottom count Caffe accepts: (min, max); max None means unbounded.
    num_bottoms: ClassVar[tuple[int, int | None]] = (1, 1)

    def __init__(self, layer: "Layer"):
        self.layer = layer
        self.p = self.read_params(layer.proto)

    # 1. parameters -----------------------------------------------------------------
    def read_params(self, proto: Any) -> Any:
        """Hyper-parameters from the LayerParameter message, with Caffe's defaults."""
        return None

    # 2. learned blobs -----------------------------------------------------------------
    def blob_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        """Shapes of the learned blobs Caffe creates for these bottoms (in order)."""
        return []

    # 3. shape rule --------------------------------------------------------------------
    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        """Top shapes for these bottom shapes. Default: one top shaped like bottom 0."""
        return [tuple(bottom_shapes[0])]

    # 4. cost ----------------------------------------------------------------------------
    def flops(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        """Multiply-adds of one forward pass (0 for data movement)."""
        return 0

    # 5. numpy reference --------------------------------------------------------------
    def forward(self, bottoms: Sequence[np.ndarray], blobs: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.type_name}: no numpy forward")

    # 6. other frameworks ------------------------------------------------------------
    def for_opencv(self) -> list["Layer"] | None:
        """Replacement layers for OpenCV dnn (same blob names in and out; the last one
        keeps this layer's name so per-layer comparisons line up), or None when OpenCV
        reads this layer unchanged. Shapes are known (Net.infer_shapes ran)."""
        return None

    # helpers -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.layer.name

    def fail(self, message: str) -> ShapeError:
        """A ShapeError naming this layer (raise the result)."""
        return ShapeError(message, layer=self.layer.name)


def fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def canonical_axis(axis: int, ndim: int, impl: LayerImpl, what: str = "axis") -> int:
    """Caffe's Blob::CanonicalAxisIndex: negative axes count from the end."""
    if not -ndim <= axis < ndim:
        raise impl.fail(f"{what} {axis} out of range for a {ndim}-axis blob")
    return axis % ndim


def count(shape: Sequence[int], start: int = 0, end: int | None = None) -> int:
    n = 1
    for d in list(shape)[start:end]:
        n *= int(d)
    return n
