"""The graph (IR) every later stage consumes: ordered layers, their blobs and shapes.

Words follow pycaffe: a *blob* is a named activation (``bottom``/``top``); a layer's
*params* (``Layer.params``) are its learned weights in Caffe layout, float32; its
*hparams* are the typed hyper-parameters of its type's module. In-place layers
(top == bottom, e.g. ``conv1/bn``) are kept as Caffe has them.

A layer's semantics always follow its definition: ``Layer.impl`` is rebuilt whenever
the type, name, bottoms, tops or parameter message change (edit in place, or make a
new layer with :meth:`Layer.replace`). Shapes are never stored on layers: a
:class:`ShapePlan` is computed for given input shapes, so a runtime that plans for
another input size leaves everybody else's net as it was.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from .errors import ShapeError, WeightMismatchError
from .layers import LayerImpl, Shape, impl_class
from .layers.base import fmt_shape

#: Largest blob convertkit will plan for: 2**31 float32 values (8 GiB). Anything
#: larger is a typo in a prototxt or a corrupt file, and is refused before allocation.
MAX_BLOB_ELEMENTS = 1 << 31


@dataclass(eq=False)
class Layer:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    #: The LayerParameter message the hyper-parameters come from (params cleared).
    proto: Any
    #: Learned params, float32, in Caffe layout (e.g. conv weights O x I x kh x kw).
    params: list[np.ndarray] = field(default_factory=list)
    #: Per param: its shape came from the legacy num/channels/height/width fields.
    legacy_param_shapes: list[bool] = field(default_factory=list, repr=False)
    _impl: LayerImpl | None = field(default=None, repr=False)
    _impl_key: bytes | None = field(default=None, repr=False)

    def to_proto(self):
        """A LayerParameter with this layer's name, type, bottoms, tops and
        hyper-parameters, without params (what prototxts and caffemodels are written from)."""
        lp = type(self.proto)()
        lp.CopyFrom(self.proto)
        lp.ClearField("blobs")
        lp.name, lp.type = self.name, self.type
        del lp.bottom[:], lp.top[:]
        lp.bottom.extend(self.bottoms)
        lp.top.extend(self.tops)
        return lp

    @property
    def impl(self) -> LayerImpl:
        """The type's semantics for this layer's current definition."""
        lp = self.to_proto()
        key = lp.SerializeToString(deterministic=True)
        if self._impl is None or key != self._impl_key:
            self._impl = impl_class(self.type)(lp)
            self._impl_key = key
        return self._impl

    @property
    def hparams(self) -> Any:
        """The layer's typed hyper-parameters (its module's dataclass)."""
        return self.impl.p

    @property
    def roles(self) -> tuple[str, ...]:
        """The role of each learned param (``weight``, ``bias``, ``mean``, ...)."""
        return self.impl.param_roles()

    def param(self, role: str) -> np.ndarray | None:
        """The learned param with this role, or None when the layer has none."""
        roles = self.roles
        if role not in roles or roles.index(role) >= len(self.params):
            return None
        return self.params[roles.index(role)]

    @property
    def num_params(self) -> int:
        return int(sum(b.size for b in self.params))

    def replace(self, **changes: Any) -> "Layer":
        """A new layer with some fields changed (the proto and the params list are
        copied, the arrays are shared): what graph passes build new graphs from."""
        proto = changes.pop("proto", None)
        if proto is None:
            proto = type(self.proto)()
            proto.CopyFrom(self.proto)
        changes.setdefault("params", list(self.params))
        changes.setdefault("legacy_param_shapes", list(self.legacy_param_shapes))
        changes.setdefault("bottoms", list(self.bottoms))
        changes.setdefault("tops", list(self.tops))
        return dataclasses.replace(self, proto=proto, _impl=None, _impl_key=None, **changes)


@dataclass(frozen=True)
class ShapePlan:
    """Every blob's shape for one set of input shapes, and what a forward pass needs."""

    inputs: dict[str, Shape]
    #: Blob name -> shape (in-place layers keep a blob's shape).
    blobs: dict[str, Shape]
    #: Per layer (in order): its bottom shapes and its top shapes.
    bottoms: list[list[Shape]]
    tops: list[list[Shape]]
    layer_index: dict[str, int]

    def bottom_shapes(self, layer: Layer | str) -> list[Shape]:
        return self.bottoms[self.layer_index[getattr(layer, "name", layer)]]

    def top_shapes(self, layer: Layer | str) -> list[Shape]:
        return self.tops[self.layer_index[getattr(layer, "name", layer)]]

    def peak_bytes(self, net: "Net", keep: Iterable[str] = ()) -> int:
        """Peak float32 activation bytes of a forward pass that frees each blob after
        its last reader (as the numpy runtime does), keeping the blobs in ``keep``."""
        kept = set(keep)
        last_use: dict[str, int] = {}
        for i, layer in enumerate(net.layers):
            for b in layer.bottoms:
                last_use[b] = i
        live: dict[str, int] = {n: _nbytes(s) for n, s in self.inputs.items()}
        peak = current = sum(live.values())
        for i, layer in enumerate(net.layers):
            for top, shape in zip(layer.tops, self.tops[i]):
                # An in-place top replaces its bottom's buffer once the layer ran.
                current += _nbytes(shape)
                peak = max(peak, current)
                if top in live:
                    current -= live[top]
                live[top] = _nbytes(shape)
            for b in layer.bottoms:
                if last_use.get(b) == i and b not in kept and b not in layer.tops and b in live:
                    current -= live.pop(b)
        return peak


def _nbytes(shape: Shape) -> int:
    return 4 * int(np.prod(shape, dtype=object))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(eq=False)
class Net:
    name: str
    #: Network inputs in order: blob name -> declared shape (None where unknown).
    inputs: dict[str, Shape | None]
    layers: list[Layer]
    #: Things the loader did that a user should know (dropped layers, upgrades...).
    notes: list[str] = field(default_factory=list)
    prototxt_path: str | None = None
    caffemodel_path: str | None = None
    #: (prototxt, caffemodel) this net is exactly the reading of, for tools that read
    #: the files themselves (real Caffe); None once a pass made a new net.
    origin: tuple[str | None, str | None] | None = None

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def replace(self, **changes: Any) -> "Net":
        """A new Net with some fields changed (lists and dicts copied, layers shared)."""
        changes.setdefault("inputs", dict(self.inputs))
        changes.setdefault("layers", list(self.layers))
        changes.setdefault("notes", list(self.notes))
        changes.setdefault("origin", None)  # no longer what the files say
        return dataclasses.replace(self, **changes)

    @property
    def outputs(self) -> list[str]:
        """Blobs produced but never consumed (Caffe's net outputs)."""
        consumed: set[str] = set()
        produced: list[str] = []
        for lay in self.layers:
            consumed.update(b for b in lay.bottoms if b not in lay.tops)
            for t in lay.tops:
                if t not in produced:
                    produced.append(t)
        return [t for t in produced if t not in consumed]

    @property
    def blob_names(self) -> list[str]:
        """Every blob name (inputs first, then tops in order of first appearance)."""
        names = list(self.inputs)
        for lay in self.layers:
            names.extend(t for t in lay.tops if t not in names)
        return names

    @property
    def params(self) -> dict[str, list[np.ndarray]]:
        """Layer name -> learned params, for layers that have any (pycaffe's net.params)."""
        return {lay.name: lay.params for lay in self.layers if lay.params}

    @property
    def num_learned_blobs(self) -> int:
        """How many learned param arrays the net holds (a conv with bias has 2)."""
        return sum(len(lay.params) for lay in self.layers)

    @property
    def num_params(self) -> int:
        """Scalars in all learned params."""
        return sum(lay.num_params for lay in self.layers)

    def input_values(self, input_shapes: Mapping[str, Shape] | None = None) -> dict[str, np.ndarray]:
        """Values of the inputs that are no image, where a layer reading one says what
        it must hold (``LayerImpl.input_value``: Faster R-CNN's ``im_info``), for the
        declared input shapes or ``input_shapes``."""
        plan = self.plan(input_shapes)
        out: dict[str, np.ndarray] = {}
        for lay in self.layers:
            for k, b in enumerate(lay.bottoms):
                if b in self.inputs and b not in out:
                    value = lay.impl.input_value(k, plan.bottom_shapes(lay))
                    if value is not None:
                        out[b] = np.asarray(value, np.float32)
        return out

    @property
    def blob_shapes(self) -> dict[str, Shape]:
        """Blob shapes for the declared input shapes."""
        return self.plan().blobs

    def plan(self, input_shapes: Mapping[str, Shape] | None = None) -> ShapePlan:
        """Run every layer's shape rule in order, for the declared input shapes or
        ``input_shapes`` (which override them). The net is not changed.

        Raises ShapeError naming the first layer whose bottoms are inconsistent, or
        whose top would be absurdly large.
        """
        inputs: dict[str, Shape] = {}
        for name, shape in self.inputs.items():
            if input_shapes and name in input_shapes:
                shape = tuple(int(d) for d in input_shapes[name])
            if shape is None:
                raise ShapeError(f"the shape of input '{name}' is unknown: pass --input-shape",
                                 path=self.prototxt_path or self.caffemodel_path)
            inputs[name] = tuple(shape)
        shapes = dict(inputs)
        all_bottoms: list[list[Shape]] = []
        all_tops: list[list[Shape]] = []
        for lay in self.layers:
            missing = [b for b in lay.bottoms if b not in shapes]
            if missing:
                raise ShapeError(
                    f"bottom '{missing[0]}' is produced by no earlier layer or input",
                    layer=lay.name,
                )
            impl = lay.impl
            lo, hi = impl.num_bottoms
            if len(lay.bottoms) < lo or (hi is not None and len(lay.bottoms) > hi):
                want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
                raise ShapeError(
                    f"{lay.type} takes {want} bottoms, got {len(lay.bottoms)}", layer=lay.name
                )
            bottom_shapes = [shapes[b] for b in lay.bottoms]
            tops = [tuple(int(d) for d in s) for s in impl.reshape(bottom_shapes)]
            if len(tops) != len(lay.tops):
                raise ShapeError(
                    f"{lay.type} makes {len(tops)} tops but the prototxt names {len(lay.tops)}",
                    layer=lay.name,
                )
            for top, shape in zip(lay.tops, tops):
                n = int(np.prod(shape, dtype=object))
                if n > MAX_BLOB_ELEMENTS:
                    raise ShapeError(
                        f"top '{top}' would be {fmt_shape(shape)} ({n:.3g} values, "
                        f"{n * 4 / 2**30:.3g} GiB), over {MAX_BLOB_ELEMENTS} values; "
                        "refusing before allocating", layer=lay.name)
                if any(d <= 0 for d in shape):
                    raise ShapeError(
                        f"top '{top}' would have an empty shape {fmt_shape(shape)} "
                        f"(bottoms {', '.join(fmt_shape(s) for s in bottom_shapes)})",
                        layer=lay.name,
                    )
                shapes[top] = shape
            all_bottoms.append(bottom_shapes)
            all_tops.append(tops)
        return ShapePlan(inputs=inputs, blobs=shapes, bottoms=all_bottoms, tops=all_tops,
                         layer_index={lay.name: i for i, lay in enumerate(self.layers)})

    def infer_shapes(self, input_shapes: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
        """Blob name -> shape for these input shapes (see :meth:`plan`)."""
        return self.plan(input_shapes).blobs


def check_params(net: Net, plan: ShapePlan) -> None:
    """Every layer holds the learned params its definition needs (one error listing all)."""
    missing = []
    for layer in net.layers:
        want = layer.impl.param_shapes(plan.bottom_shapes(layer))
        if len(want) != len(layer.params):
            missing.append(f"{layer.name} ({layer.type}: needs {len(want)}, has {len(layer.params)})")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise WeightMismatchError(
            f"{len(missing)} layers lack learned params: {shown}; pass the caffemodel",
            path=net.caffemodel_path or net.prototxt_path)
