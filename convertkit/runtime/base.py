"""One interface for every runtime, and the registry that finds them by name.

A runtime is built from a :class:`~convertkit.graph.Net` and runs it on named inputs:

    rt = convertkit.runtime.create("numpy", net)
    blobs = rt.forward({"data": x}, keep="all", on_layer=hook)

``forward`` returns the requested blobs in Caffe layout (NCHW float32) with Caffe's
in-place semantics: the value under a name is the last one written, as in pycaffe's
``net.blobs`` after a pass. ``on_layer(layer_name, tops)`` is called with each layer's
own outputs right after it ran (before any later in-place layer changes them), so
per-layer comparisons see a BN's output even when a ReLU overwrites it in place.
They have Caffe's shapes but may be views of the framework's own memory in its own
order (PyTorch's channels_last, TensorFlow's NHWC: ``a.flags.c_contiguous`` is then
False; ``np.ascontiguousarray`` gives Caffe's order). Each holds its memory, and no
runtime writes into a layer's outputs later, so they may be kept after the call.

Runtimes whose framework is missing are still listed, with the pip extra that
installs it; nothing is imported until a runtime is asked for.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Mapping

import numpy as np

from ..errors import ShapeError, UsageError
from ..graph import Net, ShapePlan, available_memory, check_params
from ..layers.base import fmt_shape

#: ``on_layer(layer_name, tops)``: each layer's own outputs, in graph order.
LayerHook = Callable[[str, list[np.ndarray]], None]
Keep = str | Iterable[str]


class Runtime:
    """Base of every runtime: build from a net, run on named inputs."""

    #: Registry name (``run --runtime NAME``).
    name: ClassVar[str] = ""

    def __init__(self, net: Net):
        self.net = net

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        """The blobs named by ``keep`` ("outputs", "all" or names) after one pass."""
        raise NotImplementedError


@dataclass(frozen=True)
class RuntimeInfo:
    name: str
    #: "module:Class" of the Runtime subclass, imported on first use.
    target: str
    #: Modules the runtime imports (checked with find_spec, not imported).
    requires: tuple[str, ...] = ()
    #: The pip extra that installs them: pip install 'convertkit[EXTRA]'.
    extra: str | None = None
    about: str = ""
    #: How to get it when no pip extra does (a user's own build, such as pycaffe).
    #: Such a runtime is used when present, never reported missing unless asked for,
    #: and skipped with a note (not refused) when asked for and absent.
    own_build: str | None = None

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    @property
    def how_to_install(self) -> str:
        return self.own_build or f"pip install 'convertkit[{self.extra}]'"

    def install_hint(self) -> str:
        return f"the {self.name} runtime needs {', '.join(self.requires)}: {self.how_to_install}"


_RUNTIMES: dict[str, RuntimeInfo] = {}


def register_runtime(name: str, target: str, requires: Iterable[str] = (),
                     extra: str | None = None, about: str = "", own_build: str | None = None) -> None:
    """Make a runtime known by name (``target`` is imported only when it is used)."""
    _RUNTIMES[name] = RuntimeInfo(name, target, tuple(requires), extra, about, own_build)


def runtime_infos() -> list[RuntimeInfo]:
    return list(_RUNTIMES.values())


def installed_runtimes() -> list[str]:
    return [info.name for info in _RUNTIMES.values() if info.installed]


def runtime_class(name: str) -> type[Runtime]:
    """The Runtime class registered as ``name``; a UsageError naming the pip extra
    when its framework is not installed."""
    info = _RUNTIMES.get(name)
    if info is None:
        raise UsageError(f"unknown runtime {name!r} (known: {', '.join(_RUNTIMES)})")
    if not info.installed:
        raise UsageError(info.install_hint())
    module, _, cls = info.target.partition(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, net: Net, **options) -> Runtime:
    """Build runtime ``name`` for ``net``."""
    return runtime_class(name)(net, **options)


def caffe_order(a) -> np.ndarray:
    """An array in C (Caffe's) order, copied only when it is not; a scalar blob (a
    Reduction to axis 0) keeps its shape ``()``, which ``np.ascontiguousarray`` makes
    ``(1,)``."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


# Shared checks -------------------------------------------------------------------------

def resolve_keep(net: Net, keep: Keep) -> list[str]:
    """The blob names ``keep`` asks for, in net order: "outputs", "all" or names.
    Unknown names are one UsageError listing close matches."""
    names = net.blob_names
    if keep == "outputs":
        return list(net.outputs)
    if keep == "all":
        return names
    wanted = [keep] if isinstance(keep, str) else list(keep)
    known = set(names)
    unknown = [w for w in wanted if w not in known]
    if unknown:
        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, names, n=3)
            hints.append(f"{u!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
        raise UsageError(f"no blob named {'; '.join(hints)} in the net")
    order = {n: i for i, n in enumerate(names)}
    return sorted(dict.fromkeys(wanted), key=order.__getitem__)


def input_arrays(net: Net, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The net's inputs as float32 arrays (every input must be given)."""
    missing = [n for n in net.inputs if n not in inputs]
    if missing:
        raise UsageError(f"missing input blob(s): {', '.join(missing)}")
    return {n: np.asarray(inputs[n], dtype=np.float32) for n in net.inputs}


def plan_for(net: Net, arrays: Mapping[str, np.ndarray], keep: Iterable[str] = ()) -> ShapePlan:
    """The shape plan for these input arrays, after checking that every layer has its
    learned params and that the pass fits in memory. The net is not changed."""
    plan = net.plan({n: a.shape for n, a in arrays.items()})
    check_params(net, plan)
    check_memory(net, plan, keep)
    return plan


def check_memory(net: Net, plan: ShapePlan, keep: Iterable[str] = (),
                 available: int | None = None) -> int:
    """Refuse, before allocating, a pass whose activations exceed the memory available;
    returns the planned peak in bytes."""
    peak = plan.peak_bytes(net, keep)
    available = available_memory() if available is None else available
    if available is not None and peak > available:
        shapes = ", ".join(f"{n} {fmt_shape(s)}" for n, s in plan.inputs.items())
        raise ShapeError(
            f"a forward pass for input {shapes} needs about {peak / 2**30:.1f} GiB of "
            f"activations, but only {available / 2**30:.1f} GiB of memory is available; "
            "use a smaller input or keep fewer blobs", path=net.prototxt_path)
    return peak
