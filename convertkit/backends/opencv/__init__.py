"""OpenCV dnn's expression of each Caffe type (its Caffe importer, opencv < 5).

A handler returns None when OpenCV reads the layer as it is, or the layers that
replace it: same blob names in and out, and the last replacement keeps the layer's
name so per-layer comparisons line up. ``convertkit.backends.opencv.rewrite`` applies them.

OpenCV has no ``BN`` type and computes a 0x0 output for a shrink ``Interp``; it has
no Bias, Threshold or ArgMax layer, and ignores ``log_param``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...graph import Layer
from ...caffe.proto import caffe_pb2
from ..base import Backend, Context

BACKEND = Backend("opencv")

#: Checks on the values a layer receives, run once OpenCV has computed them, for the
#: forms OpenCV computes correctly only on some inputs: type -> check(layer, bottoms),
#: which gives the reason to refuse this input or None.
DATA_CHECKS: dict[str, Callable[[Layer, Sequence[np.ndarray]], str | None]] = {}


def data_check(*types: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        for t in types:
            DATA_CHECKS[t] = fn
        return fn
    return deco

#: Types OpenCV's Caffe importer reads unchanged, with Caffe's semantics.
NATIVE = (
    "AbsVal", "BNLL", "BatchNorm",
    "ELU", "Eltwise", "Exp", "Input",
    "PReLU", "Power", "ReLU", "Sigmoid", "Split", "TanH",
    # other forks' layers OpenCV implements itself
    "ReLU6", "Permute", "Normalize", "DetectionOutput", "ShuffleChannel",
    "ROIPooling", "PSROIPooling",
)


@BACKEND.register(*NATIVE)
def native(ctx: Context) -> None:
    return None


BACKEND.refuse("Bias", reason="OpenCV's Caffe importer has no Bias layer")
BACKEND.refuse("Threshold", reason="OpenCV's Caffe importer has no Threshold layer")
BACKEND.refuse("ArgMax", reason="OpenCV's Caffe importer has no ArgMax layer")
BACKEND.refuse("Upsample", reason="OpenCV's Caffe importer has no Upsample layer (neither "
               "SegNet's unpooling nor nearest-neighbour)")
BACKEND.refuse("Clip", reason="OpenCV's Caffe importer has no Clip layer")
BACKEND.refuse("Reduction", reason="OpenCV's Caffe importer has no Reduction layer")
BACKEND.refuse("Embed", reason="OpenCV's Caffe importer has no Embed layer")
BACKEND.refuse("Tile", reason="OpenCV's Tile layer does not read Caffe's tile_param "
               "(it wants its own 'repeats')")


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> list[Layer] | None:
    """OpenCV reads Dropout as the identity; py-faster-rcnn's ``scale_train: false``
    scales at TEST: a Power layer with that scale, under the layer's name."""
    s = ctx.layer.impl.test_scale()
    if s is None:
        return None
    layer = ctx.layer
    lp = caffe_pb2().LayerParameter(name=layer.name, type="Power")
    lp.power_param.scale = float(s)
    return [Layer(layer.name, "Power", list(layer.bottoms), list(layer.tops), lp, [])]


@BACKEND.register("Swish")
def swish(ctx: Context) -> None:
    """OpenCV's Swish is x * sigmoid(x): Caffe's with beta 1."""
    if ctx.layer.hparams.beta != 1:
        raise ctx.refuse(f"OpenCV's Swish has no beta (this one is {ctx.layer.hparams.beta:g})",
                         BACKEND.name)
    return None


#: Types with axis fields: (parameter block, its axis fields). Caffe counts a negative
#: axis from the end (Blob::CanonicalAxisIndex; Reshape's axis -1 means after the last
#: axis); OpenCV's importer takes the number as it is, and fails, or corrupts memory
#: (a Scale with axis -1 on a 2-axis bottom), on a negative one.
AXES = {
    "Concat": ("concat_param", ("axis",)),
    "Slice": ("slice_param", ("axis",)),
    "Softmax": ("softmax_param", ("axis",)),
    "Scale": ("scale_param", ("axis",)),
    "Crop": ("crop_param", ("axis",)),
    "Flatten": ("flatten_param", ("axis", "end_axis")),
    "InnerProduct": ("inner_product_param", ("axis",)),
    "Reshape": ("reshape_param", ("axis",)),
}


#: The legacy field Caffe reads in place of ``axis`` when it is given.
LEGACY_AXIS = {"Concat": "concat_dim", "Slice": "slice_dim"}


@BACKEND.register(*AXES)
def canonical_axes(ctx: Context) -> list[Layer] | None:
    """The layer with every negative axis written as Caffe reads it, counted from 0."""
    layer = ctx.layer
    if layer.type in FORMS:
        replaced = FORMS[layer.type](ctx)
        if replaced is not None:
            return replaced
    block, fields = AXES[layer.type]
    rank = len(ctx.bottom_shapes[0])
    lp = layer.to_proto()
    params = getattr(lp, block)
    changed = False
    legacy = LEGACY_AXIS.get(layer.type)
    if legacy and params.HasField(legacy):
        # Caffe reads the legacy concat_dim / slice_dim in place of axis; OpenCV's
        # importer reads axis alone
        params.axis = getattr(params, legacy)
        params.ClearField(legacy)
        changed = True
    for f in fields:
        value = getattr(params, f)
        if value < 0:
            # reshape_layer.cpp: start_axis = axis >= 0 ? axis : num_axes + axis + 1
            setattr(params, f, value + rank + (1 if layer.type == "Reshape" else 0))
            changed = True
    return [layer.replace(proto=lp)] if changed else None


def _one_axis_top(ctx: Context) -> None:
    """OpenCV's blobs have two axes at least: a top of one axis comes back as K x 1."""
    if len(ctx.top_shapes[0]) == 1:
        raise ctx.refuse(f"OpenCV gives a one-axis top ({ctx.top_shapes[0][0]} values) two "
                         "axes", BACKEND.name)


def _inner_product(ctx: Context) -> list[Layer] | None:
    """OpenCV's InnerProduct keeps a second axis where Caffe's top has one (``axis: 0``
    gives Caffe a top of num_output values), and its pass corrupts memory on some; it
    ignores ``transpose``: the weight is written O x K, as OpenCV reads it."""
    layer = ctx.layer
    if layer.hparams.axis % len(ctx.bottom_shapes[0]) == 0:
        raise ctx.refuse("OpenCV's InnerProduct cannot take axis 0 (Caffe's top is one "
                         "axis of num_output values; OpenCV's is not, and may crash)",
                         BACKEND.name)
    if not layer.hparams.transpose:
        return None
    lp = layer.to_proto()
    lp.inner_product_param.transpose = False
    axis = lp.inner_product_param.axis
    if axis < 0:
        lp.inner_product_param.axis = axis + len(ctx.bottom_shapes[0])
    params = list(layer.params)
    if params:  # K x O -> O x K
        params[0] = np.ascontiguousarray(np.asarray(params[0], np.float32).T)
    return [layer.replace(proto=lp, params=params)]


def _reshape(ctx: Context) -> None:
    _one_axis_top(ctx)
    return None


def _scale(ctx: Context) -> list[Layer] | None:
    """OpenCV's Scale by a second bottom does not add the learned bias (bias_term) as
    Caffe does: the product, then a Scale by ones with that bias, in place (x * s, then
    * 1 + b: Caffe's two roundings)."""
    layer = ctx.layer
    if len(layer.bottoms) < 2 or not layer.hparams.bias_term:
        return None
    pb = caffe_pb2()
    rank = len(ctx.bottom_shapes[0])
    axis = layer.hparams.axis % rank
    operand = tuple(ctx.bottom_shapes[1])
    product = pb.LayerParameter(name=f"{layer.name}/product", type="Scale")
    product.scale_param.axis = axis
    add = pb.LayerParameter(name=layer.name, type="Scale")
    add.scale_param.axis, add.scale_param.num_axes = axis, len(operand)
    add.scale_param.bias_term = True
    params = []
    if layer.params:
        bias = np.asarray(layer.param("beta"), np.float32)
        params = [np.ones(bias.shape, np.float32), bias]
    top = layer.tops[0]
    return [Layer(product.name, "Scale", list(layer.bottoms), [top], product, []),
            Layer(add.name, "Scale", [top], [top], add, params)]


#: Per-type rewrites before the axes are made canonical (a layer they return is final).
FORMS = {"InnerProduct": _inner_product, "Reshape": _reshape, "Flatten": _reshape,
         "Scale": _scale}


def _depthwise_check(ctx: Context) -> None:
    """OpenCV's depthwise convolution (group = channels = num_output) differs from
    Caffe's (measured, OpenCV 4.14): on an axis of size 1 with a kernel wider than 1
    (1x6x9x1, 3x3, pad 1: 134% of the output's range), and dilated with a pad other
    than dilation * (kernel - 1) / 2 (3x3, dilation 2, pad 1: 89%)."""
    p, shape = ctx.layer.hparams, ctx.bottom_shapes[0]
    if not (p.group > 1 and p.group == shape[1] == p.num_output):
        return
    for i, axis in enumerate(("height", "width")):
        if shape[2 + i] == 1 and p.kernel[i] > 1:
            raise ctx.refuse(f"OpenCV's depthwise convolution of a {axis} of 1 with a kernel "
                             f"of {p.kernel[i]} differs from Caffe's", BACKEND.name)
        if p.dilation[i] > 1 and 2 * p.pad[i] != p.dilation[i] * (p.kernel[i] - 1):
            raise ctx.refuse(f"OpenCV's dilated depthwise convolution differs from Caffe's "
                             f"with a pad ({p.pad[i]}) other than dilation x (kernel - 1) / 2 "
                             f"on the {axis}", BACKEND.name)


@BACKEND.register("Convolution", "Deconvolution")
def convolution(ctx: Context) -> list[Layer] | None:
    """OpenCV's Deconvolution ignores dilation (it gave 1x7x18x2 for Caffe's 1x7x20x2
    with dilation 2x1): refused. Sizes given once per axis (a repeated kernel_size,
    stride or pad) are written in the _h/_w form, one form for OpenCV to read."""
    layer, p = ctx.layer, ctx.layer.hparams
    if layer.type == "Deconvolution" and tuple(p.dilation) != (1, 1):
        raise ctx.refuse(f"OpenCV's Deconvolution ignores dilation "
                         f"({p.dilation[0]}x{p.dilation[1]})", BACKEND.name)
    if layer.type == "Convolution":
        _depthwise_check(ctx)
    cp = layer.proto.convolution_param
    if not (len(cp.kernel_size) > 1 or len(cp.stride) > 1 or len(cp.pad) > 1
            or len(cp.dilation) > 1):
        return None
    lp = layer.to_proto()
    c = lp.convolution_param
    for f in ("kernel_size", "stride", "pad", "dilation"):
        c.ClearField(f)
    c.kernel_h, c.kernel_w = p.kernel
    c.stride_h, c.stride_w = p.stride
    c.pad_h, c.pad_w = p.pad
    c.dilation.extend(p.dilation)
    return [layer.replace(proto=lp)]


@BACKEND.register("MVN")
def mvn(ctx: Context) -> None:
    """Caffe's MVN top has 4 axes whatever its bottom's (legacy accessors); OpenCV's
    keeps the bottom's. Caffe adds eps to the standard deviation, OpenCV to the
    variance: the same only at Caffe's default eps (1e-9)."""
    if len(ctx.bottom_shapes[0]) < 4:
        raise ctx.refuse(f"OpenCV's MVN keeps a {len(ctx.bottom_shapes[0])}-axis bottom's "
                         "shape; Caffe's top has 4 axes", BACKEND.name)
    p = ctx.layer.hparams
    if p.normalize_variance and np.float32(p.eps) != np.float32(1e-9):
        # measured: eps 0.1 moves OpenCV's output by 0.26 on values of about 2
        raise ctx.refuse(f"OpenCV's MVN divides by sqrt(var + eps), Caffe's by sqrt(var) + "
                         f"eps (eps {p.eps:g})", BACKEND.name)
    return None


#: The largest mean²/variance of an MVN row that OpenCV normalises within a tenth of
#: the 1e-4 parity tolerance (its relative error is about that ratio times 6e-8).
MVN_RATIO_LIMIT = 100.0


@data_check("MVN")
def mvn_cancellation(layer: Layer, bottoms: Sequence[np.ndarray]) -> str | None:
    """OpenCV's MVN takes the variance as E[x²] - E[x]² in float32, Caffe as the mean of
    (x - E[x])²: on a row whose mean is far from its spread, OpenCV's loses digits
    (measured: mean²/variance 6.6e3 gave 3.4e-4 relative error). A constant row gives
    0 in both."""
    p = layer.hparams
    if not p.normalize_variance:
        return None
    x = np.asarray(bottoms[0], dtype=np.float64)
    rows = x.reshape(x.shape[0] if p.across_channels or x.ndim < 2 else x.shape[0] * x.shape[1], -1)
    var = rows.var(axis=1)
    spread = var > 0
    if not spread.any():
        return None
    ratio = float((np.square(rows.mean(axis=1))[spread] / var[spread]).max())
    if ratio <= MVN_RATIO_LIMIT:
        return None
    return (f"OpenCV's MVN takes the variance as E[x²] - E[x]² in float32, which loses "
            f"digits on a row of '{layer.name}''s bottom whose mean²/variance is {ratio:.2g} "
            f"(about {ratio * 6e-8:.0e} relative error; Caffe subtracts the mean first)")


@BACKEND.register("LRN")
def lrn(ctx: Context) -> list[Layer]:
    """OpenCV's importer reads an absent ``alpha`` otherwise than Caffe's default 1, and
    its ACROSS_CHANNELS LRN computes another k than Caffe's (measured: k 0.5 or 0.9
    with alpha 0.1 differ by 7% to 40%): every field written out, k other than 1
    refused."""
    layer, p = ctx.layer, ctx.layer.hparams
    if p.norm_region == "ACROSS_CHANNELS" and float(p.k) != 1.0:
        raise ctx.refuse(f"OpenCV's ACROSS_CHANNELS LRN does not compute Caffe's k "
                         f"({float(p.k):g}; only k 1 agrees)", BACKEND.name)
    if 2 * layer.impl.reach(ctx.bottom_shapes[0]) + 1 != p.local_size:
        raise ctx.refuse(f"OpenCV allocates the whole window (local_size {p.local_size}), "
                         "wider than the blob", BACKEND.name)
    lp = layer.to_proto()
    lrn_p = lp.lrn_param
    lrn_p.local_size, lrn_p.alpha, lrn_p.beta, lrn_p.k = p.local_size, p.alpha, p.beta, p.k
    return [layer.replace(proto=lp)]


@BACKEND.register("Pooling")
def pooling(ctx: Context) -> list[Layer] | None:
    """OpenCV's schema names floor rounding ``ceil_mode: false`` and has no BVLC
    ``round_mode``: say it OpenCV's way."""
    layer = ctx.layer
    if not layer.proto.pooling_param.HasField("round_mode"):
        return None
    lp = layer.to_proto()
    lp.pooling_param.ClearField("round_mode")
    lp.pooling_param.ceil_mode = layer.hparams.ceil
    return [layer.replace(proto=lp)]


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> None:
    """OpenCV computes Caffe's boxes, but takes the image size from its bottom
    whatever img_size / img_h / img_w say."""
    p, img = ctx.layer.hparams, ctx.bottom_shapes[1]
    if (p.img_h and p.img_h != img[2]) or (p.img_w and p.img_w != img[3]):
        raise ctx.refuse(f"OpenCV ignores img_size {p.img_h}x{p.img_w} and would use the "
                         f"image bottom's {img[2]}x{img[3]}", BACKEND.name)
    return None


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> list[Layer]:
    """OpenCV has no Axpy: a * x as a Scale of x by a's N x C values (axis 0), then y
    added by an Eltwise SUM that keeps the layer's name."""
    layer = ctx.layer
    pb = caffe_pb2()
    a, x, y = layer.bottoms
    flat = pb.LayerParameter(name=f"{layer.name}/a", type="Flatten")
    scaled = pb.LayerParameter(name=f"{layer.name}/ax", type="Scale")
    scaled.scale_param.axis = 0
    total = pb.LayerParameter(name=layer.name, type="Eltwise")
    return [Layer(flat.name, "Flatten", [a], [flat.name], flat, []),
            Layer(scaled.name, "Scale", [x, flat.name], [scaled.name], scaled, []),
            Layer(total.name, "Eltwise", [scaled.name, y], list(layer.tops), total, [])]


@BACKEND.register("Log")
def log(ctx: Context) -> None:
    p = ctx.layer.hparams
    if (p.base, p.scale, p.shift) != (-1.0, 1.0, 0.0):
        raise ctx.refuse("OpenCV ignores log_param (base, scale, shift) and computes ln(x)",
                         BACKEND.name)
    return None


@BACKEND.register("BN")
def bn(ctx: Context) -> list[Layer]:
    """PSPNet's BN: BVLC BatchNorm (mean, variance, factor 1) normalises, then a Scale
    with bias applies gamma and beta. SegNet's BN in INFERENCE mode: the Scale alone.
    Without params (a weightless rewrite) the layers carry none."""
    layer = ctx.layer
    pb = caffe_pb2()
    if layer.hparams.dialect == "segnet":
        if layer.hparams.mode != "INFERENCE":
            raise ctx.refuse("SegNet's BN in LEARN mode normalises with batch statistics, "
                             "which OpenCV's layers do not compute", BACKEND.name)
        scale = pb.LayerParameter(name=layer.name, type="Scale")
        scale.scale_param.bias_term = True
        params = [np.asarray(layer.param(r), np.float32).reshape(-1)
                  for r in ("gamma", "beta")] if layer.params else []
        return [Layer(layer.name, "Scale", list(layer.bottoms), list(layer.tops), scale, params)]
    norm = pb.LayerParameter(name=f"{layer.name}/norm", type="BatchNorm")
    norm.batch_norm_param.use_global_stats = True
    norm.batch_norm_param.eps = layer.hparams.eps
    scale = pb.LayerParameter(name=layer.name, type="Scale")
    scale.scale_param.bias_term = True
    norm_params: list[np.ndarray] = []
    scale_params: list[np.ndarray] = []
    if layer.params:
        gamma, beta, mean, var = (np.asarray(layer.param(r), np.float32).reshape(-1)
                                  for r in ("gamma", "beta", "mean", "variance"))
        norm_params = [mean, var, np.ones(1, np.float32)]
        scale_params = [gamma, beta]
    bottom, top = layer.bottoms[0], layer.tops[0]
    return [
        Layer(norm.name, "BatchNorm", [bottom], [top], norm, norm_params),
        Layer(scale.name, "Scale", [top], [top], scale, scale_params),
    ]


@BACKEND.register("Interp")
def interp(ctx: Context) -> list[Layer] | None:
    """OpenCV's Interp understands height/width and zoom_factor but gives 0x0 for
    shrink_factor and ignores pad_beg/pad_end: spell out the size Caffe computes."""
    layer, p = ctx.layer, ctx.layer.hparams
    if p.pad_beg or p.pad_end:
        raise ctx.refuse("OpenCV's Interp cannot crop (pad_beg/pad_end)", BACKEND.name)
    if p.rule == "size":
        return None
    _, _, ho, wo = ctx.top_shapes[0]
    lp = caffe_pb2().LayerParameter(name=layer.name, type="Interp")
    lp.interp_param.height, lp.interp_param.width = ho, wo
    return [Layer(layer.name, "Interp", list(layer.bottoms), list(layer.tops), lp, [])]


# Handlers grouped by family, in their own modules.
from . import python_layers  # noqa: E402,F401

# Expressions that plugins declared for this backend (convertkit.plugins).
from .. import apply_pending  # noqa: E402

apply_pending("opencv", BACKEND)
