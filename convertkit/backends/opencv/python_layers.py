"""OpenCV's expression of the published Python layers convertkit knows: its Proposal
layer reads other parameters than py-faster-rcnn's, and it has no SpatialDropout (the
identity at TEST: a Dropout)."""
from __future__ import annotations

from ...graph import Layer
from ...caffe.proto import caffe_pb2
from ..base import Context
from .core import BACKEND


BACKEND.refuse("Proposal", reason="OpenCV's Proposal layer reads its own parameters "
               "(ratio, scale, ...), not py-faster-rcnn's param_str")


@BACKEND.register("SpatialDropout")
def spatial_dropout(ctx: Context) -> list[Layer]:
    layer = ctx.layer
    lp = caffe_pb2().LayerParameter(name=layer.name, type="Dropout")
    return [Layer(layer.name, "Dropout", list(layer.bottoms), list(layer.tops), lp, [])]
