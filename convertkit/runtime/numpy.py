"""The numpy reference runtime: Caffe's forward pass, layer by layer, in float32.

Each layer's math is its module's ``forward`` (convertkit/layers/); this driver only
feeds blobs in graph order, applies in-place chains the way Caffe's ``net.blobs``
sees them (the value under a name is the last one written), and frees activations
that no later layer reads and nobody asked to keep.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import ShapeError
from ..graph import Layer, Net
from ..layers.base import fmt_shape
from .base import Keep, LayerHook, Runtime, input_arrays, plan_for, resolve_keep

#: ``hook(layer, arrays)``: the Layer itself, with its bottoms or its tops.
GraphHook = Callable[[Layer, list[np.ndarray]], None]


class NumpyRuntime(Runtime):
    """convertkit's Caffe-exact reference."""

    name = "numpy"

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        after = (lambda layer, tops: on_layer(layer.name, tops)) if on_layer else None
        return forward(self.net, inputs, keep, after_layer=after)


def forward(
    net: Net,
    inputs: Mapping[str, np.ndarray],
    keep: Keep = "outputs",
    before_layer: GraphHook | None = None,
    after_layer: GraphHook | None = None,
    progress: Callable[[int, int, Layer], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``net`` on ``inputs`` (blob name -> NCHW float32 array).

    ``keep``: "outputs" (net outputs), "all" (every blob, as Caffe's ``net.blobs``
    holds it after the pass) or a list of blob names. ``before_layer(layer, bottoms)``
    runs before each layer (calibration uses it to set statistics), and
    ``after_layer(layer, tops)`` after it with that layer's own outputs (per-layer
    comparisons use it); an array it puts in the list replaces that top for the rest
    of the pass (verify computes the reference from a runtime's near-tie indices). Inputs of another size or batch are planned afresh; the
    net itself is not changed.
    """
    values = input_arrays(net, inputs)
    kept = resolve_keep(net, keep)
    plan = plan_for(net, values, kept)
    kept_set = set(kept)
    last_use = {}
    for i, layer in enumerate(net.layers):
        for b in layer.bottoms:
            last_use[b] = i
    total = len(net.layers)
    # Blobs whose size depends on the data (a data-dependent layer's tops, and what is
    # computed from them): their shapes are what forward gives, not the plan's.
    dynamic_blobs: set[str] = set()
    for i, layer in enumerate(net.layers):
        bottoms = [values[b] for b in layer.bottoms]
        if before_layer is not None:
            before_layer(layer, bottoms)
        tops = list(layer.impl.forward(bottoms, layer.params))
        dynamic = (getattr(layer.impl, "dynamic_output", False)
                   or any(b in dynamic_blobs for b in layer.bottoms))
        if dynamic:
            dynamic_blobs.update(layer.tops)
        for top, arr, shape in zip(layer.tops, tops, plan.tops[i]):
            if tuple(arr.shape) != tuple(shape) and not dynamic:
                raise ShapeError(f"forward produced {fmt_shape(arr.shape)} for '{top}' "
                                 f"but the shape rule says {fmt_shape(shape)}", layer=layer.name)
            if arr.dtype != np.float32:
                raise ShapeError(f"forward produced {arr.dtype} for '{top}', not float32",
                                 layer=layer.name)
        if after_layer is not None:
            after_layer(layer, tops)  # it may replace a top (verify's near-tie indices)
        for top, arr in zip(layer.tops, tops):
            values[top] = arr
        for b in layer.bottoms:
            if last_use.get(b) == i and b not in kept_set and b not in layer.tops:
                values.pop(b, None)
        if progress is not None:
            progress(i + 1, total, layer)
    return {name: values[name] for name in kept}


def forward_layers(net: Net, inputs: Mapping[str, np.ndarray],
                   layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Each layer's own first output, right after it ran (before any later in-place
    layer changes the blob): what OpenCV dnn reports per layer name."""
    wanted = set(layers) if layers is not None else None
    out: dict[str, np.ndarray] = {}

    def grab(layer: Layer, tops: list[np.ndarray]) -> None:
        if wanted is None or layer.name in wanted:
            out[layer.name] = tops[0]

    forward(net, inputs, keep="outputs", after_layer=grab)
    return out
