"""OpenCV's expression of Caffe's Pooling and Interp."""
from __future__ import annotations

from ...caffe.proto import caffe_pb2
from ...graph import Layer
from ..base import Context
from .core import BACKEND


@BACKEND.register("Pooling")
def pooling(ctx: Context) -> list[Layer] | None:
    """OpenCV's schema names floor rounding ``ceil_mode: false`` and has no BVLC
    ``round_mode``: say it OpenCV's way."""
    layer = ctx.layer
    if not layer.proto.pooling_param.HasField("round_mode"):
        return None
    lp = layer.to_proto()
    lp.pooling_param.ClearField("round_mode")
    lp.pooling_param.ceil_mode = layer.hparams.ceil
    return [layer.replace(proto=lp)]


@BACKEND.register("Interp")
def interp(ctx: Context) -> list[Layer] | None:
    """OpenCV's Interp understands height/width and zoom_factor but gives 0x0 for
    shrink_factor and ignores pad_beg/pad_end: spell out the size Caffe computes."""
    layer, p = ctx.layer, ctx.layer.hparams
    if p.pad_beg or p.pad_end:
        raise ctx.refuse("OpenCV's Interp cannot crop (pad_beg/pad_end)", BACKEND.name)
    if p.rule == "size":
        return None
    _, _, ho, wo = ctx.top_shapes[0]
    lp = caffe_pb2().LayerParameter(name=layer.name, type="Interp")
    lp.interp_param.height, lp.interp_param.width = ho, wo
    return [Layer(layer.name, "Interp", list(layer.bottoms), list(layer.tops), lp, [])]
