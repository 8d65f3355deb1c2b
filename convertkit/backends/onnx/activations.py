"""ONNX's expression of Caffe's neuron layers: ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal,
BNLL, Threshold, Power, Exp, Log, ReLU6, Swish, Clip and Dropout."""
from __future__ import annotations

import numpy as np

from ..base import Context
from .core import BACKEND, _g, _unary


@BACKEND.register("ReLU")
def relu(ctx: Context) -> None:
    slope = ctx.layer.hparams.negative_slope
    if slope == 0:
        _unary(ctx, "Relu")
    else:
        _unary(ctx, "LeakyRelu", alpha=float(slope))


def _channels_view(c: int, ndim: int) -> tuple[int, ...]:
    return (c,) + (1,) * (ndim - 2)


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    ndim = len(ctx.bottom_shapes[0])
    slope = np.asarray(layer.param("slope"), np.float32).reshape(-1)
    shape = (1,) if slope.size == 1 else _channels_view(slope.size, ndim)
    g.node("PRelu", [g.value(layer.bottoms[0]), g.param(layer, "slope", slope.reshape(shape))],
           [g.write(layer.tops[0])], name=layer.name)


BACKEND.register("ELU")(lambda ctx: _unary(ctx, "Elu", alpha=float(ctx.layer.hparams.alpha)))
BACKEND.register("Sigmoid")(lambda ctx: _unary(ctx, "Sigmoid"))
BACKEND.register("TanH")(lambda ctx: _unary(ctx, "Tanh"))
BACKEND.register("AbsVal")(lambda ctx: _unary(ctx, "Abs"))
BACKEND.register("BNLL")(lambda ctx: _unary(ctx, "Softplus"))


@BACKEND.register("Threshold")
def threshold(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    t = g.const(layer, "threshold", np.array(ctx.layer.hparams.threshold, np.float32))
    above = g.tmp(layer, "above")
    g.node("Greater", [g.value(layer.bottoms[0]), t], [above])
    g.node("Cast", [above], [g.write(layer.tops[0])], name=layer.name, to=1)


def _affine_chain(ctx: Context, x: str, scale: float, shift: float, tag: str) -> str:
    """x * scale + shift, each step skipped when it is the identity."""
    g, layer = _g(ctx), ctx.layer
    if scale != 1:
        y = g.tmp(layer, f"{tag}_scaled")
        g.node("Mul", [x, g.const(layer, f"{tag}_scale", np.array(scale, np.float32))], [y])
        x = y
    if shift != 0:
        y = g.tmp(layer, f"{tag}_shifted")
        g.node("Add", [x, g.const(layer, f"{tag}_shift", np.array(shift, np.float32))], [y])
        x = y
    return x


@BACKEND.register("Power")
def power(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if p.power * p.scale == 0:  # Caffe: constant output
        value = 1.0 if p.power == 0 else float(np.power(np.float32(p.shift), np.float32(p.power)))
        zero = g.tmp(layer, "zero")
        g.node("Mul", [x, g.const(layer, "zeros", np.array(0, np.float32))], [zero])
        g.node("Add", [zero, g.const(layer, "value", np.array(value, np.float32))],
               [g.write(layer.tops[0])], name=layer.name)
        return
    y = _affine_chain(ctx, x, p.scale, p.shift, "in")
    if p.power != 1:
        g.node("Pow", [y, g.const(layer, "power", np.array(p.power, np.float32))],
               [g.write(layer.tops[0])], name=layer.name)
    else:
        g.node("Identity", [y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Exp")
def exp(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    ln_base = 1.0 if p.base == -1 else float(np.log(np.float32(p.base)))
    y = _affine_chain(ctx, g.value(layer.bottoms[0]), p.scale, p.shift, "in")
    y = _affine_chain(ctx, y, ln_base, 0.0, "base")
    g.node("Exp", [y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Log")
def log(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    y = _affine_chain(ctx, g.value(layer.bottoms[0]), p.scale, p.shift, "in")
    if p.base == -1:
        g.node("Log", [y], [g.write(layer.tops[0])], name=layer.name)
        return
    ln = g.tmp(layer, "ln")
    g.node("Log", [y], [ln])
    g.node("Mul", [ln, g.const(layer, "base", np.array(1 / np.log(np.float32(p.base)), np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    g.node("Clip", [g.value(layer.bottoms[0]), g.const(layer, "min", np.array(0, np.float32)),
                    g.const(layer, "max", np.array(6, np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


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


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> None:
    s = ctx.layer.impl.test_scale()  # py-faster-rcnn's scale_train: false
    if s is None:
        _unary(ctx, "Identity")
        return
    g, layer = _g(ctx), ctx.layer
    g.node("Mul", [g.value(layer.bottoms[0]), g.const(layer, "scale", np.array(s, np.float32))],
           [g.write(layer.tops[0])], name=layer.name)
