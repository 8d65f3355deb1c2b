"""``convertkit.load``: prototxt (+ caffemodel) -> Net.

Hyper-parameters come from the prototxt; from the caffemodel only each layer's name,
type and blobs are taken, matched to the prototxt's layers by name, as Caffe's
``Net::CopyTrainedLayersFrom`` does. (The 2016 PSPNet fork wrote bn_param/interp_param
under other field numbers, so reading them from the binary would be wrong.)
Without a prototxt, the caffemodel's own layer definitions are used.
"""
from __future__ import annotations

import importlib
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import (CaffemodelError, ConvertError, PrototxtError, ShapeError,
                     UnsupportedLayerError, UsageError, WeightMismatchError)
from ..graph import MAX_BLOB_ELEMENTS, Layer, Net, ShapePlan
from ..layers import impl_class, is_supported
from ..layers.base import Shape, fmt_shape
from .prototxt import ensure_file, filter_phase, parse_prototxt, upgrade
from .proto import caffe_pb2, to_text
from .sniff import check_inputs
from .wire import Caffemodel, read_caffemodel


#: The entry point group of installed plugins (see :mod:`convertkit.plugins`).
GROUP = "convertkit.layers"
_ENTRY_POINTS_LOADED = False


def load_plugins(modules: Iterable[str] = ()) -> list[str]:
    """Import every ``convertkit.layers`` entry point (once) and the given modules;
    returns the names loaded. :func:`load` calls it first, so installed plugins'
    layer types are known before a prototxt is read. A plugin that fails to import is
    one UsageError naming it."""
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


def load(
    prototxt: str | Path | None = None,
    caffemodel: str | Path | None = None,
    *,
    input_shapes: Mapping[str | None, Sequence[int]] | None = None,
    phase: str = "TEST",
    defines: Mapping[str, str] | None = None,
) -> Net:
    """Read a Caffe model into a :class:`~convertkit.graph.Net`.

    ``input_shapes`` overrides the declared input shapes (``{"data": (1, 3, 512, 512)}``;
    the key None names the net's only input). ``defines`` fills a template
    prototxt's ``${NAME}`` placeholders.
    Shapes are inferred and every layer's blobs checked against the prototxt when the
    input shapes are known; all offending layers are reported in one error.
    """
    if prototxt is not None and caffemodel is None and _is_caffemodel(prototxt):
        prototxt, caffemodel = None, prototxt  # a caffemodel alone, in the first place
    check_inputs(prototxt, caffemodel)  # a PNG as the caffemodel, swapped files: say so first
    if prototxt is None and caffemodel is None:
        raise UsageError("give a prototxt, a caffemodel, or both")
    model = read_caffemodel(caffemodel) if caffemodel is not None else None
    if prototxt is not None:
        ensure_file(prototxt, "prototxt")
        net_param = parse_prototxt(prototxt, defines)
        source: str | Path = prototxt
        notes = upgrade(net_param, source)
    else:
        assert model is not None
        source = caffemodel
        try:
            net_param = _net_param_from_caffemodel(model)
            to_text(net_param)  # reads every string now, where a damaged one is one line
            notes = ["no prototxt given: the net definition stored in the caffemodel is used"]
            notes += upgrade(net_param, source)
            notes += _undo_inserted_splits(net_param)
        except UnicodeDecodeError:  # a name or type that is no text: a damaged file
            raise CaffemodelError("its stored net definition holds names that are not text "
                                  "(corrupt or truncated?)", path=str(caffemodel)) from None
    phase_dropped: list[str] = []
    if prototxt is not None:
        phase_dropped = filter_phase(net_param, phase, source)
        notes += phase_dropped
    else:  # Caffe saved the net it had built: already filtered for its phase
        phases = {r.phase for lp in net_param.layer for r in lp.include if r.HasField("phase")}
        if phases == {caffe_pb2().Phase.values_by_name["TRAIN"].number}:
            notes.append("the caffemodel holds a training net (a snapshot): its data, loss "
                         "and accuracy layers are dropped")
    try:
        net = build_net(net_param, source)
    except UnicodeError:  # a name or type that is no text survived the reader
        raise (CaffemodelError if prototxt is None else PrototxtError)(
            "holds layer names or types that are not text (corrupt?)", path=str(source)) from None
    net.notes[:0] = notes
    net.prototxt_path = str(prototxt) if prototxt is not None else None
    if model is not None:
        net.caffemodel_path = str(caffemodel)
        attach_weights(net, model)
    kept = {layer.name for layer in net.layers} | set(net.inputs)
    # Caffe can read the files as they are: nothing dropped (input layers aside).
    as_written = not phase_dropped and all(
        lp.name in kept or (not len(lp.bottom) and is_supported(lp.type)
                            and not impl_class(lp.type).training_only)
        for lp in net_param.layer)
    if prototxt is not None and not defines and as_written:
        net.origin = (str(prototxt), str(caffemodel) if caffemodel is not None else None)
    if input_shapes:
        input_shapes = dict(input_shapes)
        if None in input_shapes:  # "the net's only input"
            if len(net.inputs) != 1:
                raise UsageError(f"the net has {len(net.inputs)} inputs "
                                 f"({', '.join(net.inputs) or 'none'}): name the one to reshape")
            input_shapes[next(iter(net.inputs))] = input_shapes.pop(None)
        unknown = [n for n in input_shapes if n not in net.inputs]
        if unknown:
            raise UsageError(f"no network input named {', '.join(map(repr, unknown))} "
                             f"(inputs: {', '.join(net.inputs) or 'none'})")
        for name, shape in input_shapes.items():
            net.inputs[name] = _checked_shape(shape, f"input '{name}'", source)
    if all(s is not None for s in net.inputs.values()) and net.inputs:
        try:
            plan = net.plan()
        except ShapeError as exc:
            exc.path = exc.path or str(source)
            raise
        if model is not None:
            validate_params(net, plan)
    elif model is not None:
        net.notes.append("input shapes unknown: param shapes not checked (pass input shapes)")
    return net


def require_shapes(net: Net) -> None:
    """Refuse a net whose input shapes are unknown (a training net's data layers read
    them from their database), naming the file, the inputs and the flag that gives them."""
    missing = [n for n, s in net.inputs.items() if s is None]
    if missing:
        example = " ".join(f"--input-shape {n}:N,C,H,W" for n in missing[:2])
        raise UsageError(f"the shape of input(s) {', '.join(missing)} is unknown (a data layer "
                         f"reads it from its database): pass it, e.g. {example}",
                         path=net.prototxt_path or net.caffemodel_path)


def _is_caffemodel(path) -> bool:
    """Whether a file given where a prototxt goes is a binary caffemodel."""
    from .sniff import sniff

    kind = sniff(path) if Path(path).is_file() else None
    return kind is not None and kind.key == "caffemodel"


def _undo_inserted_splits(net_param) -> list[str]:
    """The net a caffemodel stores holds the Split layers Caffe inserted where a blob
    feeds several layers (insert_splits.cpp: layer ``{blob}_{layer}_{i}_split``, tops
    ``..._split_{k}``). They were not the author's: take them out and give each
    consumer the original blob (Caffe inserts them again on load)."""
    rename: dict[str, str] = {}
    kept = []
    for lp in net_param.layer:
        bottoms = [rename.get(b, b) for b in lp.bottom]
        if (lp.type == "Split" and len(bottoms) == 1
                and lp.name.startswith(f"{bottoms[0]}_") and lp.name.endswith("_split")
                and all(t == f"{lp.name}_{k}" for k, t in enumerate(lp.top))):
            for t in lp.top:
                rename[t] = bottoms[0]
            continue
        del lp.bottom[:]
        lp.bottom.extend(bottoms)
        kept.append(lp)
    if not rename:
        return []
    n = len(net_param.layer) - len(kept)
    del net_param.layer[:]
    net_param.layer.extend(kept)
    return [f"removed {n} Split layers Caffe had inserted (blobs feeding several layers)"]


def _net_param_from_caffemodel(model: Caffemodel):
    net_param = model.header()
    for raw in model.layers:
        target = net_param.layers if raw.v1 else net_param.layer
        lp = target.add()
        lp.CopyFrom(raw.params())
    return net_param


def _checked_shape(shape, what: str, path) -> Shape:
    dims = tuple(int(d) for d in shape)
    if not dims or any(d <= 0 for d in dims):
        raise PrototxtError(f"{what} has a non-positive shape {fmt_shape(dims)}", path=path)
    n = int(np.prod(dims, dtype=object))
    if n > MAX_BLOB_ELEMENTS:
        raise PrototxtError(
            f"{what} declares an absurd shape {fmt_shape(dims)} ({n:.3g} values, "
            f"{n * 4 / 2**30:.3g} GiB); refusing before allocating", path=path)
    return dims


def _declared_inputs(net_param, path) -> dict[str, Shape | None]:
    names = list(net_param.input)
    shapes: list[Shape | None]
    if len(net_param.input_shape):
        if len(net_param.input_shape) != len(names):
            raise PrototxtError(f"{len(names)} inputs but {len(net_param.input_shape)} "
                                "input_shape entries", path=path)
        shapes = [_checked_shape(s.dim, f"input '{n}'", path)
                  for n, s in zip(names, net_param.input_shape)]
    elif len(net_param.input_dim):
        if len(net_param.input_dim) != 4 * len(names):
            raise PrototxtError(f"{len(names)} inputs need {4 * len(names)} input_dim "
                                f"values, found {len(net_param.input_dim)}", path=path)
        dims = list(net_param.input_dim)
        shapes = [_checked_shape(dims[4 * i:4 * i + 4], f"input '{n}'", path)
                  for i, n in enumerate(names)]
    else:
        shapes = [None] * len(names)
    return dict(zip(names, shapes))


def build_net(net_param, path=None) -> Net:
    """The graph of a (filtered, upgraded) NetParameter, without weights."""
    load_plugins()  # installed plugins' layer types, once per process
    known_python = _known_python_layers(net_param)
    unsupported: dict[str, list[str]] = {}
    losses = _unknown_losses(net_param)
    for lp in net_param.layer:
        if lp.name in losses:
            continue
        if not is_supported(lp.type):
            unsupported.setdefault(lp.type or "<no type>", []).append(lp.name)
    if unsupported:
        listing = "; ".join(f"{t} ({_some(names)})" for t, names in unsupported.items())
        raise UnsupportedLayerError(
            f"{sum(map(len, unsupported.values()))} layers of unsupported types: {listing}",
            path=path)
    dup = [n for n, c in Counter(lp.name for lp in net_param.layer).items() if c > 1]
    if dup:
        raise PrototxtError(f"duplicate layer names: {', '.join(dup)}", path=path)

    net = Net(name=net_param.name, inputs=_declared_inputs(net_param, path), layers=[])
    net.notes.extend(known_python)
    dropped: list[Layer] = []
    produced = set(net.inputs)
    if losses:
        net.notes.append(f"dropped {len(losses)} layers of types convertkit does not know, "
                         "taken for training losses (the type name ends in Loss and nothing "
                         "reads their tops): " + ", ".join(f"{n} ({t})" for n, t in losses.items()))
    for lp in net_param.layer:
        if lp.name in losses:
            continue
        proto = caffe_pb2().LayerParameter()
        proto.CopyFrom(lp)
        proto.ClearField("blobs")
        layer = Layer(name=lp.name, type=lp.type, bottoms=list(lp.bottom), tops=list(lp.top),
                      proto=proto, params=[_blob_array(b) for b in lp.blobs])
        try:
            training_only = layer.impl.training_only
        except ConvertError as exc:  # a layer refused by its type (e.g. Python)
            exc.path = exc.path or (str(path) if path else None)
            raise
        if training_only:
            dropped.append(layer)
            continue
        if not layer.bottoms and layer.impl.num_bottoms[0] > 0:
            raise PrototxtError(f"{layer.type} takes at least {layer.impl.num_bottoms[0]} "
                                "bottom(s), and this one has none", path=path, layer=layer.name)
        if not layer.bottoms:
            # A layer without bottoms (Caffe's Input) feeds the net: its tops are inputs.
            try:
                shapes = layer.impl.reshape([])
            except ShapeError as exc:
                exc.path = str(path) if path else None
                raise
            for top, shape in zip(layer.tops, shapes):
                net.inputs[top] = _checked_shape(shape, f"input '{top}'", path)
                produced.add(top)
            net.notes.append(f"{layer.type} layer '{layer.name}' became network input(s) "
                             f"{', '.join(layer.tops)}")
            continue
        for b in layer.bottoms:
            if b not in produced:
                # Fed by a dropped data layer: it becomes an input, of the shape the
                # data layer's parameters give (crop size, batch size...) or unknown.
                source = next((d for d in dropped if b in d.tops), None)
                if source is not None:
                    shapes = dict(zip(source.tops, source.impl.data_shapes()))
                    net.inputs[b] = shapes.get(b)
                    if shapes.get(b) is not None:
                        net.notes.append(f"input '{b}' is {fmt_shape(shapes[b])}, from "
                                         f"{source.type} layer '{source.name}'")
                    produced.add(b)
        produced.update(layer.tops)
        net.layers.append(layer)
    if dropped:
        net.notes.append(
            f"dropped {len(dropped)} training-only layers: "
            + ", ".join(f"{d.name} ({d.type})" for d in dropped))
        _drop_label_branches(net, {t for d in dropped for t in d.tops})
    return net


def _drop_label_branches(net: Net, data_tops: set[str]) -> None:
    """A training net's data layers also give labels (MTCNN slices them into parts for
    its losses). Inputs made from data-layer tops that reach no layer with learned
    params are labels: they and every layer computed from them leave the net, with a
    note. Nets whose data reaches no learned layer at all are left as they are."""
    useful: set[str] = set()  # blobs that reach a layer with learned params
    for layer in reversed(net.layers):
        if layer.impl.param_roles() or any(t in useful for t in layer.tops):
            useful.update(layer.bottoms)
    from_data = [n for n in net.inputs if n in data_tops]
    labels = {n for n in from_data if n not in useful}
    if not labels or labels == set(from_data):
        return
    gone, kept, removed = set(labels), [], []
    for layer in net.layers:
        if any(b in gone for b in layer.bottoms):
            gone.update(layer.tops)
            removed.append(layer.name)
        else:
            kept.append(layer)
    net.layers[:] = kept
    for n in labels:
        del net.inputs[n]
    net.notes.append(f"dropped the label input(s) {', '.join(sorted(labels))} of the data layers"
                     + (f" and the {len(removed)} layer{'s' if len(removed) > 1 else ''} "
                        f"computed from them: {_some(removed)}" if removed else ""))


def _known_python_layers(net_param) -> list[str]:
    """Give the Python layers whose module and class are a published implementation
    their built-in type (layers/python.py); the notes say what was assumed."""
    from ..layers.python import known_type

    notes = []
    for lp in net_param.layer:
        if lp.type != "Python":
            continue
        found = known_type(lp.python_param.module, lp.python_param.layer)
        if found is not None:
            lp.type = found[0]
            notes.append(f"Python layer '{lp.name}' ({lp.python_param.module}."
                         f"{lp.python_param.layer}) taken as {found[1]}")
    return notes


def _unknown_losses(net_param) -> dict[str, str]:
    """Layers of unknown types that are training losses by Caffe's naming (``*Loss``,
    e.g. a fork's TripletLoss) and whose tops no layer reads: name -> type."""
    read = {b for lp in net_param.layer for b in lp.bottom}
    return {lp.name: lp.type for lp in net_param.layer
            if not is_supported(lp.type) and lp.type.endswith("Loss")
            and not any(t in read for t in lp.top)}


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _blob_array(blob) -> np.ndarray:
    """A BlobProto embedded in a prototxt, as a float32 array."""
    if len(blob.shape.dim):
        shape = tuple(blob.shape.dim)
    elif blob.num or blob.channels or blob.height or blob.width:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = (max(len(blob.data), len(blob.double_data)),)
    values = blob.data if len(blob.data) else blob.double_data
    return np.asarray(values, dtype=np.float32).reshape(shape)


def attach_weights(net: Net, model: Caffemodel) -> None:
    """Give each layer the learned params of the caffemodel layer with its name."""
    by_name = {}
    for raw in model.layers:
        by_name[raw.name] = raw  # Caffe copies in file order: the last one wins
    used = set()
    for layer in net.layers:
        raw = by_name.get(layer.name)
        if raw is None:
            continue
        used.add(layer.name)
        layer.params = [rb.data for rb in raw.blobs]
        layer.legacy_param_shapes = [rb.legacy_shape for rb in raw.blobs]
        fitted = layer.impl.reconcile(layer.proto, layer.params)
        if fitted is not None:  # a dialect told apart by its params
            layer.proto, note = fitted
            net.notes.append(note)
    extra = [raw.name for raw in model.layers if raw.name not in used and raw.blobs]
    if extra:
        net.notes.append(f"ignored {len(extra)} caffemodel layers with blobs that the "
                         f"prototxt does not have: {_some(extra, 8)}")


def _fits(expected: Shape, actual: Shape, legacy: bool) -> bool:
    if tuple(expected) == tuple(actual):
        return True
    # A scalar param (Scale/Bias with num_axes 0): Caffe saves no shape at all, which
    # the reader gives as one value.
    if {tuple(expected), tuple(actual)} == {(), (1,)}:
        return True
    # Blobs saved with the legacy num/channels/height/width fields match a shape
    # that, padded with leading 1s to four axes, equals them (Blob::ShapeEquals).
    if legacy and len(expected) <= 4:
        return (1,) * (4 - len(expected)) + tuple(expected) == tuple(actual)
    return False


def validate_params(net: Net, plan: ShapePlan | None = None) -> None:
    """Check every layer's param count and shapes; raise one error listing them all."""
    plan = plan or net.plan()
    problems = []
    for layer in net.layers:
        expected = [tuple(s) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
        have = layer.params
        if not expected and not have:
            continue
        want = ", ".join(fmt_shape(s) for s in expected) or "none"
        if not have:
            problems.append(f"{layer.name}: needs {len(expected)} blobs ({want}) "
                            "but the caffemodel has none")
            continue
        if len(have) != len(expected):
            problems.append(f"{layer.name}: the prototxt needs {len(expected)} blobs ({want}), "
                            f"the caffemodel has {len(have)} "
                            f"({', '.join(fmt_shape(b.shape) for b in have)})")
            continue
        legacy = layer.legacy_param_shapes or [False] * len(have)
        for i, (exp, arr, leg) in enumerate(zip(expected, have, legacy)):
            if not _fits(exp, arr.shape, leg):
                problems.append(f"{layer.name}: blob {i}: the prototxt needs {fmt_shape(exp)}, "
                                f"the caffemodel has {fmt_shape(arr.shape)}")
            elif tuple(arr.shape) != exp:
                layer.params[i] = arr.reshape(exp)
    if problems:
        raise WeightMismatchError(mismatch_message(problems, len(net.layers)),
                                  path=net.caffemodel_path)


#: How many of the layers that do not match the caffemodel an error names.
MISMATCH_SHOWN = 3


def mismatch_message(problems: list[str], n_layers: int) -> str:
    """The first few problems ("layer: what") and how many layers there are in all: a
    caffemodel of another net fails on nearly every layer, and one line is enough."""
    layers = list(dict.fromkeys(p.split(":", 1)[0] for p in problems))
    shown = [p for p in problems if p.split(":", 1)[0] in layers[:MISMATCH_SHOWN]]
    text = (f"{len(layers)} of {n_layers} layers do not match the caffemodel: " + "; ".join(shown))
    if len(layers) > MISMATCH_SHOWN:
        more = len(layers) - MISMATCH_SHOWN
        text += f"; and {more} more layer{'s' if more > 1 else ''}"
    if len(layers) > n_layers // 2:
        text += " (is this the caffemodel of another net?)"
    return text
