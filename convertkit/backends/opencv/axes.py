"""OpenCV's expression of the types with axis fields (Concat, Slice, Softmax, Scale, Crop,
Flatten, InnerProduct, Reshape): their own forms first, then every axis as Caffe reads it."""
from __future__ import annotations

import numpy as np

from ...caffe.proto import caffe_pb2
from ...graph import Layer
from ..base import Context
from .core import BACKEND


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
