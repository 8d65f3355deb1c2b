"""The contract every Caffe layer type fulfils, and the registry that finds it.

One module per Caffe type (``convertkit/layers/<type>.py``) defines a subclass of
:class:`LayerImpl` decorated with :func:`register`. It holds Caffe's meaning of the
type and nothing else (numpy only; how other frameworks express it lives in
``convertkit/backends/<framework>/``). In this order:

1. ``read_params(proto)``: the layer's hyper-parameters (*hparams*), read from the
   ``LayerParameter`` message with Caffe's defaults, into a small frozen dataclass;
2. ``param_roles()``: what each learned param is (``weight``, ``bias``, ``gamma``,
   ``beta``, ``mean``, ``variance``, ``scale_factor``, ``slope``), in Caffe's order.
   Mapping tables, BN folding and every writer read roles, never list positions;
3. ``param_shapes(bottom_shapes)``: the learned params Caffe's ``LayerSetUp`` creates;
4. ``reshape(bottom_shapes)``: the shape rule (Caffe's ``Reshape``), raising
   :class:`~convertkit.errors.ShapeError` on inconsistent input;
5. ``macs(bottom_shapes, top_shapes)``: multiply-adds of one forward pass;
6. ``forward(bottoms, params)``: the numpy reference, exactly Caffe's ``Forward_cpu``
   in float32.

A LayerImpl is built from a ``LayerParameter`` (name, bottoms, tops and the type's
parameter block), never from a graph node, so it cannot go stale: the graph builds a
new one whenever a layer's definition changes.

Words follow pycaffe: *blobs* are activations, *params* are learned weights.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..errors import ShapeError, UnsupportedLayerError

Shape = tuple[int, ...]

_REGISTRY: dict[str, type["LayerImpl"]] = {}

#: Every role a learned param can have. Writers and passes look params up by role.
ROLES = ("weight", "bias", "gamma", "beta", "mean", "variance", "scale_factor", "slope")


def register(*type_names: str, replace: bool = False) -> Callable[[type["LayerImpl"]], type["LayerImpl"]]:
    """Class decorator: register a :class:`LayerImpl` under one or more Caffe type names.

    This is the one public way to add a layer type, for convertkit's own modules and
    for outside packages alike::

        from convertkit.layers import LayerImpl, register

        @register("MyFork_Upsample")
        class Upsample(LayerImpl):
            ...

    Registering a name twice is an error unless ``replace=True``.
    """

    def deco(cls: type[LayerImpl]) -> type[LayerImpl]:
        for name in type_names:
            if name in _REGISTRY and _REGISTRY[name] is not cls and not replace:
                raise RuntimeError(f"layer type {name!r} registered twice "
                                   f"({_REGISTRY[name].__module__} and {cls.__module__})")
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
    """Caffe semantics of one layer type, for one layer definition."""

    #: Caffe type name (set by @register from its first name when left empty).
    type_name: ClassVar[str] = ""
    #: True for data, loss and accuracy layers: dropped from deploy graphs, with a note.
    training_only: ClassVar[bool] = False
    #: Bottom count Caffe accepts: (min, max); max None means unbounded.
    num_bottoms: ClassVar[tuple[int, int | None]] = (1, 1)
    #: True when a top's size depends on the data (SSD's DetectionOutput): the shape
    #: rule gives Caffe's placeholder, and runtimes take what forward() produces.
    dynamic_output: ClassVar[bool] = False
    #: Roles of the learned params in Caffe's order; param_roles() trims optional ones.
    roles: ClassVar[tuple[str, ...]] = ()

    def __init__(self, proto: Any):
        """``proto``: the layer's LayerParameter (name, bottoms, tops, parameter block)."""
        self.name: str = proto.name
        self.type: str = proto.type or self.type_name
        self.bottoms: list[str] = list(proto.bottom)
        self.tops: list[str] = list(proto.top)
        self.p = self.read_params(proto)

    # 1. hyper-parameters ----------------------------------------------------------------
    def read_params(self, proto: Any) -> Any:
        """Hyper-parameters from the LayerParameter message, with Caffe's defaults."""
        return None

    # 2. roles of the learned params ---------------------------------------------------
    def param_roles(self) -> tuple[str, ...]:
        """The role of each learned param, in order (as many as param_shapes gives)."""
        return self.roles

    # 3. learned params ----------------------------------------------------------------
    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        """Shapes of the learned params Caffe creates for these bottoms (in order)."""
        return []

    # 4. shape rule ----------------------------------------------------------------------
    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        """Top shapes for these bottom shapes. Default: one top shaped like bottom 0."""
        return [tuple(bottom_shapes[0])]

    # 5. cost ----------------------------------------------------------------------------
    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        """Multiply-adds of one forward pass (0 for data movement)."""
        return 0

    # 6. numpy reference ----------------------------------------------------------------
    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.type_name}: no numpy forward")

    def comparable(self, top: np.ndarray, k: int = 0) -> np.ndarray:
        """Top ``k`` in the form in which two runtimes' values of it are compared: the
        top itself, except where its row order or padding is not part of its meaning
        (DetectionOutput's detections form a set)."""
        return top

    def output_hint(self, k: int = 0) -> str | None:
        """What top ``k`` holds, when its shape alone does not say so: "probabilities"
        (Softmax), "indices" (positions, such as a MAX pooling mask or ArgMax's
        indices), "detections" (SSD's rows), or None. verify's report shows an output
        in these terms (convertkit/verify/kinds.py)."""
        return None

    def input_value(self, k: int, bottom_shapes: Sequence[Shape]) -> np.ndarray | None:
        """The value bottom ``k`` must hold when it is a net input that is no image
        (Faster R-CNN's ``im_info``: the image's height, width and scale), for these
        bottom shapes; None when the layer cannot say. Images are fed, and such inputs
        filled from this (``Net.input_values``)."""
        return None

    def indexed_values(self, bottoms: Sequence[np.ndarray], top: np.ndarray, k: int) -> np.ndarray:
        """For a top of ``output_hint(k) == "indices"``: the bottom values its indices
        point at (shaped like the top). Two runtimes' index tops are compared by these
        values, so that a float-noise near-tie that moves an index is told apart from a
        wrong index. Indices that are not whole numbers in range give NaN."""
        raise NotImplementedError(f"{self.type_name}: top {k} holds no indices")

    # 7. structure that graph passes rely on -----------------------------------------
    def weight_axes(self) -> tuple[int, int] | None:
        """(output-channel axis, input-channel axis) of the ``weight`` param, for layers
        whose output is a linear map of the input channels plus a ``bias`` (Convolution,
        Deconvolution, InnerProduct); None for others. BN folding scales the output
        axis; channel flips reverse the input axis."""
        return None

    def channel_affine(self, params: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """For a layer computing ``y[:, c] = s[c] * x[:, c] + t[c]`` at inference, (s, t)
        in float64, one value per channel (or one value for all); else None."""
        return None

    def reconcile(self, proto: Any, params: Sequence[np.ndarray]) -> tuple[Any, str] | None:
        """A definition that fits the learned params a caffemodel holds, when the
        type has dialects told apart by them: (new LayerParameter, note), or None."""
        return None

    def normalizes(self) -> bool:
        """True for batch-normalisation layers (BN, BatchNorm), which ``--bn merge``
        folds when they compute a fixed affine map (``channel_affine``)."""
        return False

    def channel_map(self) -> str | None:
        """How output channel c depends on the input channels: "linear" (a linear map
        of input channel c alone, e.g. Interp, AVE pooling), "pointwise" (a function of
        input channel c alone, e.g. ReLU, BN, MAX pooling), or None (channels mix, or
        the layer changes the channel axis)."""
        return None

    def ties_channels(self) -> bool:
        """True when output channel c is made of channel c of every bottom (Eltwise):
        pruning must remove the same channels from all of them."""
        return False

    def channel_roles(self) -> tuple[str, ...]:
        """Learned params that hold one value per channel (reversed by channel flips)."""
        return ()

    # 8. sizes ----------------------------------------------------------------------------
    def fixed_sizes(self, bottom_shapes: Sequence[Shape]) -> list[tuple[int, tuple[int, ...], str]]:
        """The bottom axes whose sizes this layer needs to stay as they are for these
        bottoms, whatever the net's input size: ``(bottom index, axes, why)``. An
        InnerProduct needs its C*H*W features; a Reshape with explicit dims needs the
        count it names. Default: none (the layer takes any size its shape rule does).
        ``convertkit.sizes`` maps these to the net inputs' batch, height and width."""
        return []

    def fixed_output(self, bottom_shapes: Sequence[Shape]) -> str | None:
        """Why this layer's top has one size whatever its bottom's (an Interp to an
        explicit height and width), or None."""
        return None

    # helpers -----------------------------------------------------------------------------
    def fail(self, message: str) -> ShapeError:
        """A ShapeError naming this layer (raise the result)."""
        return ShapeError(message, layer=self.name)


def gather_indices(values: np.ndarray, index: np.ndarray, axis: int = -1) -> np.ndarray:
    """``values`` at float ``index`` along ``axis`` (numpy's take_along_axis), with NaN
    where an index is not a whole number within the axis."""
    index = np.asarray(index)
    n = values.shape[axis]
    valid = np.isfinite(index) & (index == np.round(index)) & (index >= 0) & (index < n)
    safe = np.where(valid, index, 0).astype(np.int64)
    out = np.take_along_axis(values, safe, axis=axis).astype(np.float32)
    out[~valid] = np.nan
    return out


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
