"""Caffe layer types: one module each, registered by type name (see base.py).

The built-in modules are imported below, one line each, so a reader can follow
where every type comes from. An outside package adds its own types with
:func:`register` (the only public hook; see base.py), and is found by
:func:`load_plugins`.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Iterable

from ..errors import UsageError
from .base import ROLES, LayerImpl, Shape, impl_class, is_supported, register, registered_types

# Built-in layer types, one module each (alphabetical).
from . import (  # noqa: E402,F401
    absval,
    axpy,
    argmax,
    batchnorm,
    bias,
    bn,
    bnll,
    clip,
    concat,
    convolution,
    crop,
    deconvolution,
    detection_output,
    dropout,
    eltwise,
    elu,
    embed,
    exp,
    flatten,
    inner_product,
    input,
    interp,
    log,
    lrn,
    mvn,
    normalize,
    permute,
    pooling,
    power,
    prelu,
    prior_box,
    proposal,
    psroi_pooling,
    python,
    reduction,
    relu,
    relu6,
    reshape,
    roi_pooling,
    scale,
    shuffle_channel,
    sigmoid,
    slice,
    spatial_dropout,
    softmax,
    split,
    swish,
    tanh,
    threshold,
    tile,
    training_only,
    upsample,
)

__all__ = ["ROLES", "LayerImpl", "Shape", "impl_class", "is_supported", "register",
           "registered_types"]


#: The entry point group of installed plugins (``convertkit.plugins`` for authors).
GROUP = "convertkit.layers"
_ENTRY_POINTS_LOADED = False


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
