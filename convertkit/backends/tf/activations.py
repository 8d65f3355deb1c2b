"""TensorFlow's expression of Caffe's neuron layers: ReLU, PReLU, ELU, Sigmoid, TanH,
AbsVal, BNLL, Threshold, Power, Exp, Log, ReLU6, Swish, Clip and Dropout, with their
Keras layers."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..base import Context
from .core import BACKEND, F32, Op, _base, _name, _rank, _single, internal_axis, register


@register
class CaffePointwise(keras.layers.Layer):
    """One element-wise Caffe type without a stock Keras layer of the same math:
    ``kind`` is elu, sigmoid, tanh, absval, bnll, threshold, power, exp, log or relu, with
    that type's hyper-parameters in ``params`` (float32 constants as Caffe uses them)."""

    KINDS = ("elu", "sigmoid", "tanh", "absval", "bnll", "threshold", "power", "exp", "log",
             "relu")

    def __init__(self, kind, params=None, **kwargs):
        super().__init__(**_base(kwargs))
        if kind not in self.KINDS:
            raise ValueError(f"unknown element-wise kind {kind!r}")
        self.kind, self.params = kind, {k: float(v) for k, v in (params or {}).items()}

    def call(self, x):
        p, kind = self.params, self.kind
        if kind == "elu":
            return tf.maximum(x, 0.0) + p["alpha"] * (tf.exp(tf.minimum(x, 0.0)) - 1.0)
        if kind == "relu":  # any negative_slope, negative ones too (Keras' ReLU refuses them)
            return tf.maximum(x, 0.0) + p["negative_slope"] * tf.minimum(x, 0.0)
        if kind == "sigmoid":
            return tf.sigmoid(x)
        if kind == "tanh":
            return tf.tanh(x)
        if kind == "absval":
            return tf.abs(x)
        if kind == "bnll":
            return tf.nn.softplus(x)
        if kind == "threshold":
            return tf.cast(x > p["threshold"], x.dtype)
        if kind == "power":
            if "constant" in p:
                return tf.fill(tf.shape(x), tf.constant(p["constant"], x.dtype))
            y = x * p["scale"] if p["scale"] != 1 else x
            y = y + p["shift"] if p["shift"] != 0 else y
            return tf.pow(y, p["power"]) if p["power"] != 1 else tf.identity(y)
        if kind == "exp":
            y = tf.exp(x * p["inner"]) if p["inner"] != 1 else tf.exp(x)
            return y * p["outer"] if p["outer"] != 1 else y
        # log
        y = x * p["scale"] if p["scale"] != 1 else x
        y = y + p["shift"] if p["shift"] != 0 else y
        y = tf.math.log(y)
        return y * p["base_scale"] if p["base_scale"] != 1 else y

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, params=dict(self.params))
        return config


def _pointwise(ctx: Context, kind: str, **params) -> Op:
    return _single(CaffePointwise(kind, params, name=_name(ctx)))


@BACKEND.register("ReLU")
def relu(ctx: Context) -> Op:
    slope = float(np.float32(ctx.layer.hparams.negative_slope))
    if slope < 0:  # Caffe allows it; Keras' ReLU does not
        return _pointwise(ctx, "relu", negative_slope=slope)
    return _single(keras.layers.ReLU(negative_slope=slope, name=_name(ctx), dtype="float32"))


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> Op:
    """Keras PReLU; its alpha is one value per channel (or one), shared over the other
    axes (the flat Caffe slope is reshaped to alpha's shape when loaded)."""
    rank = _rank(ctx)
    channel = internal_axis(1, rank)
    shared = [a for a in range(1, rank)
              if ctx.layer.hparams.channel_shared or a != channel]
    layer = keras.layers.PReLU(shared_axes=shared or None, name=_name(ctx), dtype="float32")
    return _single(layer, {"slope": ("alpha", "flat")})


BACKEND.register("Sigmoid")(lambda ctx: _pointwise(ctx, "sigmoid"))
BACKEND.register("TanH")(lambda ctx: _pointwise(ctx, "tanh"))
BACKEND.register("AbsVal")(lambda ctx: _pointwise(ctx, "absval"))
BACKEND.register("BNLL")(lambda ctx: _pointwise(ctx, "bnll"))  # stable log(1 + e^x)


@BACKEND.register("ELU")
def elu(ctx: Context) -> Op:
    return _pointwise(ctx, "elu", alpha=float(np.float32(ctx.layer.hparams.alpha)))


@BACKEND.register("Threshold")
def threshold(ctx: Context) -> Op:
    return _pointwise(ctx, "threshold", threshold=float(np.float32(ctx.layer.hparams.threshold)))


@BACKEND.register("Power")
def power(ctx: Context) -> Op:
    p = ctx.layer.hparams
    pw, sc, sh = F32(p.power), F32(p.scale), F32(p.shift)
    if pw * sc == 0:  # Caffe: a constant, 1 if power == 0 else shift ** power
        value = F32(1) if pw == 0 else np.power(sh, pw)
        return _pointwise(ctx, "power", constant=float(value))
    return _pointwise(ctx, "power", power=float(pw), scale=float(sc), shift=float(sh))


@BACKEND.register("Exp")
def exp(ctx: Context) -> Op:
    inner, outer = ctx.layer.impl.scales()
    return _pointwise(ctx, "exp", inner=float(inner), outer=float(outer))


@BACKEND.register("Log")
def log(ctx: Context) -> Op:
    p = ctx.layer.hparams
    base_scale = F32(1) if p.base == -1 else F32(1) / np.log(F32(p.base))
    return _pointwise(ctx, "log", scale=float(F32(p.scale)), shift=float(F32(p.shift)),
                      base_scale=float(base_scale))


@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> Op:
    return _single(keras.layers.ReLU(max_value=6.0, name=_name(ctx), dtype="float32"))


@register
class CaffeSwish(keras.layers.Layer):
    """x * sigmoid(beta * x)."""

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**_base(kwargs))
        self.beta = float(beta)

    def call(self, x):
        return x * tf.sigmoid(x * self.beta)

    def get_config(self):
        return dict(super().get_config(), beta=self.beta)


@BACKEND.register("Swish")
def swish(ctx: Context) -> Op:
    return _single(CaffeSwish(ctx.layer.hparams.beta, name=_name(ctx)))


@register
class CaffeClip(keras.layers.Layer):
    """max(low, min(x, high)), as Caffe (low wins where low > high)."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**_base(kwargs))
        self.low, self.high = float(low), float(high)

    def call(self, x):
        return tf.maximum(tf.minimum(x, self.high), self.low)

    def get_config(self):
        return dict(super().get_config(), low=self.low, high=self.high)


@BACKEND.register("Clip")
def clip(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(CaffeClip(p.min, p.max, name=_name(ctx)))


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> Op:
    """Keras Dropout: the identity at inference (Caffe's TEST), Caffe's inverted
    dropout when training. py-faster-rcnn's ``scale_train: false``: its TEST factor."""
    s = ctx.layer.impl.test_scale()
    if s is not None:
        return _pointwise(ctx, "power", power=1.0, scale=float(s), shift=0.0)
    rate = ctx.layer.hparams.dropout_ratio
    return _single(keras.layers.Dropout(rate, name=_name(ctx), dtype="float32"))
