"""PyTorch's expression of each Caffe type.

A handler returns an :class:`Op`: the standard ``nn.Module`` that holds the layer's
learned params (``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.Linear``,
``nn.BatchNorm2d``, ``nn.PReLU``...; None for layers without params) and a function
from the bottom tensors to the top tensors. The module's parameter names are the ones
the ``torch`` mapping table writes (``<module>.weight``, ``.running_mean`` ...), so an
emitted ``.pt`` / ``.safetensors`` loads with ``strict=True``.

Caffe's semantics, kept exactly: ceil-mode pooling with Caffe's padding clip and AVE
divisor, Interp through an explicit output size with ``align_corners=True``, BN eps
from the prototxt, Eltwise coefficients, grouped and dilated convolution.
"""
from .. import apply_pending
from .core import BACKEND, EAGER_ONLY, Op, Tensors

# Each family module registers its handlers with BACKEND.
from . import convolution  # noqa: F401
from . import normalisation  # noqa: F401
from . import activations  # noqa: F401
from . import pooling  # noqa: F401
from . import tensors  # noqa: F401
from . import detection  # noqa: F401
from . import python_layers  # noqa: F401

__all__ = ["BACKEND", "EAGER_ONLY", "Op", "Tensors"]

# Expressions that plugins declared for this backend (convertkit.plugins).
apply_pending("torch", BACKEND)
