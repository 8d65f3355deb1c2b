"""Keras 3 layers for the Caffe semantics that no stock Keras layer has exactly.

Every class is registered with ``keras.saving.register_keras_serializable(package=
"convertkit")``, so a ``.keras`` file of a converted net loads with
``keras.models.load_model(path)`` once ``import convertkit.backends.tf`` has run.
They use TensorFlow ops (this backend is TensorFlow only).

Layout: a 4-axis blob is NHWC inside the model (Caffe's N x C x H x W with the
channels moved last); a blob of any other rank keeps Caffe's axis order. The helpers
:func:`to_caffe`, :func:`to_internal` and :func:`internal_axis` convert between the two.
Everything a layer needs to know about sizes is read from the static H and W of its
input when the model is built for one input size; where H or W is None (an export
with free sizes) it is computed from ``tf.shape`` by Caffe's integer rules. The batch
may be any size.
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

PACKAGE = "convertkit"
register = keras.saving.register_keras_serializable(package=PACKAGE)

#: Caffe axis -> NHWC axis for a 4-axis blob.
_NHWC_AXIS = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_TO_NCHW = (0, 3, 1, 2)
FLT_MAX = float(np.finfo(np.float32).max)
FLT_MIN = float(np.finfo(np.float32).tiny)


def internal_axis(axis: int, rank: int) -> int:
    """Where Caffe's (canonical) ``axis`` of a ``rank``-axis blob sits inside the model."""
    return _NHWC_AXIS[axis] if rank == 4 else axis


def internal_shape(shape: Sequence) -> tuple:
    """A Caffe shape in the model's layout."""
    shape = tuple(shape)
    return tuple(shape[i] for i in _TO_NHWC) if len(shape) == 4 else shape


def caffe_shape(shape: Sequence) -> tuple:
    """A shape in the model's layout, in Caffe's axis order."""
    shape = tuple(shape)
    return tuple(shape[i] for i in _TO_NCHW) if len(shape) == 4 else shape


def to_caffe(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, _TO_NCHW) if x.shape.rank == 4 else x


def to_internal(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, _TO_NHWC) if x.shape.rank == 4 else x


def to_internal_array(a: np.ndarray) -> np.ndarray:
    """A Caffe-layout numpy array in the model's layout."""
    return np.ascontiguousarray(a.transpose(_TO_NHWC)) if a.ndim == 4 else a


def dims(x: tf.Tensor) -> list:
    """The shape of ``x``: Python ints where static, scalar tensors where not."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape)]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(d) for d in v)
    return v if len(v) == 2 else (v[0], v[0])


def _base(kwargs: dict) -> dict:
    """Keras Layer kwargs, float32 unless the caller says otherwise."""
    kwargs.setdefault("dtype", "float32")
    return kwargs


# -- convolution -------------------------------------------------------------------------

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


# -- normalisation ------------------------------------------------------------------------

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


# -- element-wise --------------------------------------------------------------------------

@register
class CaffeSoftmax(keras.layers.Layer):
    """Softmax over ``axis`` of a tensor of any rank (TensorFlow's Softmax kernel takes
    at most 5 axes; Caffe's takes any): ``exp(x - max) / sum``, as softmax_layer.cpp."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**_base(kwargs))
        self.axis = int(axis)

    def call(self, x):
        e = tf.exp(x - tf.reduce_max(x, axis=self.axis, keepdims=True))
        return e / tf.reduce_sum(e, axis=self.axis, keepdims=True)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


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


@register
class CaffeEltwise(keras.layers.Layer):
    """Caffe's Eltwise SUM with coefficients: ``sum(coeff[i] * x[i])`` in bottom order
    (plain SUM, PROD and MAX use Keras's Add, Multiply and Maximum)."""

    def __init__(self, coeffs, **kwargs):
        super().__init__(**_base(kwargs))
        self.coeffs = [float(c) for c in coeffs]

    def call(self, inputs):
        y = None
        for c, x in zip(self.coeffs, inputs):
            term = x * c if c != 1 else x
            y = term if y is None else y + term
        return y

    def get_config(self):
        config = super().get_config()
        config.update(coeffs=list(self.coeffs))
        return config


# -- spatial ----------------------------------------------------------------------------

@register
class CaffePool2D(keras.layers.Layer):
    """Caffe's pooling, exactly: Caffe's output size (ceil mode with its padding clip,
    or floor with ``ceil=False``); the input is padded to exactly the windows Caffe
    visits (its ``pad`` before, the overhang after; a negative overhang crops rows no
    window reads), then pooled VALID. MAX pads with -FLT_MAX (Caffe's initial value:
    padding never wins). AVE pads with zeros and divides by Caffe's window size
    clipped to ``[-pad, H + pad)`` (padding counts, the ceil overhang does not): the
    VALID average times ``kernel area / that size``. STOCHASTIC (no padding) is its
    TEST-phase weighted mean ``sum(x^2) / (FLT_MIN + sum(x))``. With ``with_mask``
    (MAX only, SegNet) a second output holds where each max was, ``h * W + w`` in the
    input plane (the first of equal maxima in window order, as Caffe's ``>``), -1 for
    an empty window. Sizes and divisors are those of convertkit.layers.pooling."""

    def __init__(self, method, kernel=None, strides=(1, 1), pad=(0, 0), ceil=True,
                 with_mask=False, **kwargs):
        super().__init__(**_base(kwargs))
        self.method = str(method)
        self.kernel = None if kernel is None else _pair(kernel)
        self.strides, self.pad = _pair(strides), _pair(pad)
        self.ceil, self.with_mask = bool(ceil), bool(with_mask)

    def geometry(self, h: int, w: int):
        """((kh, kw), (ho, wo), (after_h, after_w)) for an h x w input."""
        from ...layers.pooling import pooled_size, trailing_padding

        kernel = (h, w) if self.kernel is None else self.kernel
        padded = bool(self.pad[0] or self.pad[1])
        out = tuple(pooled_size(size, k, s, p, padded, self.ceil)
                    for size, k, s, p in zip((h, w), kernel, self.strides, self.pad))
        return kernel, out, trailing_padding((h, w), kernel, self.strides, self.pad, out)

    def divisor_scale(self, h: int, w: int) -> np.ndarray | None:
        """kernel area / Caffe's AVE divisor per output cell (None: all ones)."""
        from ...layers.pooling import ave_divisor

        (kh, kw), out, _ = self.geometry(h, w)
        div = ave_divisor((h, w), (kh, kw), self.strides, self.pad, out).astype(np.float64)
        scale = (kh * kw) / div
        if np.all(scale == 1):
            return None
        return scale.astype(np.float32).reshape(1, out[0], out[1], 1)

    def call(self, x):
        if x.shape[1] is None or x.shape[2] is None:
            return self._call_any_size(x)
        h, w = int(x.shape[1]), int(x.shape[2])
        kernel, out, (ah, aw) = self.geometry(h, w)
        ph, pw = self.pad
        if ah < 0 or aw < 0:
            x = x[:, :h + min(ah, 0), :w + min(aw, 0), :]
        pads = [[0, 0], [ph, max(ah, 0)], [pw, max(aw, 0)], [0, 0]]
        fill = -FLT_MAX if self.method == "MAX" else 0.0
        if any(a or b for a, b in pads):
            x = tf.pad(x, pads, constant_values=fill)
        if self.method == "MAX":
            y = tf.nn.max_pool2d(x, kernel, self.strides, "VALID")
            return [y, self._mask(x, kernel, out, h, w)] if self.with_mask else y
        area = float(kernel[0] * kernel[1])
        if self.method == "STOCHASTIC":
            sq = tf.nn.avg_pool2d(x * x, kernel, self.strides, "VALID") * area
            total = tf.nn.avg_pool2d(x, kernel, self.strides, "VALID") * area + FLT_MIN
            return sq / total
        y = tf.nn.avg_pool2d(x, kernel, self.strides, "VALID")
        scale = self.divisor_scale(h, w)
        return y if scale is None else y * tf.constant(scale)

    def _call_any_size(self, x):
        """The same windows for a size known only at run time: Caffe's output size by
        its integer rule (ceil with the clip to windows starting inside the padded
        input), the overhang padded or cropped, AVE divided by Caffe's divisor (the
        average of a map of ones over [-pad, H + pad), zeros past it)."""
        if self.kernel is None:  # global pooling
            if self.method == "MAX":
                return tf.reduce_max(x, axis=[1, 2], keepdims=True)
            if self.method == "AVE":
                return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            total = tf.reduce_sum(x, axis=[1, 2], keepdims=True) + FLT_MIN
            return tf.reduce_sum(x * x, axis=[1, 2], keepdims=True) / total
        kernel, (sh, sw), (ph, pw) = self.kernel, self.strides, self.pad
        padded = bool(ph or pw)
        shape = tf.shape(x)
        extra = []
        for size, k, s, p in ((shape[1], kernel[0], sh, ph), (shape[2], kernel[1], sw, pw)):
            if self.ceil:
                out = (size + 2 * p - k + s - 1) // s + 1
                if padded:
                    out = tf.minimum(out, (size + p + s - 1) // s)
            else:
                out = (size + 2 * p - k) // s + 1
            extra.append((out - 1) * s + k - (size + p))
        ah, aw = extra
        x = x[:, :shape[1] + tf.minimum(ah, 0), :shape[2] + tf.minimum(aw, 0), :]
        pads = [[0, 0], [ph, tf.maximum(ah, 0)], [pw, tf.maximum(aw, 0)], [0, 0]]
        fill = -FLT_MAX if self.method == "MAX" else 0.0
        xp = tf.pad(x, pads, constant_values=fill)
        if self.method == "MAX":
            y = tf.nn.max_pool2d(xp, kernel, self.strides, "VALID")
            if not self.with_mask:
                return y
            outs = [(size + a + p - k) // s + 1 for size, a, p, k, s in
                    ((shape[1], ah, ph, kernel[0], sh), (shape[2], aw, pw, kernel[1], sw))]
            return [y, self._mask(xp, kernel, outs, shape[1], shape[2])]
        area = float(kernel[0] * kernel[1])
        if self.method == "STOCHASTIC":
            sq = tf.nn.avg_pool2d(xp * xp, kernel, self.strides, "VALID") * area
            total = tf.nn.avg_pool2d(xp, kernel, self.strides, "VALID") * area + FLT_MIN
            return sq / total
        # Ones over [-pad, H + pad), zeros (or a crop) up to where the windows end.
        bh, bw = ah - ph, aw - pw
        ones = tf.ones(tf.stack([1, shape[1] + 2 * ph + tf.minimum(bh, 0),
                                 shape[2] + 2 * pw + tf.minimum(bw, 0), 1]))
        ones = tf.pad(ones, [[0, 0], [0, tf.maximum(bh, 0)], [0, tf.maximum(bw, 0)], [0, 0]])
        share = tf.nn.avg_pool2d(ones, kernel, self.strides, "VALID")
        return tf.nn.avg_pool2d(xp, kernel, self.strides, "VALID") / share

    def _mask(self, xp, kernel, out, h, w):
        """Caffe's mask top of a MAX pool over the padded ``xp``: one pass per tap,
        a tap replacing the best so far only where it is strictly greater."""
        (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, self.strides, self.pad, out
        best, where = tf.constant(-FLT_MAX), tf.constant(-1.0)
        static = all(isinstance(v, int) for v in (ho, wo, w))
        arange = np.arange if static else (lambda n: tf.range(n))
        for i in range(kh):
            rows = arange(ho) * sh - ph + i
            for j in range(kw):
                cols = arange(wo) * sw - pw + j
                tap = xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
                index = rows[:, None] * w + cols[None, :]
                index = (tf.constant(index.astype(np.float32).reshape(1, ho, wo, 1)) if static
                         else tf.cast(index, tf.float32)[None, :, :, None])
                better = tap > best  # padding (-FLT_MAX) never is
                best = tf.where(better, tap, best)
                where = tf.where(better, index, where)
        return where

    def get_config(self):
        config = super().get_config()
        config.update(method=self.method, kernel=None if self.kernel is None else list(self.kernel),
                      strides=list(self.strides), pad=list(self.pad), ceil=self.ceil,
                      with_mask=self.with_mask)
        return config


def interp_size(rule: str, size: int, height_or_width: int, zoom: int, shrink: int) -> int:
    """The fork's Interp output size along one axis (interp_layer.cpp Reshape)."""
    if rule == "size":
        return height_or_width
    if rule in ("shrink", "shrink_zoom"):
        size = (size - 1) // shrink + 1
    if rule in ("zoom", "shrink_zoom"):
        size = size + (size - 1) * (zoom - 1)
    return size


@register
class CaffeInterp(keras.layers.Layer):
    """The PSPNet fork's Interp: crop ``[-pad_beg, H + pad_end)`` (pad_* <= 0), then
    bilinear with align_corners=True to the explicit size Caffe computes from the
    cropped size (shrink/zoom/height-width rules): TF1's
    ``resize_bilinear(align_corners=True)`` (``tf.raw_ops.ResizeBilinear``; TF2's
    ``tf.image.resize`` has no align_corners), never a scale factor. Same size: a copy."""

    def __init__(self, rule, height=0, width=0, zoom_factor=1, shrink_factor=1, pad_beg=0,
                 pad_end=0, **kwargs):
        super().__init__(**_base(kwargs))
        self.rule, self.height, self.width = str(rule), int(height), int(width)
        self.zoom_factor, self.shrink_factor = int(zoom_factor), int(shrink_factor)
        self.pad_beg, self.pad_end = int(pad_beg), int(pad_end)

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        h_eff, w_eff = h + self.pad_beg + self.pad_end, w + self.pad_beg + self.pad_end
        return (interp_size(self.rule, h_eff, self.height, self.zoom_factor, self.shrink_factor),
                interp_size(self.rule, w_eff, self.width, self.zoom_factor, self.shrink_factor))

    def call(self, x):
        if x.shape[1] is None or x.shape[2] is None:  # a free size: Caffe's rule in graph
            beg, end = self.pad_beg, self.pad_end
            if beg or end:
                x = x[:, -beg:(end or None), -beg:(end or None), :]
            size = tf.shape(x)[1:3]
            if self.rule == "size":
                size = tf.constant([self.height, self.width], tf.int32)
            if self.rule in ("shrink", "shrink_zoom"):
                size = (size - 1) // self.shrink_factor + 1
            if self.rule in ("zoom", "shrink_zoom"):
                size = size + (size - 1) * (self.zoom_factor - 1)
            return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True,
                                             half_pixel_centers=False)
        h, w = int(x.shape[1]), int(x.shape[2])
        beg, end = self.pad_beg, self.pad_end
        if beg or end:
            x = x[:, -beg:h + end, -beg:w + end, :]
        ho, wo = self.output_hw(h, w)
        if (int(x.shape[1]), int(x.shape[2])) == (ho, wo):
            return tf.identity(x)
        # TF1's resize_bilinear(align_corners=True) (the raw op: no deprecation notice).
        return tf.raw_ops.ResizeBilinear(images=x, size=[ho, wo], align_corners=True,
                                         half_pixel_centers=False)

    def get_config(self):
        config = super().get_config()
        config.update(rule=self.rule, height=self.height, width=self.width,
                      zoom_factor=self.zoom_factor, shrink_factor=self.shrink_factor,
                      pad_beg=self.pad_beg, pad_end=self.pad_end)
        return config


# -- data movement ---------------------------------------------------------------------------

@register
class CaffeSlice(keras.layers.Layer):
    """Caffe's Slice: pieces of ``sizes`` along ``axis`` (already in the model's layout)."""

    def __init__(self, axis, sizes, **kwargs):
        super().__init__(**_base(kwargs))
        self.axis, self.sizes = int(axis), [int(s) for s in sizes]

    def call(self, x):
        return list(tf.split(x, self.sizes, axis=self.axis))

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, sizes=list(self.sizes))
        return config


@register
class CaffeCrop(keras.layers.Layer):
    """Caffe's Crop: bottom 0 cut to bottom 1's size from ``begin`` on each axis
    (``begin``/``size`` in the model's layout; a size of -1 keeps the axis)."""

    def __init__(self, begin, size, **kwargs):
        super().__init__(**_base(kwargs))
        self.begin, self.size = [int(b) for b in begin], [int(s) for s in size]

    def call(self, inputs):
        x, ref = inputs[0], inputs[1]
        now = tf.shape(ref)  # the reference's own size (a free size: at run time)
        index = tuple(slice(None) if s < 0 else
                      slice(b, b + (ref.shape[i] if ref.shape[i] is not None else now[i]))
                      for i, (b, s) in enumerate(zip(self.begin, self.size)))
        y = x[index]
        # A bound known only at run time (a free batch cropped, axis 0) leaves every
        # axis of the slice unknown; keep the sizes that are known (channels), which
        # the layers after it need to build.
        y.set_shape([x.shape[i] if s < 0 else ref.shape[i] for i, s in enumerate(self.size)])
        return y

    def get_config(self):
        config = super().get_config()
        config.update(begin=list(self.begin), size=list(self.size))
        return config


@register
class CaffeReshape(keras.layers.Layer):
    """Caffe's Reshape / Flatten, row-major in Caffe's axis order (an NHWC blob goes
    back to NCHW first, a 4-axis result to NHWC after). ``shape`` is the Caffe top
    shape; with ``batch_free`` its first axis follows the input's batch."""

    def __init__(self, shape, batch_free=True, **kwargs):
        super().__init__(**_base(kwargs))
        self.shape, self.batch_free = [int(d) for d in shape], bool(batch_free)

    def call(self, x):
        xc = to_caffe(x)
        target = ([tf.shape(xc)[0]] + self.shape[1:]) if self.batch_free else self.shape
        y = tf.reshape(xc, tf.stack(target) if self.batch_free else target)
        if self.batch_free:
            y.set_shape([None] + [None if d < 0 else d for d in self.shape[1:]])
        return to_internal(y)

    def get_config(self):
        config = super().get_config()
        config.update(shape=list(self.shape), batch_free=self.batch_free)
        return config


@register
class CaffeArgMax(keras.layers.Layer):
    """Caffe's ArgMax. With ``axis`` (Caffe's, canonical): the top_k indices (or
    values, with ``out_max_val``) along it. Without: per image over C*H*W in Caffe's
    order, giving (N, 1 or 2, top_k, 1...). Ties go to the larger index, as Caffe's
    partial_sort on (value, index) pairs does (top_k of the reversed axis)."""

    def __init__(self, top_k=1, out_max_val=False, axis=None, rank=4, **kwargs):
        super().__init__(**_base(kwargs))
        self.top_k, self.out_max_val = int(top_k), bool(out_max_val)
        self.axis = None if axis is None else int(axis)
        self.rank = int(rank)

    def _top(self, v):
        # the axis' size: at run time where it is free (ArgMax over a free batch, axis 0)
        dim = v.shape[-1] if v.shape[-1] is not None else tf.shape(v, out_type=tf.int32)[-1]
        values, pos = tf.math.top_k(tf.reverse(v, [-1]), k=self.top_k, sorted=True)
        return values, tf.cast(dim - 1 - pos, v.dtype)

    def call(self, x):
        if self.axis is not None:
            ax = internal_axis(self.axis, self.rank)
            perm = [i for i in range(self.rank) if i != ax] + [ax]
            inverse = list(np.argsort(perm))
            values, idx = self._top(tf.transpose(x, perm))
            return tf.transpose(values if self.out_max_val else idx, inverse)
        xc = to_caffe(x)
        n = tf.shape(xc)[0]
        per_image = (-1 if any(d is None for d in xc.shape[1:])
                     else int(np.prod([int(d) for d in xc.shape[1:]])))
        values, idx = self._top(tf.reshape(xc, tf.stack([n, per_image])))
        out = tf.stack([idx, values], axis=1) if self.out_max_val else idx[:, None, :]
        top = [2 if self.out_max_val else 1, self.top_k] + [1] * (max(self.rank, 3) - 3)
        y = tf.reshape(out, tf.stack([n] + top))
        y.set_shape([None] + top)
        return to_internal(y)

    def get_config(self):
        config = super().get_config()
        config.update(top_k=self.top_k, out_max_val=self.out_max_val, axis=self.axis,
                      rank=self.rank)
        return config


# -- other forks' layers ----------------------------------------------------------------------

@register
class CaffeAxpy(keras.layers.Layer):
    """SENet's Axpy: ``a * x + y``, ``a`` N x C x 1 x 1 (one gate per channel)."""

    def call(self, inputs):
        a, x, y = inputs
        rank = x.shape.rank
        gate = tf.reshape(to_caffe(a), tf.stack([tf.shape(a)[0], -1] + [1] * (rank - 2)))
        return to_internal(gate) * x + y if rank == 4 else gate * x + y


@register
class CaffeShuffleChannel(keras.layers.Layer):
    """ShuffleNet's channel shuffle: channels as ``group x C/group``, transposed."""

    def __init__(self, group, **kwargs):
        super().__init__(**_base(kwargs))
        self.group = int(group)

    def call(self, x):
        g = self.group
        if x.shape.rank == 4:  # NHWC: the channels are the last axis
            lead = dims(x)[:3]
            c = int(x.shape[3])
            y = tf.transpose(tf.reshape(x, tf.stack(lead + [g, c // g])), (0, 1, 2, 4, 3))
            return tf.reshape(y, tf.shape(x))
        shape = dims(x)
        c = int(x.shape[1])
        y = tf.transpose(tf.reshape(x, tf.stack([shape[0], g, c // g, -1])), (0, 2, 1, 3))
        return tf.reshape(y, tf.shape(x))

    def get_config(self):
        config = super().get_config()
        config["group"] = self.group
        return config


@register
class CaffePermute(keras.layers.Layer):
    """SSD's Permute: Caffe's axes in ``order`` (complete), in Caffe's layout."""

    def __init__(self, order, **kwargs):
        super().__init__(**_base(kwargs))
        self.order = [int(o) for o in order]

    def call(self, x):
        return to_internal(tf.transpose(to_caffe(x), self.order))

    def get_config(self):
        config = super().get_config()
        config["order"] = list(self.order)
        return config


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


@register
class CaffeUpsample(keras.layers.Layer):
    """``Upsample`` of the YOLOv3 forks: each pixel repeated ``scale_h x scale_w``."""

    def __init__(self, scale_h, scale_w, **kwargs):
        super().__init__(**_base(kwargs))
        self.scale_h, self.scale_w = int(scale_h), int(scale_w)

    def call(self, x):
        return tf.repeat(tf.repeat(x, self.scale_h, axis=1), self.scale_w, axis=2)

    def get_config(self):
        config = super().get_config()
        config.update(scale_h=self.scale_h, scale_w=self.scale_w)
        return config


@register
class CaffeUnpool(keras.layers.Layer):
    """SegNet's two-bottom ``Upsample``: a zero ``height x width`` top per plane with
    each value written where its mask (``h * W + w``, from a MAX pool) points; of two
    writes to one cell the later (in Caffe's row-major loop) wins, exactly."""

    def __init__(self, height, width, scale=(2, 2), pad_out=(0, 0), **kwargs):
        super().__init__(**_base(kwargs))
        self.height, self.width = int(height), int(width)
        self.scale, self.pad_out = _pair(scale), _pair(pad_out)

    def _size(self, x):
        """(height, width) of the top: its own, or (height 0) the bottom's times the
        scale less pad_out, at run time (a free input size)."""
        if self.height:
            return self.height, self.width
        shape = tf.shape(x)
        return (shape[2] * self.scale[0] - self.pad_out[0],
                shape[3] * self.scale[1] - self.pad_out[1])

    def call(self, inputs):
        x, mask = (to_caffe(t) for t in inputs)
        n, c = tf.shape(x)[0], int(x.shape[1])
        height, width = self._size(x)
        plane = height * width
        if not isinstance(plane, int):
            plane = tf.cast(plane, tf.int64)
        values = tf.reshape(x, [-1])
        where = tf.reshape(tf.cast(mask, tf.int64), tf.stack([n * c, -1]))
        base = tf.range(tf.cast(n * c, tf.int64), dtype=tf.int64)[:, None] * plane
        target = tf.reshape(where + base, [-1])
        source = tf.range(tf.size(target, out_type=tf.int64), dtype=tf.int64)
        # The last writer of each cell: the largest source position pointing at it.
        last = tf.math.unsorted_segment_max(source, target, tf.cast(n * c, tf.int64) * plane)
        top = tf.where(last >= 0, tf.gather(values, tf.maximum(last, 0)), 0.0)
        return to_internal(tf.reshape(top, tf.stack([n, c, height, width])))

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, scale=list(self.scale),
                      pad_out=list(self.pad_out))
        return config


@register
class CaffeConstant(keras.layers.Layer):
    """A top that depends only on the shapes (SSD's PriorBox): ``value`` (model
    layout), whatever the input's values; the input only ties it into the graph."""

    def __init__(self, value, **kwargs):
        super().__init__(**_base(kwargs))
        self.value = np.asarray(value, np.float32)

    def call(self, inputs):
        return tf.constant(self.value)

    def get_config(self):
        config = super().get_config()
        config["value"] = self.value.tolist()
        return config


def _caffe_round(v):
    """C's round() (halves away from zero) of a float64 tensor, as an int32."""
    return tf.cast(tf.sign(v) * tf.floor(tf.abs(v) + 0.5), tf.int32)


@register
class CaffeROIPooling(keras.layers.Layer):
    """Faster R-CNN's ROIPooling: per region ``(image, x1, y1, x2, y2)``, scaled by
    ``spatial_scale`` and rounded half away from zero, ``pooled_h x pooled_w`` bins
    (floor of the start, ceil of the end, clipped to the map), each bin's max, 0 for
    an empty one; the float32 steps of convertkit.layers.roi_pooling."""

    def __init__(self, pooled_h, pooled_w, spatial_scale, **kwargs):
        super().__init__(**_base(kwargs))
        self.pooled_h, self.pooled_w = int(pooled_h), int(pooled_w)
        self.spatial_scale = float(spatial_scale)

    @staticmethod
    def _spans(count: int, extent, start, limit: int):
        """Bin i covers [floor(i * size), ceil((i + 1) * size)) + start, clipped, with
        ``size = extent / count`` and each product rounded to float32 as Caffe does.
        The float32 steps are taken through float64 casts: Grappler's constant folding
        would otherwise fold ``(i + 1) * (extent / count)`` into ``extent * c`` and
        round differently."""
        size = tf.cast(tf.cast(extent, tf.float64) / float(count), tf.float32)
        i = tf.range(count + 1, dtype=tf.float64)
        edges = tf.cast(i * tf.cast(size, tf.float64), tf.float32)
        lo = tf.cast(tf.floor(edges[:-1]), tf.int32) + start
        hi = tf.cast(tf.math.ceil(edges[1:]), tf.int32) + start
        return tf.clip_by_value(lo, 0, limit), tf.clip_by_value(hi, 0, limit)

    def call(self, inputs):
        feat, rois = inputs  # feat NHWC; rois R x 5 (Caffe layout, rank 2)
        h, w = int(feat.shape[1]), int(feat.shape[2])
        rois = tf.reshape(rois, [-1, 5])
        scale = tf.constant(self.spatial_scale, tf.float32)
        coords = _caffe_round(tf.cast(rois[:, 1:5] * scale, tf.float64))
        ph, pw = self.pooled_h, self.pooled_w

        def one(args):
            roi, box = args
            x1, y1, x2, y2 = box[0], box[1], box[2], box[3]
            hs, he = self._spans(ph, tf.maximum(y2 - y1 + 1, 1), y1, h)
            ws, we = self._spans(pw, tf.maximum(x2 - x1 + 1, 1), x1, w)
            plane = feat[tf.cast(roi[0], tf.int32)]  # H x W x C
            rows = tf.range(h)[None, :]
            cols = tf.range(w)[None, :]
            in_rows = (rows >= hs[:, None]) & (rows < he[:, None])  # ph x H
            in_cols = (cols >= ws[:, None]) & (cols < we[:, None])  # pw x W
            # A bin's max: over its rows, then over its columns (max is separable).
            by_rows = tf.reduce_max(tf.where(in_rows[:, :, None, None], plane[None], -np.inf),
                                    axis=1)  # ph x W x C
            best = tf.reduce_max(tf.where(in_cols[None, :, :, None], by_rows[:, None], -np.inf),
                                 axis=2)  # ph x pw x C
            empty = ~(tf.reduce_any(in_rows, axis=1)[:, None]
                      & tf.reduce_any(in_cols, axis=1)[None])
            return tf.where(empty[..., None], 0.0, best)

        out = tf.map_fn(one, (rois, coords), fn_output_signature=tf.TensorSpec(
            (ph, pw, int(feat.shape[3])), tf.float32))
        return out  # R x ph x pw x C: NHWC of Caffe's R x C x ph x pw

    def get_config(self):
        config = super().get_config()
        config.update(pooled_h=self.pooled_h, pooled_w=self.pooled_w,
                      spatial_scale=self.spatial_scale)
        return config


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (
    CaffeConv2D, CaffeDeconv2D, CaffeInnerProduct, CaffeBatchStatsNorm, CaffeScale, CaffeBias,
    CaffeLRN, CaffeMVN, CaffeSoftmax, CaffePointwise, CaffeEltwise, CaffePool2D, CaffeInterp, CaffeSlice,
    CaffeCrop, CaffeReshape, CaffeArgMax, CaffeAxpy, CaffeShuffleChannel, CaffePermute,
    CaffeNormalize, CaffeUpsample, CaffeUnpool, CaffeConstant, CaffeROIPooling)}
