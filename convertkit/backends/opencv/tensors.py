"""OpenCV's expression of Axpy (a * x + y) through layers OpenCV has."""
from __future__ import annotations

from ...caffe.proto import caffe_pb2
from ...graph import Layer
from ..base import Context
from .core import BACKEND


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> list[Layer]:
    """OpenCV has no Axpy: a * x as a Scale of x by a's N x C values (axis 0), then y
    added by an Eltwise SUM that keeps the layer's name."""
    layer = ctx.layer
    pb = caffe_pb2()
    a, x, y = layer.bottoms
    flat = pb.LayerParameter(name=f"{layer.name}/a", type="Flatten")
    scaled = pb.LayerParameter(name=f"{layer.name}/ax", type="Scale")
    scaled.scale_param.axis = 0
    total = pb.LayerParameter(name=layer.name, type="Eltwise")
    return [Layer(flat.name, "Flatten", [a], [flat.name], flat, []),
            Layer(scaled.name, "Scale", [x, flat.name], [scaled.name], scaled, []),
            Layer(total.name, "Eltwise", [scaled.name, y], list(layer.tops), total, [])]
