"""Plugins: layer types (and their backend expressions) from outside packages.

A plugin is a Python module that, when imported, registers Caffe layer types with
:func:`convertkit.layers.register` and, optionally, how frameworks express them with
:func:`expression` / :func:`refusal` below. convertkit finds plugins two ways:

- installed packages that declare an entry point in the group ``convertkit.layers``
  (``[project.entry-points."convertkit.layers"] mish = "convertkit_mish"``), loaded
  the first time a model is loaded;
- ``convertkit --plugin MODULE ...`` (or :func:`load_plugins`), for a module on the
  path that is not installed.

Backend expressions are handed to a backend when it is first imported, so declaring
a torch expression does not import torch. This module is the face for plugin
authors: the discovery lives in :mod:`convertkit.caffe.loader`, the expressions wait
in :mod:`convertkit.backends`.
"""
from __future__ import annotations

from typing import Callable

from .backends import declare
from .caffe.loader import GROUP, load_plugins

__all__ = ["GROUP", "expression", "load_plugins", "refusal"]


def expression(backend: str, *type_names: str) -> Callable[[Callable], Callable]:
    """Decorator: ``handler(ctx)`` expresses these layer types in ``backend`` ("torch",
    "onnx", "tf", "opencv"); see that backend package for what a handler returns."""

    def deco(fn: Callable) -> Callable:
        declare(backend, type_names, fn, None)
        return fn

    return deco


def refusal(backend: str, *type_names: str, reason: str) -> None:
    """These layer types have no expression in ``backend``, for ``reason``."""
    declare(backend, type_names, None, reason)
