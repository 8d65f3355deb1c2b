"""Caffe layer types: one module each, registered by type name (see base.py)."""
from __future__ import annotations

import importlib
import pkgutil

from .base import LayerImpl, Shape, impl_class, is_supported, register, registered_types

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "base" and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["LayerImpl", "Shape", "impl_class", "is_supported", "register", "registered_types"]
