"""ONNX's expression of BVLC's Swish and Clip."""
from __future__ import annotations

import numpy as np

from ..base import Context
from . import BACKEND, _g


@BACKEND.register("Swish")
def swish(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    x = g.value(layer.bottoms[0])
    beta = g.const(layer, "beta", np.array(ctx.layer.hparams.beta, np.float32))
    scaled, gate = g.tmp(layer, "beta_x"), g.tmp(layer, "sigmoid")
    g.node("Mul", [x, beta], [scaled])
    g.node("Sigmoid", [scaled], [gate])
    g.node("Mul", [x, gate], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Clip")
def clip(ctx: Context) -> None:
    """max(min, min(x, max)) as Caffe computes it (ONNX's Clip leaves min > max open)."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    lo = g.const(layer, "min", np.array(p.min, np.float32))
    hi = g.const(layer, "max", np.array(p.max, np.float32))
    capped = g.tmp(layer, "capped")
    g.node("Min", [g.value(layer.bottoms[0]), hi], [capped])
    g.node("Max", [capped, lo], [g.write(layer.tops[0])], name=layer.name)
