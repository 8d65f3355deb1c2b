"""TensorFlow's expression of Caffe's data movement and blob arithmetic: Input, Split,
Concat, Slice, Crop, Reshape, Flatten, Permute, ShuffleChannel, Tile, Eltwise, Axpy,
Softmax, ArgMax, Reduction and Embed, with their Keras layers."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..base import Context, FixedSize, varies
from .core import (BACKEND, F32, Op, _base, _multi, _name, _rank, _single, dims, internal_axis,
                   internal_shape, register, to_caffe, to_internal)


@BACKEND.register("Input")
def input_(ctx: Context) -> Op:
    return Op(None, lambda xs: [])


@BACKEND.register("Split")
def split(ctx: Context) -> Op:
    """Caffe's tops share the bottom's data: no layer, the same tensor for every top."""
    n = len(ctx.layer.tops)
    return Op(None, lambda xs: [xs[0]] * n)


@BACKEND.register("Concat")
def concat(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis = internal_axis(ctx.layer.impl._axis(rank), rank)
    if len(ctx.bottom_shapes) == 1:
        return _single(keras.layers.Identity(name=_name(ctx), dtype="float32"))
    return _multi(keras.layers.Concatenate(axis=axis, name=_name(ctx), dtype="float32"))


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


@BACKEND.register("Slice")
def slice_(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis, sizes = ctx.layer.impl._sizes(tuple(ctx.bottom_shapes[0]))
    if varies(ctx, ctx.layer.bottoms[0], (axis,)):
        raise FixedSize(ctx.layer, f"it slices axis {axis}, whose size follows the input")
    layer = CaffeSlice(internal_axis(axis, rank), sizes, name=_name(ctx))

    def run(xs):
        out = layer(xs[0])
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return Op(layer, run)


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


@BACKEND.register("Crop")
def crop(ctx: Context) -> Op:
    shape, ref = (tuple(s) for s in ctx.bottom_shapes)
    start, offsets = ctx.layer.impl._offsets(shape, ref)
    begin = [offsets[i] if i >= start else 0 for i in range(len(shape))]
    size = [ref[i] if i >= start else -1 for i in range(len(shape))]
    if len(shape) == 4:
        begin, size = list(internal_shape(begin)), list(internal_shape(size))
    return _multi(CaffeCrop(begin, size, name=_name(ctx)))


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


def _batch_free(ctx: Context) -> bool:
    """Whether the top's first axis is the bottom's batch for any batch size."""
    impl, bottom = ctx.layer.impl, tuple(ctx.bottom_shapes[0])
    try:
        for n in (bottom[0], bottom[0] + 1, bottom[0] + 2):
            top = tuple(impl.reshape([(n,) + bottom[1:]])[0])
            if top[0] != n or top[1:] != tuple(ctx.top_shapes[0][1:]):
                return False
    except Exception:
        return False
    return True


@BACKEND.register("Flatten", "Reshape")
def reshape(ctx: Context) -> Op:
    """Row-major in Caffe's axis order, as Caffe's memory is."""
    top = [int(d) for d in ctx.top_shapes[0]]
    sizes = ctx.options.get("sizes")
    changing = sorted(a for a in (sizes.varies.get(ctx.layer.tops[0], set()) if sizes else ()) if a)
    if len(changing) > 1:
        raise FixedSize(ctx.layer, f"{len(changing)} of its top's sizes follow the input")
    for a in changing:  # the one size that follows the input: inferred
        top[a] = -1
    return _single(CaffeReshape(tuple(top), batch_free=_batch_free(ctx), name=_name(ctx)))


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


@BACKEND.register("Permute")
def permute(ctx: Context) -> Op:
    order = ctx.layer.impl.axes(_rank(ctx))
    return _single(CaffePermute(order, name=_name(ctx)))


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


@BACKEND.register("ShuffleChannel")
def shuffle_channel(ctx: Context) -> Op:
    return _single(CaffeShuffleChannel(ctx.layer.hparams.group, name=_name(ctx)))


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


@BACKEND.register("Tile")
def tile(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(CaffeTile(p.axis % _rank(ctx), p.tiles, name=_name(ctx)))


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


@BACKEND.register("Eltwise")
def eltwise(ctx: Context) -> Op:
    p = ctx.layer.hparams
    name = _name(ctx)
    if p.operation == "PROD":
        layer = keras.layers.Multiply(name=name, dtype="float32")
    elif p.operation == "MAX":
        layer = keras.layers.Maximum(name=name, dtype="float32")
    elif p.coeffs and any(c != 1 for c in p.coeffs):
        layer = CaffeEltwise([float(F32(c)) for c in p.coeffs], name=name)
    else:
        layer = keras.layers.Add(name=name, dtype="float32")
    return _multi(layer)


@register
class CaffeAxpy(keras.layers.Layer):
    """SENet's Axpy: ``a * x + y``, ``a`` N x C x 1 x 1 (one gate per channel)."""

    def call(self, inputs):
        a, x, y = inputs
        rank = x.shape.rank
        gate = tf.reshape(to_caffe(a), tf.stack([tf.shape(a)[0], -1] + [1] * (rank - 2)))
        return to_internal(gate) * x + y if rank == 4 else gate * x + y


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> Op:
    return _multi(CaffeAxpy(name=_name(ctx)))


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


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis = internal_axis(ctx.layer.hparams.axis % rank, rank)
    if rank > 5:  # TensorFlow's Softmax kernel takes at most 5 axes
        return _single(CaffeSoftmax(axis, name=_name(ctx)))
    return _single(keras.layers.Softmax(axis=axis, name=_name(ctx), dtype="float32"))


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


@BACKEND.register("ArgMax")
def argmax(ctx: Context) -> Op:
    p = ctx.layer.hparams
    rank = _rank(ctx)
    axis = None if p.axis is None else p.axis % rank
    return _single(CaffeArgMax(p.top_k, p.out_max_val, axis, rank, name=_name(ctx)))


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


@BACKEND.register("Reduction")
def reduction(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(CaffeReduction(p.operation, p.axis % _rank(ctx), p.coeff, name=_name(ctx)))


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


@BACKEND.register("Embed")
def embed(ctx: Context) -> Op:
    p = ctx.layer.hparams
    variables = {"weight": ("table", "caffe")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(CaffeEmbed(p.input_dim, p.num_output, p.bias_term, name=_name(ctx)),
                   variables)
