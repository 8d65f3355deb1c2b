"""The backend seam: how one outside framework expresses each Caffe layer type.

Each framework has a package ``convertkit/backends/<framework>/`` holding one
:class:`Backend`. Its handlers are registered by Caffe type name and called with an
explicit :class:`Context` (the net, its shape plan, the layer, and whatever the
framework needs: an opset, a data format...), the way onnx2torch's node converters
and tf2onnx's handlers are organised. A type a framework cannot express is
registered as a *refusal* with its reason, so that every (type, backend) pair has
an answer and a layer that cannot be converted fails with an error naming the layer,
its type and the backend.

The core never switches on a type name: it asks a backend for the type's handler.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UnsupportedLayerError
from ..graph import Layer, Net, ShapePlan
from ..layers.base import Shape
from ..layers.training_only import TRAINING_ONLY_TYPES


@dataclass
class Context:
    """What a handler sees: the whole net and its shapes, and the layer at hand."""

    net: Net
    plan: ShapePlan
    layer: Layer
    #: Framework-specific settings (e.g. {"opset": 17} or {"data_format": "NHWC"}).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def bottom_shapes(self) -> list[Shape]:
        return self.plan.bottom_shapes(self.layer)

    @property
    def top_shapes(self) -> list[Shape]:
        return self.plan.top_shapes(self.layer)

    def refuse(self, reason: str, backend: str) -> UnsupportedLayerError:
        """An error naming this layer, its type and the backend (raise the result)."""
        return UnsupportedLayerError(
            f"{backend} cannot express {self.layer.type}: {reason}", layer=self.layer.name)


class FixedSize(Exception):
    """Raised by a handler that expresses its layer only at the planned size of a
    blob whose size follows a free input size (``ctx.options["sizes"]``): the model
    is then built with height and width fixed (``FreeSizes.pin``), with a note."""

    def __init__(self, layer: Layer, why: str):
        super().__init__(why)
        self.layer, self.why = layer, why


def varies(ctx: Context, blob: str, axes=(2, 3)) -> bool:
    """Whether these axes of ``blob`` change with a free input size (an export with
    symbolic sizes: ``ctx.options["sizes"]``); False for a model built for one size."""
    sizes = ctx.options.get("sizes")
    return sizes is not None and bool(sizes.varies.get(blob, set()) & set(axes))


Handler = Callable[[Context], Any]


class Backend:
    """One framework's expressions of Caffe types, registered by type name."""

    def __init__(self, name: str):
        self.name = name
        self._handlers: dict[str, Handler] = {}
        self._refusals: dict[str, str] = {}
        # What no framework runs: refused by every backend from the start.
        self.refuse(*TRAINING_ONLY_TYPES, reason="a training-only layer; deploy graphs drop it")
        self.refuse("Python", reason="a Python layer runs user code; convertkit refuses it at load")

    def register(self, *type_names: str) -> Callable[[Handler], Handler]:
        """Decorator: ``handler(ctx)`` expresses these Caffe types."""

        def deco(fn: Handler) -> Handler:
            for t in type_names:
                if t in self._handlers or t in self._refusals:
                    raise RuntimeError(f"{self.name}: layer type {t!r} registered twice")
                self._handlers[t] = fn
            return fn

        return deco

    def refuse(self, *type_names: str, reason: str) -> None:
        """These types have no expression in this framework, for ``reason``."""
        for t in type_names:
            if t in self._handlers or t in self._refusals:
                raise RuntimeError(f"{self.name}: layer type {t!r} registered twice")
            self._refusals[t] = reason

    def answer(self, type_name: str) -> str | None:
        """"handler", "refused: REASON", or None where the type has no answer yet."""
        if type_name in self._handlers:
            return "handler"
        if type_name in self._refusals:
            return f"refused: {self._refusals[type_name]}"
        return None

    def handler(self, layer: Layer) -> Handler:
        """The handler for ``layer``'s type, or an error naming layer, type and backend."""
        fn = self._handlers.get(layer.type)
        if fn is not None:
            return fn
        reason = self._refusals.get(layer.type, "no expression is registered for this type")
        raise UnsupportedLayerError(f"{self.name} cannot express {layer.type}: {reason}",
                                    layer=layer.name)

    def check(self, net: Net) -> None:
        """Raise the refusal of the first layer of ``net`` whose type this backend
        cannot express (before anything is built; a handler may still refuse a layer's
        particular params when it builds it)."""
        for layer in net.layers:
            self.handler(layer)

    def convert(self, ctx: Context) -> Any:
        """Call the handler of ``ctx.layer``'s type."""
        return self.handler(ctx.layer)(ctx)
