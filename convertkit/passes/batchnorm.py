"""``fold_batchnorm``: fold inference-time batch normalisation into the layer before it.

A normalisation layer (the fork's 4-param ``BN``, or BVLC ``BatchNorm`` together with
the ``Scale`` that follows it) computes ``y = s * x + t`` per channel at inference.
When it directly follows a Convolution, Deconvolution or InnerProduct whose output
nothing else reads, it folds into that layer's weights::

    s = gamma / sqrt(var + eps)      W' = W * s (per output channel)
    b' = (b - mean) * s + beta       (b = 0 when the layer had no bias)

in float64, rounded once to float32. Any other normalisation (after an Eltwise, a
Concat, an input...) becomes one ``Scale`` with bias (s, t) under the BN's name.
The layer semantics come from each type's module (``weight_axes`` and
``channel_affine``); this pass only rewires the graph. The input net is unchanged.
"""
from __future__ import annotations

import numpy as np

from ..graph import Layer, Net
from ..caffe.proto import caffe_pb2


def _is_normalisation(layer: Layer) -> bool:
    """Batch normalisations with a fixed per-channel affine map: what this pass folds."""
    return layer.impl.normalizes() and layer.impl.channel_affine(
        layer.params or _unit_params(layer)) is not None


def _unit_params(layer: Layer) -> list[np.ndarray]:
    """Placeholder params for a weightless net (only the structure is folded)."""
    return [np.ones(1, np.float32) for _ in layer.roles]


def _readers(net: Net, blob: str, start: int) -> tuple[list[int], int | None]:
    """Layers reading ``blob`` after layer ``start``, up to the next layer that writes
    it (included when it also reads it, as an in-place layer does), and that writer."""
    readers = []
    for i in range(start + 1, len(net.layers)):
        lay = net.layers[i]
        if blob in lay.bottoms:
            readers.append(i)
        if blob in lay.tops:
            return readers, i
    return readers, None


def _producer(net: Net, index: int, blob: str) -> int | None:
    for i in range(index - 1, -1, -1):
        if blob in net.layers[i].tops:
            return i
    return None


def _outputs_on_channels(net: Net, layer: Layer, top: str) -> bool:
    """Whether ``layer``'s outputs lie on axis 1 of ``top``, the axis a BN scales: not
    so for an InnerProduct with ``axis: 2`` (its outputs are the last axis)."""
    axis = getattr(layer.hparams, "axis", 1)
    shape = net.blob_shapes.get(top)
    return shape is None or len(shape) < 2 or axis % len(shape) == 1


def fold_batchnorm(net: Net) -> tuple[Net, list[str]]:
    """A new net with every BN / BatchNorm(+Scale) folded; returns it and notes."""
    layers = net.layers
    replaced: dict[int, Layer] = {}
    removed: set[int] = set()
    folded: list[str] = []
    as_scale: list[str] = []
    for i, bn in enumerate(layers):
        if i in removed or not _is_normalisation(bn):
            continue
        weightless = not bn.params
        s_t = None if weightless else bn.impl.channel_affine(bn.params)
        chain, top = [i], bn.tops[0]
        # BVLC's BatchNorm is followed by a Scale on its output: fold it along.
        readers, _ = _readers(net, top, i)
        if readers:
            nxt = layers[readers[0]]
            affine = nxt.impl.channel_affine(nxt.params) if nxt.params else None
            if (not nxt.impl.normalizes() and affine is not None and nxt.bottoms == [top]
                    and (len(readers) == 1 or nxt.tops == [top])):
                if s_t is not None:
                    s_t = (s_t[0] * affine[0], s_t[1] * affine[0] + affine[1])
                chain.append(readers[0])
                top = nxt.tops[0]
        src = bn.bottoms[0]
        p = _producer(net, i, src)
        target = replaced.get(p, layers[p]) if p is not None else None
        if (target is not None and target.impl.weight_axes() is not None
                and _outputs_on_channels(net, target, src)
                and target.tops == [src] and _readers(net, src, p)[0] == [i]):
            replaced[p] = _fold_into(target, s_t, top, weightless)
            removed.update(chain)
            folded.append(bn.name)
        else:
            replaced[i] = _as_scale(bn, s_t, top, weightless)
            removed.update(chain[1:])
            as_scale.append(bn.name)
    out_layers = [replaced.get(i, lay) for i, lay in enumerate(layers) if i not in removed]
    notes = []
    if folded:
        notes.append(f"folded {len(folded)} BN layers into the layers before them "
                     f"({folded[0]}{', ...' if len(folded) > 1 else ''})")
    if as_scale:
        notes.append(f"{len(as_scale)} BN layers follow no convolution of their own and "
                     f"became a per-channel Scale with bias: {', '.join(as_scale[:5])}"
                     + (" ..." if len(as_scale) > 5 else ""))
    if not folded and not as_scale:
        notes.append("nothing to fold: the net has no BN or BatchNorm layers")
    return net.replace(layers=out_layers), notes


def _fold_into(layer: Layer, s_t, top: str, weightless: bool) -> Layer:
    """``layer`` with ``y -> s*y + t`` folded into its weight and bias, writing ``top``."""
    proto = type(layer.proto)()
    proto.CopyFrom(layer.proto)
    block = proto.inner_product_param if layer.type == "InnerProduct" else proto.convolution_param
    block.bias_term = True
    new = layer.replace(proto=proto, tops=[top])
    if weightless:
        new.params = []
        return new
    s, t = s_t
    w = np.asarray(layer.param("weight"), np.float64)
    bias = layer.param("bias")
    out_axis, _ = layer.impl.weight_axes()
    n_out = w.shape[0] if out_axis == 0 else w.shape[1] * getattr(layer.hparams, "group", 1)
    s, t = np.broadcast_to(s, (n_out,)), np.broadcast_to(t, (n_out,))
    b = np.zeros(n_out) if bias is None else np.asarray(bias, np.float64).ravel()
    if out_axis == 0:  # Convolution, InnerProduct: one weight row per output
        w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    else:  # Deconvolution (C x O/g x kh x kw) or a transposed InnerProduct (K x O):
        # row r feeds the outputs of its group, r // (C / g).
        group = getattr(layer.hparams, "group", 1)
        rows = np.arange(w.shape[0]) // (w.shape[0] // group)
        per = s.reshape(group, w.shape[1])[rows]
        w = w * per.reshape(per.shape + (1,) * (w.ndim - 2))
    new.params = [w.astype(np.float32), (b * s + t).astype(np.float32)]
    return new


def _as_scale(bn: Layer, s_t, top: str, weightless: bool) -> Layer:
    """A Scale with bias computing the normalisation's per-channel affine."""
    lp = caffe_pb2().LayerParameter(name=bn.name, type="Scale")
    lp.scale_param.bias_term = True
    params = [] if weightless else [np.asarray(v, np.float64).astype(np.float32) for v in s_t]
    return Layer(bn.name, "Scale", [bn.bottoms[0]], [top], lp, params)
