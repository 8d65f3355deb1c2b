"""How outside frameworks express each Caffe type: one package per framework.

``BACKENDS`` names every backend package; each exports ``BACKEND`` (a
:class:`~convertkit.backends.base.Backend`). A backend is imported only when it is
asked for, since importing it may import its framework.
"""
from __future__ import annotations

import importlib
from typing import Callable

from ..errors import UsageError
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


def declare(name: str, type_names: tuple[str, ...], handler: Callable | None,
            reason: str | None) -> None:
    """A handler (or, with ``reason``, a refusal) for these types in backend ``name``,
    from outside convertkit (:mod:`convertkit.plugins`). Kept until the backend is
    first imported, so declaring a torch expression does not import torch."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    entry = (tuple(type_names), handler, reason)
    _PENDING.setdefault(name, []).append(entry)
    if name in _APPLIED:  # the backend is already imported: register now
        _apply(backend(name), [entry])


def apply_pending(name: str, declared_to: Backend) -> None:
    """Called by each backend package once its own handlers are registered."""
    if name not in _APPLIED:
        _APPLIED.add(name)
        _apply(declared_to, _PENDING.get(name, []))


#: backend name -> [(type names, handler or None, refusal reason or None)]
_PENDING: dict[str, list[tuple[tuple[str, ...], Callable | None, str | None]]] = {}
_APPLIED: set[str] = set()


def _apply(target: Backend, entries) -> None:
    for types, handler, reason in entries:
        if handler is not None:
            target.register(*types)(handler)
        else:
            target.refuse(*types, reason=reason)


__all__ = ["BACKENDS", "Backend", "Context", "apply_pending", "backend", "declare"]
