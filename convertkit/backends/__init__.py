"""How outside frameworks express each Caffe type: one package per framework.

``BACKENDS`` names every backend package; each exports ``BACKEND`` (a
:class:`~convertkit.backends.base.Backend`). A backend is imported only when it is
asked for, since importing it may import its framework.
"""
from __future__ import annotations

import importlib

from .base import Backend, Context

#: Backend name -> the module that defines its BACKEND.
BACKENDS = {
    "opencv": "convertkit.backends.opencv",
    "torch": "convertkit.backends.torch",
    "onnx": "convertkit.backends.onnx",
    "tf": "convertkit.backends.tf",
}


def backend(name: str) -> Backend:
    """The Backend called ``name`` (imports its package)."""
    return importlib.import_module(BACKENDS[name]).BACKEND


__all__ = ["BACKENDS", "Backend", "Context", "backend"]
