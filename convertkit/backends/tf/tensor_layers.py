"""Keras 3 layers for BVLC's Swish, Clip, Tile, Reduction and Embed (registered for
``.keras`` files like those of :mod:`convertkit.backends.tf.layers`, whose layout rules
they follow: a 4-axis blob is NHWC inside the model, any other rank Caffe's order)."""
from __future__ import annotations

import keras
import tensorflow as tf

from .layers import _base, dims, register, to_caffe, to_internal


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


@register
class CaffeTile(keras.layers.Layer):
    """The blocks from Caffe's ``axis`` on repeated ``tiles`` times, in Caffe's order."""

    def __init__(self, axis, tiles, **kwargs):
        super().__init__(**_base(kwargs))
        self.axis, self.tiles = int(axis), int(tiles)

    def call(self, x):
        xc = to_caffe(x)
        reps = [1] * xc.shape.rank
        reps[self.axis] = self.tiles
        return to_internal(tf.tile(xc, reps))

    def get_config(self):
        return dict(super().get_config(), axis=self.axis, tiles=self.tiles)


@register
class CaffeReduction(keras.layers.Layer):
    """SUM, ASUM, SUMSQ or MEAN over Caffe's axes from ``axis`` on, times ``coeff``
    (divided by the count for MEAN); the top has Caffe's leading axes."""

    def __init__(self, operation, axis, coeff, **kwargs):
        super().__init__(**_base(kwargs))
        self.operation, self.axis, self.coeff = str(operation), int(axis), float(coeff)

    def call(self, x):
        xc = to_caffe(x)
        lead = dims(xc)[:self.axis]
        rows = tf.reshape(xc, lead + [-1]) if self.axis else tf.reshape(xc, [-1])
        if self.operation == "ASUM":
            rows = tf.abs(rows)
        elif self.operation == "SUMSQ":
            rows = rows * rows
        total = tf.reduce_sum(rows, axis=-1)
        if self.operation == "MEAN":
            count = tf.cast(tf.shape(rows)[-1], total.dtype)
            return total * (tf.constant(self.coeff, total.dtype) / count)
        return total * self.coeff if self.coeff != 1 else total

    def get_config(self):
        return dict(super().get_config(), operation=self.operation, axis=self.axis,
                    coeff=self.coeff)


@register
class CaffeEmbed(keras.layers.Layer):
    """Rows of ``table`` (input_dim x num_output) at the bottom's values (truncated to
    integers, as Caffe's cast), plus ``bias``; the top is the bottom's shape in Caffe's
    order plus num_output."""

    def __init__(self, rows, width, use_bias=True, **kwargs):
        super().__init__(**_base(kwargs))
        self.rows, self.width, self.use_bias = int(rows), int(width), bool(use_bias)

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(self.rows, self.width),
                                     initializer="zeros")
        self.bias = (self.add_weight(name="bias", shape=(self.width,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        y = tf.gather(self.table, tf.cast(to_caffe(x), tf.int32))
        if self.bias is not None:
            y = y + self.bias
        return to_internal(y)

    def get_config(self):
        return dict(super().get_config(), rows=self.rows, width=self.width,
                    use_bias=self.use_bias)
