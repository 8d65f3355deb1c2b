"""Mish, ``y = x * tanh(softplus(x))`` (the YOLOv4 Caffe forks' ``Mish`` layer), as a
convertkit plugin: the layer's Caffe meaning, and its expression in each backend."""
from __future__ import annotations

import numpy as np

from convertkit.layers import LayerImpl, register
from convertkit.plugins import expression


@register("Mish")
class Mish(LayerImpl):
    """One bottom, one top of its shape; no params."""

    def channel_map(self) -> str:
        return "pointwise"

    def macs(self, bottom_shapes, top_shapes) -> int:
        return int(np.prod(top_shapes[0]))

    def forward(self, bottoms, params):
        x = np.asarray(bottoms[0], np.float32)
        # softplus, stable for large |x|: max(x, 0) + log1p(exp(-|x|))
        softplus = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        return [(x * np.tanh(softplus)).astype(np.float32)]


@expression("torch", "Mish")
def mish_torch(ctx):
    import torch.nn.functional as F

    from convertkit.backends.torch import Op

    return Op(None, lambda xs: [F.mish(xs[0])])


@expression("onnx", "Mish")
def mish_onnx(ctx):
    g, layer = ctx.options["graph"], ctx.layer
    x = g.value(layer.bottoms[0])
    sp, th = g.tmp(layer, "softplus"), g.tmp(layer, "tanh")
    g.node("Softplus", [x], [sp])
    g.node("Tanh", [sp], [th])
    g.node("Mul", [x, th], [g.write(layer.tops[0])], name=layer.name)


@expression("opencv", "Mish")
def mish_opencv(ctx):
    return None  # OpenCV dnn has a Mish layer of its own: read as is


@expression("tf", "Mish")
def mish_tf(ctx):
    import keras

    from convertkit.backends.tf import Op

    layer = keras.layers.Activation("mish", name=ctx.options["name"])
    return Op(layer, lambda xs: [layer(xs[0])])
