"""Caffe layer types: one module each, registered by type name (see base.py).

The built-in modules are imported below, one line each, so a reader can follow
where every type comes from. An outside package adds its own types with
:func:`register` (the only public hook; see base.py), and is found by
:func:`convertkit.caffe.loader.load_plugins`.
"""
from __future__ import annotations

from .base import ROLES, LayerImpl, Shape, impl_class, is_supported, register, registered_types

# Built-in layer types, one module each (alphabetical).
from . import (  # noqa: E402,F401
    absval,
    axpy,
    argmax,
    batchnorm,
    bias,
    bn,
    bnll,
    clip,
    concat,
    convolution,
    crop,
    deconvolution,
    detection_output,
    dropout,
    eltwise,
    elu,
    embed,
    exp,
    flatten,
    inner_product,
    input,
    interp,
    log,
    lrn,
    mvn,
    normalize,
    permute,
    pooling,
    power,
    prelu,
    prior_box,
    proposal,
    psroi_pooling,
    python,
    reduction,
    relu,
    relu6,
    reshape,
    roi_pooling,
    scale,
    shuffle_channel,
    sigmoid,
    slice,
    spatial_dropout,
    softmax,
    split,
    swish,
    tanh,
    threshold,
    tile,
    training_only,
    upsample,
)

__all__ = ["ROLES", "LayerImpl", "Shape", "impl_class", "is_supported", "register",
           "registered_types"]
