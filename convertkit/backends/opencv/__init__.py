"""OpenCV dnn's expression of each Caffe type (its Caffe importer, opencv < 5).

A handler returns None when OpenCV reads the layer as it is, or the layers that
replace it: same blob names in and out, and the last replacement keeps the layer's
name so per-layer comparisons line up. ``convertkit.passes.opencv`` applies them.

OpenCV has no ``BN`` type and computes a 0x0 output for a shrink ``Interp``; it has
no Bias, Threshold or ArgMax layer, and ignores ``log_param``.
"""
from __future__ import annotations

import numpy as np

from ...graph import Layer
from ...layers.training_only import TRAINING_ONLY_TYPES
from ...proto import caffe_pb2
from ..base import Backend, Context

BACKEND = Backend("opencv")

#: Types OpenCV's Caffe importer reads unchanged, with Caffe's semantics.
NATIVE = (
    "AbsVal", "BNLL", "BatchNorm", "Concat", "Convolution", "Crop", "Deconvolution",
    "Dropout", "ELU", "Eltwise", "Exp", "Flatten", "InnerProduct", "Input", "LRN", "MVN",
    "PReLU", "Power", "ReLU", "Reshape", "Scale", "Sigmoid", "Slice",
    "Softmax", "Split", "TanH",
)


@BACKEND.register(*NATIVE)
def native(ctx: Context) -> None:
    return None


BACKEND.refuse("Bias", reason="OpenCV's Caffe importer has no Bias layer")
BACKEND.refuse("Threshold", reason="OpenCV's Caffe importer has no Threshold layer")
BACKEND.refuse("ArgMax", reason="OpenCV's Caffe importer has no ArgMax layer")
BACKEND.refuse(*TRAINING_ONLY_TYPES, reason="a training-only layer; deploy graphs drop it")


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


@BACKEND.register("Log")
def log(ctx: Context) -> None:
    p = ctx.layer.hparams
    if (p.base, p.scale, p.shift) != (-1.0, 1.0, 0.0):
        raise ctx.refuse("OpenCV ignores log_param (base, scale, shift) and computes ln(x)",
                         BACKEND.name)
    return None


@BACKEND.register("BN")
def bn(ctx: Context) -> list[Layer]:
    """BVLC BatchNorm (mean, variance, factor 1) normalises, then a Scale with bias
    applies gamma and beta. Without params (a weightless rewrite) the layers carry none."""
    layer = ctx.layer
    pb = caffe_pb2()
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


# Expressions that plugins declared for this backend (convertkit.plugins).
from ...plugins import apply_pending  # noqa: E402

apply_pending("opencv", BACKEND)
