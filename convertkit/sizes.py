"""Which input sizes an exported model may leave free: batch, height and width.

Caffe reshapes a whole net for any input size its layers' shape rules accept, and
convertkit's runtimes replan for every input. An exported file (ONNX, ``.pt2``,
SavedModel, ``.keras``) is one graph, so its sizes must be symbolic where they may
change, and computed in the graph from the input's shape, by Caffe's own integer
rules (ceil pooling, Interp, Crop, Deconvolution).

An input axis is free when every layer allows it. Each layer type says which of its
bottom axes must keep their size (``LayerImpl.fixed_sizes``: an InnerProduct's
C*H*W features, a Reshape's explicit dims); :func:`free_sizes` finds which input axes
reach those bottom axes by planning the net at a few other sizes (the shape rules
only: no layer runs), and which blob axes change with the input (what a backend
must compute in the graph). An axis at which no other size plans stays fixed too.
No type name is looked at here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .errors import ConvertError, ShapeError
from .graph import Net, ShapePlan
from .layers.base import Shape, fmt_shape

#: The axes of an N x C x H x W input that may be free, by name.
AXIS_NAMES = {0: "batch", 2: "height", 3: "width"}
#: Steps tried per axis: small ones for stride-1 nets, large ones past stride products.
_DELTAS = {0: (1,), 2: (1, 2, 3, 5, 8, 16, 32, 64), 3: (1, 2, 3, 5, 8, 16, 32, 64)}


@dataclass
class FreeSizes:
    """The outcome for one net at one declared size (``plan``)."""

    plan: ShapePlan
    #: Input name -> its free axes (0 batch, 2 height, 3 width).
    free: dict[str, tuple[int, ...]]
    #: Blob name -> the axes whose size changes with the free input axes.
    varies: dict[str, set[int]]
    #: Sizes that stay fixed: one entry per (layer, why) with the input axes it fixes.
    fixed: list[dict] = field(default_factory=list)
    #: Layers whose top has one size whatever the input (an Interp to explicit sizes).
    fixed_outputs: list[dict] = field(default_factory=list)
    #: The net it is about.
    net: Net | None = None

    @property
    def dynamic(self) -> bool:
        return any(self.free.values())

    @property
    def spatial(self) -> bool:
        """Whether some height or width is free."""
        return any(a in (2, 3) for axes in self.free.values() for a in axes)

    def is_free(self, name: str, axis: int) -> bool:
        return axis in self.free.get(name, ())

    def pin(self, axes=(2, 3), *, layer: str, type: str, why: str) -> "FreeSizes":
        """These sizes made fixed by a framework that cannot compute ``layer`` at any
        size (the backend's reason); the blobs' varying axes are recomputed."""
        free = {n: tuple(a for a in f if a not in axes) for n, f in self.free.items()}
        gone = {AXIS_NAMES[a] for n, f in self.free.items() for a in f if a in axes}
        out = _analyse(self.net, self.plan, free)
        out.fixed = self.fixed + ([{"layer": layer, "type": type, "why": why,
                                    "axes": sorted(gone)}] if gone else [])
        out.fixed_outputs = self.fixed_outputs
        return out

    def dim(self, blob: str, axis: int, shape: Shape) -> int | str:
        """The ONNX-style dimension of axis ``axis`` of ``blob``: its size where it
        stays, else a name ("batch"; an input's "height"/"width"; "<blob>_height")."""
        if axis not in self.varies.get(blob, ()):
            return int(shape[axis])
        if axis == 0:
            return "batch"
        label = AXIS_NAMES.get(axis, f"dim{axis}") if len(shape) == 4 else f"dim{axis}"
        return label if blob in self.plan.inputs else f"{blob}_{label}"

    def input_dims(self, name: str) -> list[int | str]:
        shape = self.plan.inputs[name]
        return [AXIS_NAMES[a] if self.is_free(name, a) else int(d) for a, d in enumerate(shape)]

    def note(self) -> str | None:
        """One line: what stays fixed and why (None when every size is free)."""
        parts = []
        for f in self.fixed:
            parts.append(fixed_text(f))
        outs = [f"{o['layer']} ({o['why']})" for o in self.fixed_outputs]
        if not parts and not outs:
            return None
        shown = ", ".join(f"{n} {fmt_shape(s)}" for n, s in self.plan.inputs.items())
        free = sorted({AXIS_NAMES[a] for f in self.free.values() for a in f},
                      key=["batch", "height", "width"].index)
        text = (f"sizes: the runnable formats take {shown} with "
                + (f"{', '.join(free)} free" if free else "no size free"))
        if parts:
            text += "; " + "; ".join(parts)
        if outs:
            text += ("; one size whatever the input: " + ", ".join(outs[:4])
                     + (f" and {len(outs) - 4} more" if len(outs) > 4 else "")
                     + " (other sizes run where the blobs they meet agree)")
        return text + " (convert --input-shape plans the net at another size)"

    def as_json(self) -> dict:
        return {"inputs": {n: self.input_dims(n) for n in self.plan.inputs},
                "fixed": list(self.fixed), "fixed_outputs": list(self.fixed_outputs)}


def fixed_text(entry: dict) -> str:
    """"height and width fixed by ip1: InnerProduct takes 400 features (...)"."""
    why = entry["why"]
    if entry["type"] and not why.startswith(entry["type"]):
        why = f"{entry['type']}: {why}"
    return f"{' and '.join(entry['axes'])} fixed by {entry['layer']}: {why}"


def free_sizes(net: Net, plan: ShapePlan | None = None) -> FreeSizes:
    """Which batch, height and width axes of ``net``'s inputs an export may leave free
    at the declared size (or ``plan``'s), and why the others are fixed."""
    plan = plan or net.plan()
    rules = {}
    for layer in net.layers:
        found = layer.impl.fixed_sizes(plan.bottom_shapes(layer))
        if found:
            rules[layer.name] = (layer, found)
    # Layers with learned params: their params are shaped for the planned bottoms (a
    # PReLU's slope after a Reshape that moves the batch into the channels).
    learned = {}
    for layer in net.layers:
        shapes = layer.impl.param_shapes(plan.bottom_shapes(layer))
        if shapes:
            learned[layer.name] = (layer, [tuple(s) for s in shapes])
    free: dict[str, tuple[int, ...]] = {}
    fixed: dict[tuple[str, str], dict] = {}
    tried: dict[tuple[str, int], list] = {}
    for name, shape in plan.inputs.items():
        axes = (0, 2, 3) if len(shape) == 4 else (0,)
        keep = []
        for axis in axes:
            plans, error = _perturbed(net, plan, name, axis)
            tried[(name, axis)] = plans
            blockers = []
            for p in plans:
                for layer, found in rules.values():
                    for i, ax, why in found:
                        before, after = plan.bottom_shapes(layer)[i], p.bottom_shapes(layer)[i]
                        if any(before[a] != after[a] for a in ax):
                            blockers.append((layer, why))
                named = {lay.name for lay, _ in blockers if lay is not None}
                for layer, shapes in learned.values():
                    if layer.name in named:  # its own rule says why (InnerProduct's K)
                        continue
                    try:
                        other = [tuple(s) for s in layer.impl.param_shapes(p.bottom_shapes(layer))]
                    except (ShapeError, ConvertError):
                        other = None
                    if other != shapes:
                        shown = ", ".join(fmt_shape(s) for s in shapes)
                        blockers.append((layer, f"its learned params ({shown}) fit the planned "
                                                "size only"))
            if not plans:  # no other size plans: the layer that refuses says why
                where = getattr(error, "layer", None)
                if where in rules:
                    blockers += [(rules[where][0], why) for _, _, why in rules[where][1]]
                elif where is not None:
                    lay = net.layer(where)
                    blockers.append((lay, f"no other {AXIS_NAMES[axis]} plans "
                                          f"({getattr(error, 'cause', error)})"))
                else:
                    blockers.append((None, f"no other {AXIS_NAMES[axis]} plans "
                                           f"({getattr(error, 'cause', error)})"))
            if not blockers:
                keep.append(axis)
            for layer, why in dict.fromkeys(blockers):
                key = (layer.name if layer else "", why)
                entry = fixed.setdefault(key, {"layer": layer.name if layer else name,
                                               "type": layer.type if layer else "input",
                                               "why": why, "axes": []})
                if AXIS_NAMES[axis] not in entry["axes"]:
                    entry["axes"].append(AXIS_NAMES[axis])
        free[name] = tuple(keep)
    out = _analyse(net, plan, free, tried)
    out.fixed = list(fixed.values())
    for layer in net.layers:
        why = layer.impl.fixed_output(plan.bottom_shapes(layer))
        if why and any(out.varies.get(b) for b in layer.bottoms):
            out.fixed_outputs.append({"layer": layer.name, "type": layer.type, "why": why})
    return out


def _perturbed(net: Net, plan: ShapePlan, name: str, axis: int):
    """Plans of ``net`` with axis ``axis`` of input ``name`` a little larger (those
    that plan), and the first error of those that do not."""
    plans, error = [], None
    for d in _DELTAS[axis]:
        shape = list(plan.inputs[name])
        shape[axis] += d
        try:
            plans.append(net.plan({**plan.inputs, name: tuple(shape)}))
        except (ShapeError, ConvertError) as exc:
            error = error or exc
            continue
    return plans, error


def _analyse(net: Net, plan: ShapePlan, free: Mapping[str, tuple[int, ...]],
             tried: Mapping[tuple[str, int], list] | None = None) -> FreeSizes:
    """The blob axes that change when the free input axes do (``tried``: the plans
    at other sizes already made, by input and axis)."""
    varies: dict[str, set[int]] = {}
    for name, axes in free.items():
        for axis in axes:
            plans = (tried or {}).get((name, axis))
            for p in plans if plans is not None else _perturbed(net, plan, name, axis)[0]:
                for blob, shape in p.blobs.items():
                    base = plan.blobs[blob]
                    changed = {a for a in range(min(len(shape), len(base))) if shape[a] != base[a]}
                    if changed:
                        varies.setdefault(blob, set()).update(changed)
    return FreeSizes(plan=plan, free=dict(free), varies=varies, net=net)


def at_shapes(net: Net, shapes: Mapping[str, Shape]) -> Net:
    """``net`` declared at these input shapes (``convert --input-shape``): every
    layer's sizes are replanned from them; a ShapeError names the layer that
    refuses."""
    unknown = [n for n in shapes if n not in net.inputs]
    if unknown:
        raise ShapeError(f"--input-shape names '{unknown[0]}', which is not an input of the "
                         f"net (its inputs: {', '.join(net.inputs)})")
    moved = net.replace(inputs={**net.inputs, **{n: tuple(int(d) for d in s)
                                                  for n, s in shapes.items()}})
    moved.plan()  # the shape rules at the new size, now
    return moved
