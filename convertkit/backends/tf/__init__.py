"""TensorFlow's expression of each Caffe type, as Keras 3 layers.

A handler returns an :class:`Op`: the Keras layer that computes the Caffe layer (named
``ctx.options["name"]``, the Caffe name with every character outside [A-Za-z0-9_]
made '_'; None for layers that only pass tensors on), how to call it on the bottom
tensors, and which of its variables holds each learned Caffe param, in which layout
(the names of :mod:`convertkit.layouts`). :mod:`convertkit.backends.tf.model` wires
the ops into one functional ``keras.Model``.

Inside the model a 4-axis blob is NHWC; a blob of another rank keeps Caffe's order
(:mod:`convertkit.backends.tf.core`). Axes of Concat, Slice, Crop, Softmax, ArgMax,
Scale/Bias and BN are remapped accordingly; InnerProduct, Reshape, Flatten and MVN
work in Caffe's order.

Caffe's semantics, kept exactly: explicit symmetric padding then VALID (never TF's
``SAME``); ceil-mode pooling with Caffe's padding clip and AVE divisor; Interp as
align-corners bilinear to the size Caffe computes; BN eps from the prototxt (Keras's
default is 1e-3); Eltwise coefficients; grouped and dilated (also strided and
dilated) convolution; Deconvolution cropped by Caffe's pad.
"""
from .. import apply_pending
from .core import BACKEND, Op

# Each family module registers its handlers with BACKEND, and its Keras layers.
from . import convolution  # noqa: F401
from . import normalisation  # noqa: F401
from . import activations  # noqa: F401
from . import pooling  # noqa: F401
from . import tensors  # noqa: F401
from . import detection  # noqa: F401
from . import python_layers  # noqa: F401

__all__ = ["BACKEND", "Op"]

# Expressions that plugins declared for this backend (convertkit.plugins).
apply_pending("tf", BACKEND)
