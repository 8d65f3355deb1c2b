"""A Caffe net as one functional Keras 3 model, and its params loaded by name.

:class:`KerasNet` builds the model through the handlers of
:mod:`convertkit.backends.tf`: every Caffe layer is one Keras layer named by
:func:`layer_name` (``conv1_1_3x3_s2/bn`` -> ``conv1_1_3x3_s2_bn``). The model is NHWC
inside and Caffe's layout at its boundary: it takes each input as N x C x H x W
float32 (a dict by input name) and returns a dict of the net's outputs in Caffe's
layout. The batch axis is free; H and W are those it was built for (pool windows and
Interp sizes follow the shape plan, as Caffe's Reshape does), or, built with ``sizes``
(an export), free where the net allows, the layers computing their sizes in the graph.

Params come from the net itself or from an emitted TF checkpoint, always through a
mapping table (default ``tf``: ``<layer>/weights`` HWIO, ``/biases``, BN ``/gamma``
``/beta`` ``/moving_mean`` ``/moving_variance``; ``hellochick-tf`` reads hellochick's
TF variable names, its ``tf`` variant being chosen by default). Every mismatch (a key the checkpoint lacks, a key it has
that the net does not use, a wrong shape or layout) is listed in one error.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

import keras
import numpy as np
import tensorflow as tf

from ... import layouts as _layouts
from ...errors import UsageError, WeightMismatchError
from ...graph import Net, ShapePlan, check_params
from ...layers.base import fmt_shape
from ..base import Context
from .convolution import CaffeInnerProduct
from .core import BACKEND, internal_shape
from .normalisation import CaffeBias, CaffeScale
from .tensors import CaffeCrop, CaffePermute, CaffeReshape, CaffeSlice

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
#: Keys a TF2 object-based checkpoint adds that are no model variable.
_BOOKKEEPING = ("_CHECKPOINTABLE_OBJECT_GRAPH",)


def layer_name(caffe_name: str) -> str:
    """The Keras layer name of a Caffe layer: every character outside [A-Za-z0-9_]
    becomes '_' (Keras forbids '/'; the ``tf`` table's ``{module}`` is the same)."""
    return _NOT_IDENT.sub("_", caffe_name)


class KerasNet:
    """The net as Keras, for one set of input shapes (batch free).

    ``model``: the functional model (NCHW dict in, NCHW dict of outputs out).
    ``layer_outputs``: Caffe layer -> its own output tensors (model layout).
    ``blobs``: blob -> the tensor holding its final value (Caffe's in-place semantics).
    ``variables``: (Caffe layer, role) -> (Keras variable, layout).
    """

    def __init__(self, net: Net, plan: ShapePlan | None = None, sizes=None):
        """``sizes`` (:class:`convertkit.sizes.FreeSizes`): the input axes it leaves
        free are None in the model's inputs, and the layers compute the sizes that
        follow them from ``tf.shape`` (a layer built for one size pins height and
        width: ``self.sizes`` is what the model takes)."""
        from ..base import FixedSize

        self.net = net
        self.plan = plan or (sizes.plan if sizes is not None else net.plan())
        self.sizes = sizes
        self.input_names = list(net.inputs)
        self.output_names = list(net.outputs)
        while True:
            self.variables: dict[tuple[str, str], tuple[keras.Variable, str]] = {}
            self.layer_outputs: dict[str, list] = {}
            self.keras_layers: dict[str, keras.layers.Layer] = {}
            self._fns: dict[str, Callable] = {}
            try:
                self._build()
            except FixedSize as exc:
                if self.sizes is None or not self.sizes.dynamic:
                    raise
                # height and width first; the batch too when only it is left free
                self.sizes = self.sizes.pin((2, 3) if self.sizes.spatial else (0,),
                                            layer=exc.layer.name, type=exc.layer.type,
                                            why=f"tf expresses it at one size: {exc.why}")
                continue
            break

    # -- building ----------------------------------------------------------------------
    def _build(self) -> None:
        net, plan = self.net, self.plan
        owners: dict[str, str] = {}
        names = {layer.name: layer_name(layer.name) for layer in net.layers}
        for caffe, keras_name in names.items():
            if keras_name in owners:
                raise UsageError(f"layers '{owners[keras_name]}' and '{caffe}' both become Keras "
                                 f"layer '{keras_name}'; rename one", path=net.prototxt_path)
            owners[keras_name] = caffe
        taken = set(owners)

        def free(base: str) -> str:
            name = base
            while name in taken:
                name += "_"
            taken.add(name)
            return name

        self.inputs = {}
        values = {}
        for name in self.input_names:
            shape = plan.inputs[name]
            dims = tuple(None if self.sizes is not None and self.sizes.is_free(name, a) else d
                         for a, d in enumerate(shape))
            inp = keras.Input(shape=dims[1:], batch_size=None, name=free(layer_name(name)),
                              dtype="float32")
            self.inputs[name] = inp
            to_nhwc = keras.layers.Permute((2, 3, 1), name=free(layer_name(name) + "_nhwc"),
                                         dtype="float32")
            values[name] = to_nhwc(inp) if len(shape) == 4 else inp
        for layer in net.layers:
            ctx = Context(net, plan, layer, {"name": names[layer.name], "sizes": self.sizes})
            op = BACKEND.convert(ctx)
            outs = list(op.call([values[b] for b in layer.bottoms]))
            if not outs and not layer.bottoms:  # a source whose tops are net inputs
                self.layer_outputs[layer.name] = []
                continue
            self._check_shapes(layer, outs)
            self.layer_outputs[layer.name] = outs
            for top, out in zip(layer.tops, outs):
                values[top] = out
            if op.layer is not None:
                self.keras_layers[layer.name] = op.layer
            for role, (attr, layout) in op.variables.items():
                self.variables[(layer.name, role)] = (getattr(op.layer, attr), layout)
        self.blobs = values
        outputs = {}
        for name in self.output_names:
            t = values[name]
            if len(t.shape) == 4:
                t = keras.layers.Permute((3, 1, 2), name=free(layer_name(name) + "_nchw"),
                                         dtype="float32")(t)
            outputs[name] = t
        self.model = keras.Model(inputs=self.inputs, outputs=outputs,
                                 name=layer_name(net.name) if net.name else "caffe_net")

    @property
    def batch_free(self) -> bool:
        """Whether the model runs any batch size (no layer fixes the batch: a Reshape
        or Slice/Crop of axis 0, a Permute moving it, an operand spanning it, an
        InnerProduct from axis 0)."""
        for lay in self.model.layers:
            if ((isinstance(lay, CaffeReshape) and not lay.batch_free)
                    or (isinstance(lay, CaffeSlice) and lay.axis == 0)
                    or (isinstance(lay, CaffePermute) and lay.order[0] != 0)
                    or (isinstance(lay, CaffeCrop) and lay.size and lay.size[0] >= 0)
                    or (isinstance(lay, (CaffeScale, CaffeBias)) and lay.start == 0
                        and lay.operand_shape)
                    or (isinstance(lay, CaffeInnerProduct) and lay.axis == 0)):
                return False
        return True

    def _check_shapes(self, layer, outs) -> None:
        want = self.plan.top_shapes(layer)
        if len(outs) != len(want):
            raise UsageError(f"the tf backend made {len(outs)} tops, Caffe {len(want)}",
                             layer=layer.name)
        for out, shape in zip(outs, want):
            got = tuple(out.shape)
            expect = internal_shape(shape)
            if len(got) != len(expect) or any(
                    g is not None and g != e for g, e in zip(got[1:], expect[1:])):
                raise UsageError(f"the tf backend computes {got} where Caffe has "
                                 f"{fmt_shape(shape)} (model layout {expect})", layer=layer.name)

    # -- running -----------------------------------------------------------------------
    def _function(self, which: str) -> Callable:
        """A tf.function running the model ("outputs") or every layer and blob ("all")."""
        if which not in self._fns:
            if which == "outputs":
                model = self.model
            else:
                tensors, self._all_index = self._everything()
                if not tensors:  # every blob is an input itself (a net of Splits)
                    self._fns[which] = lambda feed: []
                    return self._fns[which]
                model = keras.Model(inputs=self.inputs, outputs=tensors)
            self._fns[which] = tf.function(lambda feed: model(feed, training=False),
                                           reduce_retracing=True)
        return self._fns[which]

    def _everything(self):
        """Unique tensors for every final blob value and every layer's own outputs."""
        tensors, index = [], {}
        inputs = {id(t): name for name, t in self.inputs.items()}

        def slot(t):
            if id(t) in inputs:  # an input itself (not NHWC-permuted): fed, not computed
                return inputs[id(t)]
            if id(t) not in index:
                index[id(t)] = len(tensors)
                tensors.append(t)
            return index[id(t)]

        where = {"blobs": {n: slot(t) for n, t in self.blobs.items()},
                 "layers": {n: [slot(t) for t in outs] for n, outs in self.layer_outputs.items()}}
        return tensors, where

    def _feed(self, arrays: Mapping[str, np.ndarray]) -> dict:
        return {n: tf.convert_to_tensor(np.asarray(arrays[n], np.float32))
                for n in self.input_names}

    def run_outputs(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The net's outputs (Caffe layout) for these inputs."""
        out = self._function("outputs")(self._feed(arrays))
        return {n: out[n].numpy() for n in self.output_names}

    def run_all(self, arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
        """(blob -> final value, layer -> its own outputs), all with Caffe's shapes.

        4-D values are N x C x H x W views of TensorFlow's own NHWC buffers (shared
        through DLPack, not copied): index them freely, or ``np.ascontiguousarray``
        them for Caffe's memory layout."""
        fn = self._function("all")
        values = fn(self._feed(arrays))
        if not isinstance(values, (list, tuple)):
            values = [values]
        cache: dict[int, np.ndarray] = {}

        def get(i):
            if isinstance(i, str):
                return np.asarray(arrays[i], np.float32)
            if i not in cache:
                a = _shared(values[i])
                cache[i] = a.transpose(0, 3, 1, 2) if a.ndim == 4 else a
            return cache[i]

        where = self._all_index
        blobs = {n: get(i) for n, i in where["blobs"].items()}
        layers = {n: [get(i) for i in idx] for n, idx in where["layers"].items()}
        return blobs, layers

    # -- params ------------------------------------------------------------------------
    def load(self, targets, read: Callable[[object], np.ndarray] | None = None, *,
             available: Iterable[str] | None = None, source: str | None = None) -> list[str]:
        """Assign every Keras variable from mapping ``targets`` (a Resolution).

        ``read(target)`` gives the stored array (default: the target's own array, i.e.
        the net's params through the table); ``available`` the keys the file holds,
        so that keys it has but the net does not use are reported too. Everything
        that does not fit is listed in one WeightMismatchError. Returns notes."""
        problems, assign, notes = [], [], []
        produced, reported = set(), set()
        for t in targets:
            if t.layout == "const":
                produced.add(t.key)
                continue
            produced.add(t.key)
            slot = self.variables.get((t.layer, t.role))
            if slot is None:
                problems.append(f"'{t.key}' (from {t.source}): the TF model has no variable "
                                f"for it")
                continue
            var, layout = slot
            reported.add((t.layer, t.role))
            if t.layout != layout:
                problems.append(f"'{t.key}' (from {t.source}): the table stores it in layout "
                                f"{t.layout}, the TF model's {var.path} needs {layout}")
                continue
            try:
                arr = np.asarray(t.array if read is None else read(t))
            except KeyError:
                problems.append(f"'{t.key}' (from {t.source}): missing from the file")
                continue
            if tuple(arr.shape) != tuple(t.array.shape) or arr.size != int(np.prod(var.shape)):
                problems.append(f"'{t.key}' (from {t.source}): is {fmt_shape(arr.shape)}, the net "
                                f"needs {fmt_shape(t.array.shape)}")
                continue
            assign.append((var, arr, (t.layer, t.role)))
        done = {key for _, _, key in assign}
        dropped = {(d.layer, d.role): d.reason for d in getattr(targets, "dropped", [])}
        for key, (var, layout) in self.variables.items():
            if key in done or key in reported:
                continue
            if key in dropped:
                value = self._from_net(key, layout)
                if value is not None:
                    assign.append((var, value, key))
                else:
                    notes.append(f"{key[0]}/{key[1]}: dropped by the table ({dropped[key]}); "
                                 "kept at its initial value")
                continue
            problems.append(f"{key[0]}/{key[1]}: the table gives no key for it")
        if available is not None:
            extra = sorted(k for k in available if k not in produced and k not in _BOOKKEEPING)
            if extra:
                problems.append(f"{len(extra)} keys in the file that the net does not use: "
                                + ", ".join(extra))
        if problems:
            raise WeightMismatchError(f"{len(problems)} problems loading the TF model's params: "
                                      + "; ".join(problems), path=source)
        for var, arr, _ in assign:
            var.assign(np.asarray(arr, np.float32).reshape(var.shape))
        return notes

    def _from_net(self, key: tuple[str, str], layout: str) -> np.ndarray | None:
        layer = self.net.layer(key[0])
        arr = layer.param(key[1])
        if arr is None or len(layer.params) != len(layer.roles):
            return None
        ctx = _layouts.LayoutContext(layer, key[1], self.plan.bottom_shapes(layer))
        return np.asarray(_layouts.get(layout).apply(arr, ctx), np.float32)


# -- tables and checkpoints ----------------------------------------------------------------

def has_params(net: Net) -> bool:
    return all(len(layer.params) == len(layer.roles) for layer in net.layers)


def _placeholder(net: Net) -> Net:
    """The net with all-ones params where it has none (to resolve a table's names and
    shapes for a prototxt without a caffemodel)."""
    plan = net.plan()
    layers = []
    for layer in net.layers:
        if layer.roles and len(layer.params) != len(layer.roles):
            shapes = layer.impl.param_shapes(plan.bottom_shapes(layer))
            layer = layer.replace(params=[np.ones(s, np.float32) for s in shapes])
        layers.append(layer)
    return net.replace(layers=layers)


def resolve(net: Net, table: str | object = "tf", fmt: str | None = None):
    """The mapping table's targets for ``net`` (its params through the table; for a
    net without params, names and shapes only). Without ``fmt``, a table with a
    ``tf`` naming variant (hellochick-tf) is read with it."""
    from ...mapping import load_table, resolve as resolve_table

    tbl = load_table(table) if isinstance(table, str) else table
    if fmt is None and "tf" in tbl.formats:
        fmt = "tf"
    return resolve_table(tbl, net if has_params(net) else _placeholder(net), fmt)


def read_checkpoint(prefix: str):
    """``(reader, keys)`` of a TF checkpoint; a UsageError naming it when unreadable."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as exc:  # NotFoundError, DataLossError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot read a TensorFlow checkpoint: {first}",
                         path=str(prefix)) from None
    return reader, set(reader.get_variable_to_shape_map())


def load_from_net(knet: KerasNet, table: str | object = "tf", fmt: str | None = None) -> list[str]:
    """Assign the net's own params (through the table, so the same names and layouts
    a checkpoint would hold)."""
    if not has_params(knet.net):
        check_params(knet.net, knet.plan)
    return knet.load(resolve(knet.net, table, fmt), source=knet.net.caffemodel_path)


def load_checkpoint(knet: KerasNet, prefix: str, table: str | object = "tf",
                    fmt: str | None = None) -> list[str]:
    """Assign every variable by name from the TF checkpoint at ``prefix`` (what
    ``convertkit.emit.write("tf", ...)`` writes), through the mapping table."""
    reader, keys = read_checkpoint(prefix)

    def read(t):
        if t.key not in keys:
            raise KeyError(t.key)
        return reader.get_tensor(t.key)

    return knet.load(resolve(knet.net, table, fmt), read, available=keys, source=str(prefix))


def _shared(tensor) -> np.ndarray:
    """A CPU tensor as a numpy array over the same memory (``.numpy()`` copies: 1.1 s
    for the 1.7 GB of ICNet's layer outputs at 1025x2049)."""
    try:
        return np.from_dlpack(tensor)
    except (AttributeError, TypeError, ValueError, BufferError, RuntimeError):  # not shareable
        return tensor.numpy()


def build(net: Net, plan: ShapePlan | None = None, *, checkpoint: str | None = None,
          table: str | object = "tf", fmt: str | None = None, sizes=None) -> KerasNet:
    """A :class:`KerasNet` with its params: from ``checkpoint`` when given, else the
    net's; ``sizes``: the free input sizes (KerasNet)."""
    knet = KerasNet(net, plan, sizes)
    if checkpoint is not None:
        load_checkpoint(knet, checkpoint, table, fmt)
    else:
        load_from_net(knet, table, fmt)
    return knet
