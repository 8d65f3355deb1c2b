"""PyTorch's expression of Caffe's learned linear layers: Convolution, Deconvolution and
InnerProduct."""
from __future__ import annotations

import numpy as np
from torch import nn

from ..base import Context
from .core import BACKEND, Op, _axis


@BACKEND.register("Convolution")
def convolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = ctx.bottom_shapes[0][1]
    conv = nn.Conv2d(channels, p.num_output, p.kernel, stride=p.stride, padding=p.pad,
                     dilation=p.dilation, groups=p.group, bias=p.bias_term)
    return Op(conv, lambda xs: [conv(xs[0])])


@BACKEND.register("Deconvolution")
def deconvolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = ctx.bottom_shapes[0][1]
    # Caffe: out = stride*(in-1) + dilation*(k-1) + 1 - 2*pad, PyTorch's rule with
    # output_padding 0; weights C x O/g x kh x kw in both.
    deconv = nn.ConvTranspose2d(channels, p.num_output, p.kernel, stride=p.stride,
                                padding=p.pad, dilation=p.dilation, groups=p.group,
                                bias=p.bias_term)
    return Op(deconv, lambda xs: [deconv(xs[0])])


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shape = ctx.bottom_shapes[0]
    axis = _axis(p.axis, len(shape))
    k = int(np.prod(shape[axis:]))
    linear = nn.Linear(k, p.num_output, bias=p.bias_term)
    return Op(linear, lambda xs: [linear(xs[0].flatten(axis))])
