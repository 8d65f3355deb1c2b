"""OpenCV dnn's expression of each Caffe type (its Caffe importer, opencv < 5).

A handler returns None when OpenCV reads the layer as it is, or the layers that
replace it: same blob names in and out, and the last replacement keeps the layer's
name so per-layer comparisons line up. ``convertkit.backends.opencv.rewrite`` applies them.

OpenCV has no ``BN`` type and computes a 0x0 output for a shrink ``Interp``; it has
no Bias, Threshold or ArgMax layer, and ignores ``log_param``.
"""
from .. import apply_pending
from .core import BACKEND, DATA_CHECKS

# Each family module registers its handlers with BACKEND.
from . import native  # noqa: F401
from . import axes  # noqa: F401
from . import convolution  # noqa: F401
from . import normalisation  # noqa: F401
from . import activations  # noqa: F401
from . import pooling  # noqa: F401
from . import tensors  # noqa: F401
from . import detection  # noqa: F401
from . import python_layers  # noqa: F401

__all__ = ["BACKEND", "DATA_CHECKS"]

# Expressions that plugins declared for this backend (convertkit.plugins).
apply_pending("opencv", BACKEND)
