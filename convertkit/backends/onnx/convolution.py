"""ONNX's expression of Caffe's learned linear layers: Convolution, Deconvolution and
InnerProduct."""
from __future__ import annotations

import numpy as np

from ..base import Context
from .core import BACKEND, _dims, _g, _int_vec


@BACKEND.register("Convolution", "Deconvolution")
def convolution(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    inputs = [g.value(layer.bottoms[0]), g.param(layer, "weight")]
    if p.bias_term:
        inputs.append(g.param(layer, "bias"))
    op = "Conv" if layer.type == "Convolution" else "ConvTranspose"
    g.node(op, inputs, [g.write(layer.tops[0])], name=layer.name, kernel_shape=list(p.kernel),
           strides=list(p.stride), pads=[p.pad[0], p.pad[1], p.pad[0], p.pad[1]],
           dilations=list(p.dilation), group=p.group)


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    bottom, top = ctx.bottom_shapes[0], ctx.top_shapes[0]
    axis = p.axis % len(bottom)
    flat = g.tmp(layer, "flat")
    g.node("Flatten", [g.value(layer.bottoms[0])], [flat], axis=axis)
    inputs = [flat, g.param(layer, "weight")]
    if p.bias_term:
        inputs.append(g.param(layer, "bias"))
    if axis == 1:
        g.node("Gemm", inputs, [g.write(layer.tops[0])], name=layer.name,
               transB=0 if p.transpose else 1)
        return
    out = g.tmp(layer, "gemm")
    g.node("Gemm", inputs, [out], transB=0 if p.transpose else 1)
    if ctx.options.get("sizes") is None:
        shape = g.const(layer, "shape", np.array(top, np.int64))
    else:  # the leading axes, as they come
        shape = g.tmp(layer, "shape_now")
        g.node("Concat", [_dims(ctx, g.value(layer.bottoms[0]), 0, axis, "lead"),
                          _int_vec(ctx, [p.num_output], "units")], [shape], axis=0)
    g.node("Reshape", [out, shape], [g.write(layer.tops[0])], name=layer.name)
