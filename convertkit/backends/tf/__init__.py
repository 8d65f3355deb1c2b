"""TensorFlow's expression of each Caffe type, as Keras 3 layers.

A handler returns an :class:`Op`: the Keras layer that computes the Caffe layer (named
``ctx.options["name"]``, the Caffe name with every character outside [A-Za-z0-9_]
made '_'; None for layers that only pass tensors on), how to call it on the bottom
tensors, and which of its variables holds each learned Caffe param, in which layout
(the names of :mod:`convertkit.layouts`). :mod:`convertkit.backends.tf.model` wires
the ops into one functional ``keras.Model``.

Inside the model a 4-axis blob is NHWC; a blob of another rank keeps Caffe's order
(:mod:`convertkit.backends.tf.layers`). Axes of Concat, Slice, Crop, Softmax, ArgMax,
Scale/Bias and BN are remapped accordingly; InnerProduct, Reshape, Flatten and MVN
work in Caffe's order.

Caffe's semantics, kept exactly: explicit symmetric padding then VALID (never TF's
``SAME``); ceil-mode pooling with Caffe's padding clip and AVE divisor; Interp as
align-corners bilinear to the size Caffe computes; BN eps from the prototxt (Keras's
default is 1e-3); Eltwise coefficients; grouped and dilated (also strided and
dilated) convolution; Deconvolution cropped by Caffe's pad.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with file descriptor 2 silenced: TF's C++ side
    prints absl/oneDNN notices at import that no setting turns off (an import error
    still raises, after stderr is back)."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        import tensorflow  # noqa: F401
        return
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ..base import Backend, Context, FixedSize, varies  # noqa: E402
from . import layers as L  # noqa: E402

BACKEND = Backend("tf")


@dataclass
class Op:
    """One Caffe layer in Keras."""

    #: The Keras layer (named after the Caffe layer), or None.
    layer: keras.layers.Layer | None
    #: Bottom tensors -> top tensors (model layout).
    call: Callable[[list], list]
    #: Caffe param role -> (attribute of ``layer`` holding the variable, layout).
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)


def _name(ctx: Context) -> str:
    return ctx.options["name"]


def _rank(ctx: Context) -> int:
    return len(ctx.bottom_shapes[0])


def _single(layer: keras.layers.Layer, variables: dict | None = None) -> Op:
    """A one-bottom, one-top layer."""
    return Op(layer, lambda xs: [layer(xs[0])], variables or {})


def _multi(layer: keras.layers.Layer, variables: dict | None = None) -> Op:
    """A several-bottom, one-top layer."""
    return Op(layer, lambda xs: [layer(list(xs))], variables or {})


@BACKEND.register("Input")
def input_(ctx: Context) -> Op:
    return Op(None, lambda xs: [])


# Learned layers ------------------------------------------------------------------------

@BACKEND.register("Convolution")
def convolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    conv = L.CaffeConv2D(p.num_output, p.kernel, pad=p.pad, strides=p.stride,
                         dilation_rate=p.dilation, groups=p.group, use_bias=p.bias_term,
                         name=_name(ctx))
    variables = {"weight": ("kernel", "hwio")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(conv, variables)


@BACKEND.register("Deconvolution")
def deconvolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    deconv = L.CaffeDeconv2D(p.num_output, p.kernel, strides=p.stride, pad=p.pad,
                             dilation_rate=p.dilation, groups=p.group, use_bias=p.bias_term,
                             name=_name(ctx))
    variables = {"weight": ("kernel", "hwoi" if p.group == 1 else "caffe")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(deconv, variables)


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> Op:
    p = ctx.layer.hparams
    axis = p.axis % _rank(ctx)
    k = int(np.prod(ctx.bottom_shapes[0][axis:], dtype=np.int64))
    ip = L.CaffeInnerProduct(p.num_output, axis=axis, use_bias=p.bias_term, features=k,
                             name=_name(ctx))
    variables = {"weight": ("kernel", "io")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(ip, variables)


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
            layer = L.CaffeScale(1, (channels,), rank, learned=True, bias_term=True,
                                 name=_name(ctx))
        else:
            layer = L.CaffeBatchStatsNorm(axis=L.internal_axis(1, rank), epsilon=p.eps,
                                          moments="raw", center=True, scale=True,
                                          name=_name(ctx))
        return _single(layer, variables)
    norm = keras.layers.BatchNormalization(axis=L.internal_axis(1, rank), epsilon=p.eps,
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
    axis = L.internal_axis(1, rank)
    cls = keras.layers.BatchNormalization if p.use_global_stats else L.CaffeBatchStatsNorm
    norm = cls(axis=axis, epsilon=p.eps, center=False, scale=False,
               momentum=p.moving_average_fraction, name=_name(ctx), dtype="float32")
    return _single(norm, {"mean": ("moving_mean", "unscale_flat"),
                          "variance": ("moving_variance", "unscale_flat")})


def _operand_start(ctx: Context, axis: int, operand_ndim: int) -> int:
    return 0 if operand_ndim == 0 else axis % _rank(ctx)


@BACKEND.register("Scale")
def scale(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shapes = ctx.layer.impl.param_shapes(ctx.bottom_shapes)
    two = len(ctx.bottom_shapes) > 1
    operand = tuple(ctx.bottom_shapes[1]) if two else tuple(shapes[0])
    layer = L.CaffeScale(_operand_start(ctx, p.axis, len(operand)), operand, _rank(ctx),
                         learned=not two, bias_term=p.bias_term, name=_name(ctx))
    variables = {} if two else {"gamma": ("gamma", "caffe")}
    if p.bias_term:
        variables["beta"] = ("beta", "caffe")
    return (_multi if two else _single)(layer, variables)


@BACKEND.register("Bias")
def bias(ctx: Context) -> Op:
    p = ctx.layer.hparams
    two = len(ctx.bottom_shapes) > 1
    operand = (tuple(ctx.bottom_shapes[1]) if two
               else tuple(ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0]))
    layer = L.CaffeBias(_operand_start(ctx, p.axis, len(operand)), operand, _rank(ctx),
                        learned=not two, name=_name(ctx))
    if two:
        return _multi(layer)
    return _single(layer, {"bias": ("bias", "caffe")})


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> Op:
    """Keras PReLU; its alpha is one value per channel (or one), shared over the other
    axes (the flat Caffe slope is reshaped to alpha's shape when loaded)."""
    rank = _rank(ctx)
    channel = L.internal_axis(1, rank)
    shared = [a for a in range(1, rank)
              if ctx.layer.hparams.channel_shared or a != channel]
    layer = keras.layers.PReLU(shared_axes=shared or None, name=_name(ctx), dtype="float32")
    return _single(layer, {"slope": ("alpha", "flat")})


# Element-wise layers ------------------------------------------------------------------

@BACKEND.register("ReLU")
def relu(ctx: Context) -> Op:
    slope = float(np.float32(ctx.layer.hparams.negative_slope))
    if slope < 0:  # Caffe allows it; Keras' ReLU does not
        return _pointwise(ctx, "relu", negative_slope=slope)
    return _single(keras.layers.ReLU(negative_slope=slope, name=_name(ctx), dtype="float32"))


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> Op:
    """Keras Dropout: the identity at inference (Caffe's TEST), Caffe's inverted
    dropout when training. py-faster-rcnn's ``scale_train: false``: its TEST factor."""
    s = ctx.layer.impl.test_scale()
    if s is not None:
        return _pointwise(ctx, "power", power=1.0, scale=float(s), shift=0.0)
    rate = ctx.layer.hparams.dropout_ratio
    return _single(keras.layers.Dropout(rate, name=_name(ctx), dtype="float32"))


def _pointwise(ctx: Context, kind: str, **params) -> Op:
    return _single(L.CaffePointwise(kind, params, name=_name(ctx)))


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


F32 = np.float32


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


@BACKEND.register("MVN")
def mvn(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(L.CaffeMVN(p.normalize_variance, p.across_channels, p.eps, name=_name(ctx)))


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis = L.internal_axis(ctx.layer.hparams.axis % rank, rank)
    if rank > 5:  # TensorFlow's Softmax kernel takes at most 5 axes
        return _single(L.CaffeSoftmax(axis, name=_name(ctx)))
    return _single(keras.layers.Softmax(axis=axis, name=_name(ctx), dtype="float32"))


@BACKEND.register("LRN")
def lrn(ctx: Context) -> Op:
    p = ctx.layer.hparams
    reach = ctx.layer.impl.reach(ctx.bottom_shapes[0])  # the window cut to the blob
    if (p.norm_region != "ACROSS_CHANNELS" and 2 * reach + 1 != p.local_size
            and varies(ctx, ctx.layer.bottoms[0])):
        raise FixedSize(ctx.layer, "its window is cut to the blob's planned size")
    return _single(L.CaffeLRN(p.local_size, p.alpha, p.beta, p.k, p.norm_region, reach=reach,
                              name=_name(ctx)))


# Spatial layers -------------------------------------------------------------------------

@BACKEND.register("Pooling")
def pooling(ctx: Context) -> Op:
    """Caffe's pooling (ceil or floor rounding) made exact by explicit padding (see
    CaffePool2D); a second top is the MAX pool's mask."""
    p = ctx.layer.hparams
    mask = len(ctx.layer.tops) > 1  # MAX with the mask of max positions (SegNet)
    layer = L.CaffePool2D(p.method, p.kernel, strides=p.stride, pad=p.pad, ceil=p.ceil,
                          with_mask=mask, name=_name(ctx))
    if mask:
        return Op(layer, lambda xs: list(layer(xs[0])))
    return _single(layer)


@BACKEND.register("Interp")
def interp(ctx: Context) -> Op:
    """Bilinear, align_corners=True, to the explicit size Caffe computes; pad_beg /
    pad_end (<= 0) crop first."""
    p = ctx.layer.hparams
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ctx.refuse("Interp with positive pad_beg/pad_end (zero padding) is not expressed",
                         BACKEND.name)
    layer = L.CaffeInterp(p.rule, p.height, p.width, p.zoom_factor, p.shrink_factor,
                          p.pad_beg, p.pad_end, name=_name(ctx))
    return _single(layer)


# Data movement -------------------------------------------------------------------------

@BACKEND.register("Eltwise")
def eltwise(ctx: Context) -> Op:
    p = ctx.layer.hparams
    name = _name(ctx)
    if p.operation == "PROD":
        layer = keras.layers.Multiply(name=name, dtype="float32")
    elif p.operation == "MAX":
        layer = keras.layers.Maximum(name=name, dtype="float32")
    elif p.coeffs and any(c != 1 for c in p.coeffs):
        layer = L.CaffeEltwise([float(F32(c)) for c in p.coeffs], name=name)
    else:
        layer = keras.layers.Add(name=name, dtype="float32")
    return _multi(layer)


@BACKEND.register("Concat")
def concat(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis = L.internal_axis(ctx.layer.impl._axis(rank), rank)
    if len(ctx.bottom_shapes) == 1:
        return _single(keras.layers.Identity(name=_name(ctx), dtype="float32"))
    return _multi(keras.layers.Concatenate(axis=axis, name=_name(ctx), dtype="float32"))


@BACKEND.register("Slice")
def slice_(ctx: Context) -> Op:
    rank = _rank(ctx)
    axis, sizes = ctx.layer.impl._sizes(tuple(ctx.bottom_shapes[0]))
    if varies(ctx, ctx.layer.bottoms[0], (axis,)):
        raise FixedSize(ctx.layer, f"it slices axis {axis}, whose size follows the input")
    layer = L.CaffeSlice(L.internal_axis(axis, rank), sizes, name=_name(ctx))

    def run(xs):
        out = layer(xs[0])
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return Op(layer, run)


@BACKEND.register("Split")
def split(ctx: Context) -> Op:
    """Caffe's tops share the bottom's data: no layer, the same tensor for every top."""
    n = len(ctx.layer.tops)
    return Op(None, lambda xs: [xs[0]] * n)


@BACKEND.register("Crop")
def crop(ctx: Context) -> Op:
    shape, ref = (tuple(s) for s in ctx.bottom_shapes)
    start, offsets = ctx.layer.impl._offsets(shape, ref)
    begin = [offsets[i] if i >= start else 0 for i in range(len(shape))]
    size = [ref[i] if i >= start else -1 for i in range(len(shape))]
    if len(shape) == 4:
        begin, size = list(L.internal_shape(begin)), list(L.internal_shape(size))
    return _multi(L.CaffeCrop(begin, size, name=_name(ctx)))


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
    return _single(L.CaffeReshape(tuple(top), batch_free=_batch_free(ctx), name=_name(ctx)))


@BACKEND.register("ArgMax")
def argmax(ctx: Context) -> Op:
    p = ctx.layer.hparams
    rank = _rank(ctx)
    axis = None if p.axis is None else p.axis % rank
    return _single(L.CaffeArgMax(p.top_k, p.out_max_val, axis, rank, name=_name(ctx)))


# Other forks' layers ----------------------------------------------------------------------

@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> Op:
    return _single(keras.layers.ReLU(max_value=6.0, name=_name(ctx), dtype="float32"))


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> Op:
    return _multi(L.CaffeAxpy(name=_name(ctx)))


@BACKEND.register("ShuffleChannel")
def shuffle_channel(ctx: Context) -> Op:
    return _single(L.CaffeShuffleChannel(ctx.layer.hparams.group, name=_name(ctx)))


@BACKEND.register("Permute")
def permute(ctx: Context) -> Op:
    order = ctx.layer.impl.axes(_rank(ctx))
    return _single(L.CaffePermute(order, name=_name(ctx)))


@BACKEND.register("Normalize")
def normalize(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = 1 if p.channel_shared else int(ctx.bottom_shapes[0][1])
    layer = L.CaffeNormalize(channels, p.across_spatial, p.eps, name=_name(ctx))
    return _single(layer, {"gamma": ("gamma", "caffe")})


@BACKEND.register("Upsample")
def upsample(ctx: Context) -> Op:
    """YOLO's nearest upsampling, or SegNet's unpooling through a MAX pool's mask."""
    p = ctx.layer.hparams
    if p.dialect == "nearest":
        return _single(L.CaffeUpsample(p.scale_h, p.scale_w, name=_name(ctx)))
    _, _, ho, wo = ctx.top_shapes[0]
    if varies(ctx, ctx.layer.bottoms[0]) and not p.upsample_h:  # the size follows the input
        ho = wo = 0
    return _multi(L.CaffeUnpool(ho, wo, (p.scale_h, p.scale_w), (int(p.pad_out_h),
                                                                int(p.pad_out_w)), name=_name(ctx)))


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> Op:
    """The boxes depend on the shapes alone: a constant of the plan."""
    feat, img = ctx.bottom_shapes
    if any(varies(ctx, b) for b in ctx.layer.bottoms):
        raise FixedSize(ctx.layer, "its boxes are computed for one size")
    boxes = ctx.layer.impl.boxes(tuple(feat[2:]), tuple(img[2:]))
    return _multi(L.CaffeConstant(L.to_internal_array(boxes), name=_name(ctx)))


@BACKEND.register("ROIPooling")
def roi_pooling(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _multi(L.CaffeROIPooling(p.pooled_h, p.pooled_w, p.spatial_scale, name=_name(ctx)))


# Handlers grouped by family, in their own modules.
from . import detection, tensors, python_layers  # noqa: E402,F401

# Expressions that plugins declared for this backend (convertkit.plugins).
from .. import apply_pending  # noqa: E402

apply_pending("tf", BACKEND)
