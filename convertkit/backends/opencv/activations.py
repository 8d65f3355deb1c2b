"""OpenCV's expression of Caffe's neuron layers it reads otherwise: Dropout, Swish and
Log."""
from __future__ import annotations

from ...caffe.proto import caffe_pb2
from ...graph import Layer
from ..base import Context
from .core import BACKEND


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> list[Layer] | None:
    """OpenCV reads Dropout as the identity; py-faster-rcnn's ``scale_train: false``
    scales at TEST: a Power layer with that scale, under the layer's name."""
    s = ctx.layer.impl.test_scale()
    if s is None:
        return None
    layer = ctx.layer
    lp = caffe_pb2().LayerParameter(name=layer.name, type="Power")
    lp.power_param.scale = float(s)
    return [Layer(layer.name, "Power", list(layer.bottoms), list(layer.tops), lp, [])]


@BACKEND.register("Swish")
def swish(ctx: Context) -> None:
    """OpenCV's Swish is x * sigmoid(x): Caffe's with beta 1."""
    if ctx.layer.hparams.beta != 1:
        raise ctx.refuse(f"OpenCV's Swish has no beta (this one is {ctx.layer.hparams.beta:g})",
                         BACKEND.name)
    return None


@BACKEND.register("Log")
def log(ctx: Context) -> None:
    p = ctx.layer.hparams
    if (p.base, p.scale, p.shift) != (-1.0, 1.0, 0.0):
        raise ctx.refuse("OpenCV ignores log_param (base, scale, shift) and computes ln(x)",
                         BACKEND.name)
    return None
