"""TensorFlow's expression of Caffe's learned linear layers: Convolution, Deconvolution
and InnerProduct, with their Keras layers."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..base import Context
from .core import (BACKEND, Op, _base, _name, _pair, _rank, _single, caffe_shape, dims, register,
                   to_caffe, to_internal)


@register
class CaffeConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with Caffe's explicit symmetric zero padding.

    The kernel is HWIO (``kernel_size + (in/groups, filters)``), the bias ``(filters,)``:
    a stock Conv2D in everything but the padding (``pad``: rows, columns added on both
    sides, then VALID), which TF's ``SAME`` cannot give (it pads asymmetrically on even
    inputs). Caffe allows stride and dilation together; Keras's constructor does not,
    so they are then kept here and passed to ``tf.nn.conv2d`` directly.
    """

    def __init__(self, filters, kernel_size, pad=(0, 0), strides=(1, 1), dilation_rate=(1, 1),
                 **kwargs):
        kwargs.pop("padding", None)
        kwargs.pop("data_format", None)
        strides, dilation = _pair(strides), _pair(dilation_rate)
        both = max(strides) > 1 and max(dilation) > 1
        super().__init__(filters, kernel_size, strides=(1, 1) if both else strides,
                         dilation_rate=dilation, padding="valid", data_format="channels_last",
                         **_base(kwargs))
        self.strides = strides
        self.pad = _pair(pad)

    def convolution_op(self, inputs, kernel):
        (ph, pw), (sh, sw), (dh, dw) = self.pad, self.strides, self.dilation_rate
        padding = [[0, 0], [ph, ph], [pw, pw], [0, 0]] if ph or pw else "VALID"
        return tf.nn.conv2d(inputs, kernel, strides=[1, sh, sw, 1], padding=padding,
                            dilations=[1, dh, dw, 1])

    def call(self, inputs):
        y = self.convolution_op(inputs, self.kernel)
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return y

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = []
        for size, k, s, p, d in zip((h, w), self.kernel_size, self.strides, self.pad,
                                    self.dilation_rate):
            out.append(None if size is None else (size + 2 * p - (d * (k - 1) + 1)) // s + 1)
        return (n, out[0], out[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config["pad"] = list(self.pad)
        return config


@BACKEND.register("Convolution")
def convolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    conv = CaffeConv2D(p.num_output, p.kernel, pad=p.pad, strides=p.stride,
                       dilation_rate=p.dilation, groups=p.group, use_bias=p.bias_term,
                       name=_name(ctx))
    variables = {"weight": ("kernel", "hwio")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(conv, variables)


def _dilate(kernel: tf.Tensor, axis: int, d: int) -> tf.Tensor:
    """Spread the taps of ``kernel`` along ``axis`` ``d`` apart (zeros between)."""
    if d == 1:
        return kernel
    k = kernel.shape[axis]
    parts = []
    for i in range(k):
        tap = tf.gather(kernel, [i], axis=axis)
        parts.append(tap)
        if i < k - 1:
            zshape = list(kernel.shape)
            zshape[axis] = d - 1
            parts.append(tf.zeros(zshape, kernel.dtype))
    return tf.concat(parts, axis=axis)


@register
class CaffeDeconv2D(keras.layers.Layer):
    """Caffe's Deconvolution: the full transposed convolution, then Caffe's ``pad``
    cropped from every side. Grouped and dilated.

    ``kernel`` is ``(kh, kw, filters, in)`` (TF ``conv2d_transpose``'s layout) for one
    group, and Caffe's own ``(in, filters/groups, kh, kw)`` for several (TF has no
    grouped transposed convolution; the groups run one by one).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), pad=(0, 0), dilation_rate=(1, 1),
                 groups=1, use_bias=True, **kwargs):
        super().__init__(**_base(kwargs))
        self.filters, self.kernel_size = int(filters), _pair(kernel_size)
        self.strides, self.pad = _pair(strides), _pair(pad)
        self.dilation_rate = _pair(dilation_rate)
        self.groups, self.use_bias = int(groups), bool(use_bias)

    def build(self, input_shape):
        c = int(input_shape[-1])
        kh, kw = self.kernel_size
        shape = ((kh, kw, self.filters, c) if self.groups == 1
                 else (c, self.filters // self.groups, kh, kw))
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="glorot_uniform")
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def _full(self, size: int, axis: int) -> int:
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        return s * (size - 1) + d * (k - 1) + 1

    def call(self, x):
        g = self.groups
        if g == 1:
            kernels, xs = [self.kernel], [x]
        else:
            k = tf.transpose(self.kernel, (2, 3, 1, 0))  # kh, kw, filters/g, in
            kernels, xs = tf.split(k, g, axis=3), tf.split(x, g, axis=3)
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:  # a free size: from the input's, at run time
            h, w = tf.shape(x)[1], tf.shape(x)[2]
        full_h, full_w = self._full(h, 0), self._full(w, 1)
        og = self.filters // g
        out_shape = tf.stack([tf.shape(x)[0], full_h, full_w, og])
        outs = []
        for xi, ki in zip(xs, kernels):
            ki = _dilate(_dilate(ki, 0, self.dilation_rate[0]), 1, self.dilation_rate[1])
            outs.append(tf.nn.conv2d_transpose(xi, ki, out_shape, strides=[1, *self.strides, 1],
                                               padding="VALID"))
        y = outs[0] if g == 1 else tf.concat(outs, axis=3)
        ph, pw = self.pad
        y = y[:, ph:full_h - ph, pw:full_w - pw, :]
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size),
                      strides=list(self.strides), pad=list(self.pad),
                      dilation_rate=list(self.dilation_rate), groups=self.groups,
                      use_bias=self.use_bias)
        return config


@BACKEND.register("Deconvolution")
def deconvolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    deconv = CaffeDeconv2D(p.num_output, p.kernel, strides=p.stride, pad=p.pad,
                           dilation_rate=p.dilation, groups=p.group, use_bias=p.bias_term,
                           name=_name(ctx))
    variables = {"weight": ("kernel", "hwoi" if p.group == 1 else "caffe")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(deconv, variables)


@register
class CaffeInnerProduct(keras.layers.Layer):
    """Caffe's InnerProduct: the bottom flattened from ``axis`` on **in Caffe's axis
    order** (a 4-axis NHWC bottom goes back to NCHW first), times ``kernel`` (in x out,
    rows in Caffe's C, H, W order), plus ``bias``."""

    def __init__(self, units, axis=1, use_bias=True, features=None, **kwargs):
        super().__init__(**_base(kwargs))
        self.units, self.axis, self.use_bias = int(units), int(axis), bool(use_bias)
        #: K, the features Caffe's weight takes (count(axis)): given where the model
        #: leaves a size of the bottom free, whose static shape then does not say it.
        self.features = None if features is None else int(features)

    def build(self, input_shape):
        if self.features is not None:
            k = self.features
        else:
            k = int(np.prod([int(d) for d in caffe_shape(input_shape)[self.axis:]]))
        self.kernel = self.add_weight(name="kernel", shape=(k, self.units),
                                      initializer="glorot_uniform")
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        xc = to_caffe(x)
        lead = dims(xc)[:self.axis]
        y = tf.matmul(tf.reshape(xc, [-1, self.kernel.shape[0]]), self.kernel)
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        if self.axis != 1:
            y = tf.reshape(y, lead + [self.units])
        return to_internal(y)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, axis=self.axis, use_bias=self.use_bias,
                      features=self.features)
        return config


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> Op:
    p = ctx.layer.hparams
    axis = p.axis % _rank(ctx)
    k = int(np.prod(ctx.bottom_shapes[0][axis:], dtype=np.int64))
    ip = CaffeInnerProduct(p.num_output, axis=axis, use_bias=p.bias_term, features=k,
                           name=_name(ctx))
    variables = {"weight": ("kernel", "io")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(ip, variables)
