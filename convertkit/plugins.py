"""Plugins: layer types (and their backend expressions) from outside packages.

A plugin is a Python module that, when imported, registers Caffe layer types with
:func:`convertkit.layers.register` and, optionally, how frameworks express them with
:func:`expression` / :func:`refusal` below. convertkit finds plugins two ways:

- installed packages that declare an entry point in the group ``convertkit.layers``
  (``[project.entry-points."convertkit.layers"] mish = "convertkit_mish"``), loaded
  the first time a model is loaded;
- ``convertkit --plugin MODULE ...`` (or :func:`load_plugins`), for a module on the
  path that is not installed.

Backend expressions are recorded here and handed to a backend when it is first
imported, so declaring a torch expression does not import torch.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Callable, Iterable

from .errors import UsageError

GROUP = "convertkit.layers"

#: backend name -> [(type names, handler or None, refusal reason or None)]
_PENDING: dict[str, list[tuple[tuple[str, ...], Callable | None, str | None]]] = {}
_LOADED: set[str] = set()
_ENTRY_POINTS_LOADED = False


def expression(backend: str, *type_names: str) -> Callable[[Callable], Callable]:
    """Decorator: ``handler(ctx)`` expresses these layer types in ``backend`` ("torch",
    "onnx", "tf", "opencv"); see that backend package for what a handler returns."""

    def deco(fn: Callable) -> Callable:
        _add(backend, type_names, fn, None)
        return fn

    return deco


def refusal(backend: str, *type_names: str, reason: str) -> None:
    """These layer types have no expression in ``backend``, for ``reason``."""
    _add(backend, type_names, None, reason)


def _add(backend: str, type_names, fn, reason) -> None:
    from .backends import BACKENDS

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    entry = (tuple(type_names), fn, reason)
    _PENDING.setdefault(backend, []).append(entry)
    if backend in _LOADED:  # the backend is already imported: register now
        _apply(backend, [entry])


def apply_pending(name: str, backend) -> None:
    """Called by convertkit.backends.backend() once a backend package is imported."""
    if name not in _LOADED:
        _LOADED.add(name)
        _apply(name, _PENDING.get(name, []), backend)


def _apply(name: str, entries, backend=None) -> None:
    if backend is None:
        from .backends import backend as get

        backend = get(name)
    for types, fn, reason in entries:
        if fn is not None:
            backend.register(*types)(fn)
        else:
            backend.refuse(*types, reason=reason)


def load_plugins(modules: Iterable[str] = ()) -> list[str]:
    """Import every ``convertkit.layers`` entry point (once) and the given modules;
    returns the names loaded. A plugin that fails to import is one UsageError naming it."""
    global _ENTRY_POINTS_LOADED
    loaded = []
    if not _ENTRY_POINTS_LOADED:
        _ENTRY_POINTS_LOADED = True
        for ep in metadata.entry_points(group=GROUP):
            try:
                ep.load()
            except Exception as exc:
                raise UsageError(f"plugin {ep.name!r} ({ep.value}, entry point group {GROUP}) "
                                 f"failed to load: {type(exc).__name__}: {exc}") from None
            loaded.append(ep.name)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise UsageError(f"--plugin {module}: cannot import it: {type(exc).__name__}: {exc}") from None
        loaded.append(module)
    return loaded
