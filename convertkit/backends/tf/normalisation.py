"""TensorFlow's expression of Caffe's normalising and affine layers: BN, BatchNorm,
Scale, Bias, MVN, LRN and Normalize, with their Keras layers."""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from ..base import Context, FixedSize, varies
from .core import (BACKEND, Op, _TO_NHWC, _base, _multi, _name, _rank, _single, dims, internal_axis,
                   register, to_caffe, to_internal)


@register
class CaffeBatchStatsNorm(keras.layers.BatchNormalization):
    """Normalisation by the statistics of the batch itself, always (never the stored
    ones, which it leaves alone), over every axis but ``axis``, accumulated in float64
    as the reference does. ``moments="central"``: BVLC BatchNorm with
    ``use_global_stats: false``, ``var = E[(x - mean)^2]``, no affine part (a Scale
    follows). ``moments="raw"``: SegNet's BN in LEARN mode, ``var = E[x^2] - E[x]^2``,
    then ``gamma`` and ``beta``."""

    def __init__(self, axis=-1, epsilon=1e-5, moments="central", **kwargs):
        kwargs.setdefault("center", False)
        kwargs.setdefault("scale", False)
        super().__init__(axis=axis, epsilon=epsilon, **_base(kwargs))
        self.moments = str(moments)

    def call(self, inputs, training=None, mask=None):
        rank = inputs.shape.rank
        axis = self.axis % rank
        axes = [i for i in range(rank) if i != axis]
        wide = tf.cast(inputs, tf.float64)
        mean = tf.cast(tf.reduce_mean(wide, axes, keepdims=True), inputs.dtype)
        if self.moments == "raw":
            sq = tf.cast(tf.reduce_mean(wide * wide, axes, keepdims=True), inputs.dtype)
            var = sq - mean * mean
        else:
            centred = tf.cast(inputs - mean, tf.float64)
            var = tf.cast(tf.reduce_mean(centred * centred, axes, keepdims=True), inputs.dtype)
        y = (inputs - mean) / tf.sqrt(var + self.epsilon)
        view = [1] * rank
        view[axis] = -1
        if self.scale:
            y = y * tf.reshape(self.gamma, view)
        if self.center:
            y = y + tf.reshape(self.beta, view)
        return y

    def get_config(self):
        config = super().get_config()
        config["moments"] = self.moments
        return config


@BACKEND.register("BN")
def bn(ctx: Context) -> Op:
    """PSPNet's BN kept as Keras BatchNormalization, eps from the prototxt. A
    ``frozen`` BN (every official one) is not trainable, as in Caffe: its four params
    get learning rate 0 and it uses the stored statistics even when training.
    SegNet's BN: in INFERENCE mode a per-channel scale and shift; in LEARN mode the
    statistics of the batch (``E[x^2] - E[x]^2``, eps 1e-9), then scale and shift."""
    p = ctx.layer.hparams
    rank = _rank(ctx)
    if p.dialect == "segnet":
        channels = int(ctx.bottom_shapes[0][1])
        variables = {"gamma": ("gamma", "flat"), "beta": ("beta", "flat")}
        if p.mode == "INFERENCE":
            layer = CaffeScale(1, (channels,), rank, learned=True, bias_term=True,
                               name=_name(ctx))
        else:
            layer = CaffeBatchStatsNorm(axis=internal_axis(1, rank), epsilon=p.eps,
                                        moments="raw", center=True, scale=True,
                                        name=_name(ctx))
        return _single(layer, variables)
    norm = keras.layers.BatchNormalization(axis=internal_axis(1, rank), epsilon=p.eps,
                                           momentum=p.momentum, name=_name(ctx),
                                           trainable=not p.frozen, dtype="float32")
    return _single(norm, {"gamma": ("gamma", "flat"), "beta": ("beta", "flat"),
                          "mean": ("moving_mean", "flat"), "variance": ("moving_variance", "flat")})


@BACKEND.register("BatchNorm")
def batchnorm(ctx: Context) -> Op:
    """BVLC BatchNorm: Keras BatchNormalization without affine part (the Scale after
    it has one), its moving statistics divided by Caffe's scale factor (0 means 0) when
    loaded; with ``use_global_stats: false`` the batch's own statistics, as Caffe."""
    p = ctx.layer.hparams
    rank = _rank(ctx)
    if rank < 2:
        raise ctx.refuse("a 1-axis BatchNorm bottom (its channels are the batch) has no "
                         "Keras BatchNormalization form", BACKEND.name)
    axis = internal_axis(1, rank)
    cls = keras.layers.BatchNormalization if p.use_global_stats else CaffeBatchStatsNorm
    norm = cls(axis=axis, epsilon=p.eps, center=False, scale=False,
               momentum=p.moving_average_fraction, name=_name(ctx), dtype="float32")
    return _single(norm, {"mean": ("moving_mean", "unscale_flat"),
                          "variance": ("moving_variance", "unscale_flat")})


def _operand_view(t: tf.Tensor, start: int, shape: Sequence[int], rank: int) -> tf.Tensor:
    """A Caffe-ordered operand (shape ``shape`` at axis ``start`` of a ``rank``-axis
    blob) reshaped and permuted to broadcast against that blob inside the model."""
    if shape is None:  # a second bottom: its own sizes at run time (any batch, any size)
        view = tf.concat([tf.ones([start], tf.int32), tf.shape(t),
                          tf.ones([rank - start - t.shape.rank], tf.int32)], 0)
    else:
        view = (1,) * start + tuple(shape) + (1,) * (rank - start - len(shape))
    t = tf.reshape(t, view)
    return tf.transpose(t, _TO_NHWC) if rank == 4 else t


@register
class CaffeScale(keras.layers.Layer):
    """Caffe's Scale: ``x * gamma`` (a learned operand) or ``x * y`` (a second bottom),
    broadcast over the axes around ``start`` (Caffe's axis / num_axes); with
    ``bias_term``, ``+ beta`` after. ``gamma``/``beta`` keep Caffe's operand shape."""

    def __init__(self, start, operand_shape, rank, learned=True, bias_term=False, **kwargs):
        super().__init__(**_base(kwargs))
        self.start, self.operand_shape = int(start), tuple(int(d) for d in operand_shape)
        self.rank, self.learned, self.bias_term = int(rank), bool(learned), bool(bias_term)

    def build(self, input_shape):
        if self.learned:
            self.gamma = self.add_weight(name="gamma", shape=self.operand_shape, initializer="ones")
        if self.bias_term:
            self.beta = self.add_weight(name="beta", shape=self.operand_shape, initializer="zeros")

    def call(self, inputs):
        if self.learned:
            x, s = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs), self.gamma
        else:
            x, s = inputs[0], to_caffe(inputs[1])
        y = x * _operand_view(s, self.start, self.operand_shape if self.learned else None,
                              self.rank)
        if self.bias_term:
            y = y + _operand_view(self.beta, self.start, self.operand_shape, self.rank)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(start=self.start, operand_shape=list(self.operand_shape), rank=self.rank,
                      learned=self.learned, bias_term=self.bias_term)
        return config


def _operand_start(ctx: Context, axis: int, operand_ndim: int) -> int:
    return 0 if operand_ndim == 0 else axis % _rank(ctx)


@BACKEND.register("Scale")
def scale(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shapes = ctx.layer.impl.param_shapes(ctx.bottom_shapes)
    two = len(ctx.bottom_shapes) > 1
    operand = tuple(ctx.bottom_shapes[1]) if two else tuple(shapes[0])
    layer = CaffeScale(_operand_start(ctx, p.axis, len(operand)), operand, _rank(ctx),
                       learned=not two, bias_term=p.bias_term, name=_name(ctx))
    variables = {} if two else {"gamma": ("gamma", "caffe")}
    if p.bias_term:
        variables["beta"] = ("beta", "caffe")
    return (_multi if two else _single)(layer, variables)


@register
class CaffeBias(keras.layers.Layer):
    """Caffe's Bias: ``x + bias`` (learned) or ``x + y`` (a second bottom), broadcast
    as Scale does."""

    def __init__(self, start, operand_shape, rank, learned=True, **kwargs):
        super().__init__(**_base(kwargs))
        self.start, self.operand_shape = int(start), tuple(int(d) for d in operand_shape)
        self.rank, self.learned = int(rank), bool(learned)

    def build(self, input_shape):
        if self.learned:
            self.bias = self.add_weight(name="bias", shape=self.operand_shape, initializer="zeros")

    def call(self, inputs):
        if self.learned:
            x, b = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs), self.bias
        else:
            x, b = inputs[0], to_caffe(inputs[1])
        return x + _operand_view(b, self.start, self.operand_shape if self.learned else None,
                                 self.rank)

    def get_config(self):
        config = super().get_config()
        config.update(start=self.start, operand_shape=list(self.operand_shape), rank=self.rank,
                      learned=self.learned)
        return config


@BACKEND.register("Bias")
def bias(ctx: Context) -> Op:
    p = ctx.layer.hparams
    two = len(ctx.bottom_shapes) > 1
    operand = (tuple(ctx.bottom_shapes[1]) if two
               else tuple(ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0]))
    layer = CaffeBias(_operand_start(ctx, p.axis, len(operand)), operand, _rank(ctx),
                      learned=not two, name=_name(ctx))
    if two:
        return _multi(layer)
    return _single(layer, {"bias": ("bias", "caffe")})


@register
class CaffeMVN(keras.layers.Layer):
    """Caffe's MVN: per image and channel (or per image), ``x - mean``, divided by
    ``std + eps`` with ``normalize_variance`` (eps on the std, not the variance)."""

    def __init__(self, normalize_variance=True, across_channels=False, eps=1e-9, **kwargs):
        super().__init__(**_base(kwargs))
        self.normalize_variance = bool(normalize_variance)
        self.across_channels = bool(across_channels)
        self.eps = float(eps)

    def call(self, x):
        xc = to_caffe(x)
        shape = dims(xc)
        rows = shape[0] if self.across_channels or len(shape) < 2 else shape[0] * shape[1]
        v = tf.reshape(xc, tf.stack([rows, -1]))
        v = v - tf.reduce_mean(v, axis=1, keepdims=True)
        if self.normalize_variance:
            v = v / (tf.sqrt(tf.reduce_mean(tf.square(v), axis=1, keepdims=True)) + self.eps)
        # MVNLayer::Reshape uses the legacy accessors: the top has 4 axes.
        return to_internal(tf.reshape(v, shape + [1] * (4 - len(shape))))

    def get_config(self):
        config = super().get_config()
        config.update(normalize_variance=self.normalize_variance,
                      across_channels=self.across_channels, eps=self.eps)
        return config


@BACKEND.register("MVN")
def mvn(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(CaffeMVN(p.normalize_variance, p.across_channels, p.eps, name=_name(ctx)))


@register
class CaffeLRN(keras.layers.Layer):
    """Caffe's LRN on an NHWC blob. ACROSS_CHANNELS: ``x * (k + alpha/size * sum of
    x^2 over the channel window)^-beta`` (TF's own LRN op, whose window is the same).
    WITHIN_CHANNEL: ``x * (1 + alpha * avg of x^2 over a size x size window, zero
    padded)^-beta`` (Caffe's divisor there is always size^2)."""

    def __init__(self, local_size, alpha, beta, k, region, reach=None, **kwargs):
        super().__init__(**_base(kwargs))
        self.local_size, self.alpha, self.beta = int(local_size), float(alpha), float(beta)
        self.k, self.region = float(k), str(region)
        # How far the window reaches (the local size's, or cut to the blob: a window
        # wider than the blob sees only zeros).
        self.reach = (self.local_size - 1) // 2 if reach is None else int(reach)

    def call(self, x):
        size, pre = self.local_size, self.reach
        kernel = 2 * pre + 1
        if self.region == "ACROSS_CHANNELS":
            return tf.nn.local_response_normalization(
                x, depth_radius=pre, bias=self.k, alpha=self.alpha / size, beta=self.beta)
        sq = tf.pad(x * x, [[0, 0], [pre, pre], [pre, pre], [0, 0]])
        avg = tf.nn.avg_pool2d(sq, kernel, 1, "VALID")  # Caffe divides by size^2
        return tf.pow(avg * (self.alpha * kernel * kernel / (size * size)) + 1.0, -self.beta) * x

    def get_config(self):
        config = super().get_config()
        config.update(local_size=self.local_size, alpha=self.alpha, beta=self.beta, k=self.k,
                      region=self.region, reach=self.reach)
        return config


@BACKEND.register("LRN")
def lrn(ctx: Context) -> Op:
    p = ctx.layer.hparams
    reach = ctx.layer.impl.reach(ctx.bottom_shapes[0])  # the window cut to the blob
    if (p.norm_region != "ACROSS_CHANNELS" and 2 * reach + 1 != p.local_size
            and varies(ctx, ctx.layer.bottoms[0])):
        raise FixedSize(ctx.layer, "its window is cut to the blob's planned size")
    return _single(CaffeLRN(p.local_size, p.alpha, p.beta, p.k, p.norm_region, reach=reach,
                            name=_name(ctx)))


@register
class CaffeNormalize(keras.layers.Layer):
    """SSD's Normalize: ``x / sqrt(sum x^2 + eps) * gamma``, the sum over C, H, W
    (``across_spatial``) or over C per pixel; ``gamma`` (Caffe's shape: 1 or C)."""

    def __init__(self, channels, across_spatial=True, eps=1e-10, **kwargs):
        super().__init__(**_base(kwargs))
        self.channels, self.across_spatial = int(channels), bool(across_spatial)
        self.eps = float(eps)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(self.channels,), initializer="ones")

    def call(self, x):
        rank = x.shape.rank
        axes = list(range(1, rank)) if self.across_spatial else [internal_axis(1, rank)]
        sq = tf.cast(tf.square(x), tf.float64)
        norm = tf.sqrt(tf.cast(tf.reduce_sum(sq, axes, keepdims=True), x.dtype) + self.eps)
        return (x / norm) * _operand_view(self.gamma, 1, (self.channels,), rank)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, across_spatial=self.across_spatial, eps=self.eps)
        return config


@BACKEND.register("Normalize")
def normalize(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = 1 if p.channel_shared else int(ctx.bottom_shapes[0][1])
    layer = CaffeNormalize(channels, p.across_spatial, p.eps, name=_name(ctx))
    return _single(layer, {"gamma": ("gamma", "caffe")})
