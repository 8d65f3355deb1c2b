"""ONNX's expression of each Caffe type, written directly (no other converter between).

Handlers add nodes to the :class:`~convertkit.backends.onnx.graph.GraphBuilder` in
``ctx.options["graph"]``: ``g.value(blob)`` is the ONNX value currently holding a
Caffe blob, ``g.write(top)`` a fresh value name that becomes it (ONNX values are
written once, so Caffe's in-place layers get new names), and ``g.param(layer, role,
array)`` an initializer named ``<layer>/<role>``.

Caffe's semantics, kept exactly: ``Resize`` with ``coordinate_transformation_mode =
align_corners`` to explicit sizes (never scales), ceil-mode pools with Caffe's output
size and AVE divisor (explicit padding where ONNX's rule differs), BN eps from the
prototxt, Eltwise coefficients, grouped and dilated convolution.
"""
from .. import apply_pending
from .core import BACKEND

# Each family module registers its handlers with BACKEND.
from . import convolution  # noqa: F401
from . import normalisation  # noqa: F401
from . import activations  # noqa: F401
from . import pooling  # noqa: F401
from . import tensors  # noqa: F401
from . import detection  # noqa: F401
from . import python_layers  # noqa: F401

__all__ = ["BACKEND"]

# Expressions that plugins declared for this backend (convertkit.plugins).
apply_pending("onnx", BACKEND)
