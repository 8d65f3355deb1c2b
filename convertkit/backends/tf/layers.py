"""Keras 3 layers for the Caffe semantics that no stock Keras layer has exactly.

Each class sits in its family's module, next to the handler that uses it
(:mod:`.convolution`, :mod:`.normalisation`, :mod:`.activations`, :mod:`.pooling`,
:mod:`.tensors`, :mod:`.detection`). This module gathers the classes, and the layout
helpers of :mod:`.core`, under one name.

Every class is registered with ``keras.saving.register_keras_serializable(package=
"convertkit")``, so a ``.keras`` file of a converted net loads with
``keras.models.load_model(path)`` once ``import convertkit.backends.tf`` has run.
They use TensorFlow ops (this backend is TensorFlow only).
"""
from .activations import CaffeClip, CaffePointwise, CaffeSwish
from .convolution import CaffeConv2D, CaffeDeconv2D, CaffeInnerProduct
from .core import (FLT_MAX, FLT_MIN, PACKAGE, caffe_shape, dims, internal_axis, internal_shape,
                   register, to_caffe, to_internal, to_internal_array)
from .detection import CaffeConstant, CaffeDetectionOutput
from .normalisation import (CaffeBatchStatsNorm, CaffeBias, CaffeLRN, CaffeMVN, CaffeNormalize,
                            CaffeScale)
from .pooling import (CaffeInterp, CaffePool2D, CaffeROIPooling, CaffeUnpool, CaffeUpsample,
                      interp_size)
from .tensors import (CaffeArgMax, CaffeAxpy, CaffeCrop, CaffeEltwise, CaffeEmbed, CaffePermute,
                      CaffeReduction, CaffeReshape, CaffeShuffleChannel, CaffeSlice, CaffeSoftmax,
                      CaffeTile)


__all__ = [
    "FLT_MAX", "FLT_MIN", "PACKAGE", "caffe_shape", "dims", "internal_axis", "internal_shape",
    "interp_size", "register", "to_caffe", "to_internal", "to_internal_array",
    "CaffeArgMax", "CaffeAxpy", "CaffeBatchStatsNorm", "CaffeBias", "CaffeClip", "CaffeConstant",
    "CaffeConv2D", "CaffeCrop", "CaffeDeconv2D", "CaffeDetectionOutput", "CaffeEltwise",
    "CaffeEmbed", "CaffeInnerProduct", "CaffeInterp", "CaffeLRN", "CaffeMVN", "CaffeNormalize",
    "CaffePermute", "CaffePointwise", "CaffePool2D", "CaffeROIPooling", "CaffeReduction",
    "CaffeReshape", "CaffeScale", "CaffeShuffleChannel", "CaffeSlice", "CaffeSoftmax",
    "CaffeSwish", "CaffeTile", "CaffeUnpool", "CaffeUpsample",
]
