"""OpenCV's expression of Caffe's Convolution and Deconvolution."""
from __future__ import annotations

from ...graph import Layer
from ..base import Context
from .core import BACKEND


def _depthwise_check(ctx: Context) -> None:
    """OpenCV's depthwise convolution (group = channels = num_output) differs from
    Caffe's (measured, OpenCV 4.14): on an axis of size 1 with a kernel wider than 1
    (1x6x9x1, 3x3, pad 1: 134% of the output's range), and dilated with a pad other
    than dilation * (kernel - 1) / 2 (3x3, dilation 2, pad 1: 89%)."""
    p, shape = ctx.layer.hparams, ctx.bottom_shapes[0]
    if not (p.group > 1 and p.group == shape[1] == p.num_output):
        return
    for i, axis in enumerate(("height", "width")):
        if shape[2 + i] == 1 and p.kernel[i] > 1:
            raise ctx.refuse(f"OpenCV's depthwise convolution of a {axis} of 1 with a kernel "
                             f"of {p.kernel[i]} differs from Caffe's", BACKEND.name)
        if p.dilation[i] > 1 and 2 * p.pad[i] != p.dilation[i] * (p.kernel[i] - 1):
            raise ctx.refuse(f"OpenCV's dilated depthwise convolution differs from Caffe's "
                             f"with a pad ({p.pad[i]}) other than dilation x (kernel - 1) / 2 "
                             f"on the {axis}", BACKEND.name)


@BACKEND.register("Convolution", "Deconvolution")
def convolution(ctx: Context) -> list[Layer] | None:
    """OpenCV's Deconvolution ignores dilation (it gave 1x7x18x2 for Caffe's 1x7x20x2
    with dilation 2x1): refused. Sizes given once per axis (a repeated kernel_size,
    stride or pad) are written in the _h/_w form, one form for OpenCV to read."""
    layer, p = ctx.layer, ctx.layer.hparams
    if layer.type == "Deconvolution" and tuple(p.dilation) != (1, 1):
        raise ctx.refuse(f"OpenCV's Deconvolution ignores dilation "
                         f"({p.dilation[0]}x{p.dilation[1]})", BACKEND.name)
    if layer.type == "Convolution":
        _depthwise_check(ctx)
    cp = layer.proto.convolution_param
    if not (len(cp.kernel_size) > 1 or len(cp.stride) > 1 or len(cp.pad) > 1
            or len(cp.dilation) > 1):
        return None
    lp = layer.to_proto()
    c = lp.convolution_param
    for f in ("kernel_size", "stride", "pad", "dilation"):
        c.ClearField(f)
    c.kernel_h, c.kernel_w = p.kernel
    c.stride_h, c.stride_w = p.stride
    c.pad_h, c.pad_w = p.pad
    c.dilation.extend(p.dilation)
    return [layer.replace(proto=lp)]
