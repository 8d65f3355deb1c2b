"""The numpy reference runtime: Caffe's forward pass, layer by layer, in float32.

Each layer's math is its module's ``forward`` (convertkit/layers/); this driver only
feeds blobs in graph order, applies in-place chains the way Caffe's ``net.blobs``
sees them (the value under a name is the last one written), and frees activations
that no later layer reads and nobody asked to keep.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import ShapeError, UsageError
from ..graph import Layer, Net
from ..layers.base import fmt_shape

LayerHook = Callable[[Layer, list[np.ndarray]], None]


def _keep_set(net: Net, keep: str | Iterable[str]) -> set[str]:
    if keep == "outputs":
        return set(net.outputs)
    if keep == "all":
        names = set(net.inputs)
        for layer in net.layers:
            names.update(layer.tops)
        return names
    wanted = set([keep] if isinstance(keep, str) else keep)
    known = set(net.inputs).union(*(layer.tops for layer in net.layers))
    unknown = sorted(wanted - known)
    if unknown:
        raise UsageError(f"no blob named {', '.join(map(repr, unknown))} in the net")
    return wanted


def forward(
    net: Net,
    inputs: Mapping[str, np.ndarray],
    keep: str | Iterable[str] = "outputs",
    before_layer: LayerHook | None = None,
    after_layer: LayerHook | None = None,
    progress: Callable[[int, int, Layer], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``net`` on ``inputs`` (blob name -> NCHW float32 array).

    ``keep``: "outputs" (net outputs), "all" (every blob, as Caffe's ``net.blobs``
    holds it after the pass) or a list of blob names. ``before_layer(layer, bottoms)``
    runs before each layer (calibration uses it to set statistics), and
    ``after_layer(layer, tops)`` after it with that layer's own outputs (per-layer
    comparisons use it).
    """
    missing = [n for n in net.inputs if n not in inputs]
    if missing:
        raise UsageError(f"missing input blob(s): {', '.join(missing)}")
    values: dict[str, np.ndarray] = {}
    for name in net.inputs:
        arr = np.asarray(inputs[name])
        if arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        values[name] = arr
    # Shapes for these inputs (batch or size may differ from the declared ones).
    given = {n: tuple(a.shape) for n, a in values.items()}
    if any(net.blob_shapes.get(n) != s for n, s in given.items()):
        net.infer_shapes(given)
    kept = _keep_set(net, keep)
    last_use = {}
    for i, layer in enumerate(net.layers):
        for b in layer.bottoms:
            last_use[b] = i
    total = len(net.layers)
    for i, layer in enumerate(net.layers):
        bottoms = [values[b] for b in layer.bottoms]
        if before_layer is not None:
            before_layer(layer, bottoms)
        tops = layer.impl.forward(bottoms, layer.blobs)
        for top, arr, shape in zip(layer.tops, tops, layer.top_shapes):
            if tuple(arr.shape) != tuple(shape):
                raise ShapeError(f"forward produced {fmt_shape(arr.shape)} for '{top}' "
                                 f"but the shape rule says {fmt_shape(shape)}", layer=layer.name)
            if arr.dtype != np.float32:
                raise ShapeError(f"forward produced {arr.dtype} for '{top}', not float32",
                                 layer=layer.name)
        if after_layer is not None:
            after_layer(layer, list(tops))
        for top, arr in zip(layer.tops, tops):
            values[top] = arr
        for b in layer.bottoms:
            if last_use.get(b) == i and b not in kept and b not in layer.tops:
                values.pop(b, None)
        if progress is not None:
            progress(i + 1, total, layer)
    return {name: values[name] for name in values if name in kept}


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
