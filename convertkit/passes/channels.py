"""Passes on the input channels: BGR -> RGB flips, and folding a learned input scale.

Both follow the input through layers that keep channels apart (each type's module
says so with ``channel_map``) to the first layers that mix them (``weight_axes``:
Convolution, Deconvolution, InnerProduct), whose weights absorb the change.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import UsageError
from ..graph import Layer, Net


def _flip_per_channel(arr: np.ndarray) -> np.ndarray:
    """A per-channel param (C values in any 1xCx1x1-like shape), channels reversed."""
    return np.ascontiguousarray(arr.reshape(-1)[::-1].reshape(arr.shape))


def _scale_input_axis(layer: Layer, bottom_shape, fn) -> Layer:
    """``layer`` with ``fn(weight, axis, channels)`` applied along its input channels."""
    impl = layer.impl
    _, in_axis = impl.weight_axes()
    if getattr(layer.hparams, "group", 1) != 1:
        raise UsageError(f"{layer.type} with group {layer.hparams.group} mixes channels "
                         "in groups; its input channels cannot be changed one by one",
                         layer=layer.name)
    w = layer.param("weight")
    new = layer.replace()
    if w is None:  # a weightless net: only the structure is known
        return new
    channels = int(bottom_shape[1])
    if w.shape[in_axis] != channels:
        # InnerProduct: its input axis is C*H*W; channels are the outer blocks.
        rows = list(w.shape)
        rows[in_axis:in_axis + 1] = [channels, w.shape[in_axis] // channels]
        w2 = fn(w.reshape(rows), in_axis, channels).reshape(w.shape)
    else:
        w2 = fn(w, in_axis, channels)
    new.params[layer.roles.index("weight")] = np.ascontiguousarray(w2, dtype=np.float32)
    return new


def _walk(net: Net, start: set[str], allowed: tuple[str, ...], what: str):
    """Follow the blobs in ``start`` forward. Yields (index, layer, kind) with kind
    "weights" for a layer whose weights take the channels in, or "through" for a layer
    that keeps channels apart (of a kind in ``allowed``); anything else is an error."""
    reached = set(start)
    for i, layer in enumerate(net.layers):
        hit = [b for b in layer.bottoms if b in reached]
        if not hit:
            continue
        impl = layer.impl
        if impl.weight_axes() is not None and layer.bottoms == hit[:1]:
            reached.difference_update(layer.tops)
            yield i, layer, "weights"
        elif impl.channel_map() in allowed and len(layer.bottoms) == 1:
            reached.update(layer.tops)
            yield i, layer, "through"
        else:
            raise UsageError(f"cannot {what} through {layer.type} layer '{layer.name}': "
                             "it mixes channels before any convolution", path=net.prototxt_path)
    left = [o for o in net.outputs if o in reached]
    if left:
        raise UsageError(f"cannot {what}: output {', '.join(left)} is reached before any "
                         "convolution", path=net.prototxt_path)


def flip_input_channels(net: Net, inputs: Iterable[str] | None = None) -> tuple[Net, list[str]]:
    """Reverse the channel order the net expects on ``inputs`` (default: every
    3-channel input), e.g. BGR -> RGB: each first convolution's weights are reversed
    along their input axis, and per-channel params on the way (ICNet's ``data_sub1``
    Scale) are reversed too. Returns the new net and notes."""
    names = list(inputs) if inputs is not None else [
        n for n, s in net.inputs.items() if s is not None and len(s) > 1 and s[1] == 3]
    if not names:
        return net.replace(), ["no 3-channel input: nothing to flip"]
    plan = net.plan()
    layers = list(net.layers)
    flipped, through = [], []
    for i, layer, kind in _walk(net, set(names), ("linear", "pointwise"), "flip channels"):
        if kind == "weights":
            layers[i] = _scale_input_axis(layer, plan.bottom_shapes(layer)[0],
                                          lambda w, axis, c: np.flip(w, axis))
            flipped.append(layer.name)
        else:
            new = layer.replace()
            for role in layer.impl.channel_roles():
                if role in layer.roles and layer.roles.index(role) < len(new.params):
                    k = layer.roles.index(role)
                    new.params[k] = _flip_per_channel(new.params[k])
            layers[i] = new
            through.append(layer.name)
    via = f" (through {', '.join(through)})" if through else ""
    notes = [f"reversed the input channels of {', '.join(names)} (BGR <-> RGB): "
             f"{', '.join(flipped)}{via}"]
    return net.replace(layers=layers), notes


def fold_input_scale(net: Net) -> tuple[Net, list[str]]:
    """Remove learned per-channel scales applied directly to a network input (ICNet's
    ``data_sub1``, which the TensorFlow ports silently drop). An all-ones scale is
    dropped; any other is folded into the convolutions it reaches, which is exact
    because a per-channel scale commutes with Interp, average pooling and zero
    padding. A scale with a nonzero bias cannot be folded (padding would see the
    bias) and is kept. Returns the new net and notes saying which."""
    notes: list[str] = []
    plan = net.plan()
    for layer in list(net.layers):
        if not (len(layer.bottoms) == 1 and layer.bottoms[0] in net.inputs and layer.params
                and not layer.impl.normalizes() and layer.impl.channel_map() == "pointwise"):
            continue
        affine = layer.impl.channel_affine(layer.params)
        if affine is None:
            continue
        s, t = affine
        if np.any(t != 0):
            notes.append(f"kept {layer.type} '{layer.name}' on input '{layer.bottoms[0]}': "
                         "its bias cannot be folded through zero padding")
            continue
        index = net.layers.index(layer)
        src, top = layer.bottoms[0], layer.tops[0]
        layers = list(net.layers)
        if np.all(s == 1):
            what = f"dropped {layer.type} '{layer.name}' on input '{src}': all its scales are 1"
        else:
            reached = []
            sub = net.replace(layers=net.layers[index + 1:], inputs={top: plan.blobs[top]})
            for k, lay, kind in _walk(sub, {top}, ("linear",), f"fold {layer.name}"):
                if kind == "weights":
                    def times(w, axis, c, s=s):
                        shape = [1] * w.ndim
                        shape[axis] = c
                        return w.astype(np.float64) * np.broadcast_to(s, (c,)).reshape(shape)

                    layers[index + 1 + k] = _scale_input_axis(
                        lay, plan.bottom_shapes(lay)[0], times)
                    reached.append(lay.name)
            what = (f"folded {layer.type} '{layer.name}' on input '{src}' into "
                    f"{', '.join(reached)}")
        del layers[index]
        if top != src:
            layers = [_rename_blob(lay, top, src) if k >= index else lay
                      for k, lay in enumerate(layers)]
        net = net.replace(layers=layers)
        plan = net.plan()
        notes.append(what)
    if not notes:
        notes.append("no learned scale on a network input: nothing to fold")
    return net.replace(), notes


def _rename_blob(layer: Layer, old: str, new: str) -> Layer:
    if old not in layer.bottoms and old not in layer.tops:
        return layer
    return layer.replace(bottoms=[new if b == old else b for b in layer.bottoms],
                         tops=[new if t == old else t for t in layer.tops])
