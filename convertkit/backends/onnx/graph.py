"""Building one ONNX model from a Caffe net.

The model has opset :data:`OPSET`, an explicit ``ir_version`` (onnx 1.23 writes IR 14
by default, which onnxruntime 1.31 rejects), weights as initializers named
``<layer>/<role>``, and a symbolic batch dimension ``N`` (an export with ``sizes``:
``dim_param`` "batch", "height", "width" wherever the net's layers allow, every size
that follows them computed in the graph). With ``outputs="layers"`` every layer's own
first output is a graph output too (per-layer comparisons).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ConvertError
from ...graph import Layer, Net, ShapePlan
from ..base import Context
from .core import BACKEND

OPSET = 18
IR_VERSION = 8  # the IR of opset 18 (onnx.helper.VERSION_TABLE); every runtime since 2021 reads it


class GraphBuilder:
    """Nodes, initializers and the Caffe blob -> ONNX value map of one model."""

    def __init__(self, net: Net):
        self.net = net
        self.nodes: list = []
        self.initializers: dict[str, Any] = {}
        self.current: dict[str, str] = {name: name for name in net.inputs}
        self._written: set[str] = set(net.inputs)
        #: Layer name -> the ONNX value of its first top, as that layer wrote it.
        self.layer_outputs: dict[str, str] = {}
        self._layer: Layer | None = None

    # values --------------------------------------------------------------------------
    def value(self, blob: str) -> str:
        return self.current[blob]

    def write(self, top: str) -> str:
        """A fresh value that holds ``top`` from now on (its own name when first written)."""
        name = top if top not in self._written else f"{top}@{self._layer.name}"
        n = 1
        while name in self._written:
            n += 1
            name = f"{top}@{self._layer.name}#{n}"
        self._written.add(name)
        self.current[top] = name
        if self._layer is not None and self._layer.name not in self.layer_outputs:
            self.layer_outputs[self._layer.name] = name
        return name

    def tmp(self, layer: Layer, what: str) -> str:
        name = f"{layer.name}/{what}"
        self._written.add(name)
        return name

    # initializers -----------------------------------------------------------------------
    def param(self, layer: Layer, role: str, array: np.ndarray | None = None) -> str:
        """The initializer ``<layer>/<role>``: the layer's param (or ``array``)."""
        if array is None:
            array = layer.param(role)
            if array is None:
                raise ConvertError(f"has no {role} param (pass the caffemodel)", layer=layer.name)
        return self._add(f"{layer.name}/{role}", np.asarray(array, np.float32))

    def const(self, layer: Layer, what: str, array: np.ndarray) -> str:
        return self._add(f"{layer.name}/{what}", np.asarray(array))

    def _add(self, name: str, array: np.ndarray) -> str:
        # np.require keeps a scalar's shape () (np.ascontiguousarray makes it (1,), and
        # a scalar blob, such as a Reduction to axis 0, would then gain an axis).
        self.initializers[name] = numpy_helper.from_array(np.require(array, requirements="C"), name)
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str | None = None,
             **attrs) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name or outputs[0], **attrs))


def build_model(net: Net, plan: ShapePlan | None = None, *, outputs: str = "outputs",
                batch: str | int = "N", sizes=None) -> tuple[onnx.ModelProto, GraphBuilder]:
    """The ONNX model of ``net`` (params included), and the builder, whose ``current``
    maps each Caffe blob to the value holding it at the end and ``layer_outputs`` each
    layer to its own first output. ``outputs``: "outputs" (the net's) or "layers"
    (every layer's own first output too).

    ``sizes`` (a :class:`convertkit.sizes.FreeSizes`): the input axes it leaves free
    get ``dim_param`` names ("batch", "height", "width") and every size that follows
    them is computed in the graph from the input's shape; a layer expressed only at one
    size pins height and width (``g.sizes`` is what the model takes). Without it the
    model is for the plan's sizes, with a symbolic batch ``batch``."""
    from ..base import FixedSize

    plan = plan or (sizes.plan if sizes is not None else net.plan())
    while True:
        g = GraphBuilder(net)
        try:
            for layer in net.layers:
                g._layer = layer
                BACKEND.convert(Context(net, plan, layer, {"graph": g, "sizes": sizes}))
        except FixedSize as exc:
            if sizes is None or not sizes.dynamic:
                raise ConvertError(f"internal: {exc.why} at the planned size",
                                   layer=exc.layer.name) from None
            # height and width first; the batch too when only it is left free (a
            # Slice of axis 0)
            sizes = sizes.pin((2, 3) if sizes.spatial else (0,), layer=exc.layer.name,
                              type=exc.layer.type,
                              why=f"onnx expresses it at one size: {exc.why}")
            continue
        break
    g._layer = None
    g.sizes = sizes

    def info(value: str, shape, blob: str | None = None) -> Any:
        if sizes is not None and blob is not None:
            dims = [sizes.dim(blob, a, shape) for a in range(len(shape))]
        else:
            dims = [batch] + [int(d) for d in shape[1:]] if len(shape) else []
        return helper.make_tensor_value_info(value, TensorProto.FLOAT, dims)

    if sizes is not None:
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, sizes.input_dims(n))
                  for n in plan.inputs]
    else:
        inputs = [info(n, s) for n, s in plan.inputs.items()]
    # Blobs whose size depends on the data (SSD's detections): their rank, no sizes.
    dynamic: set[str] = set()
    for layer in net.layers:
        if layer.impl.dynamic_output or any(b in dynamic for b in layer.bottoms):
            dynamic.update(layer.tops)
    outs = [helper.make_tensor_value_info(g.current[o], TensorProto.FLOAT,
                                          [None] * len(plan.blobs[o])) if o in dynamic
            else info(g.current[o], plan.blobs[o], o) for o in net.outputs]
    if outputs == "layers":
        seen = {o.name for o in outs} | set(net.inputs)
        for value in list(g.layer_outputs.values()) + list(g.current.values()):
            if value not in seen:
                seen.add(value)
                outs.append(helper.make_tensor_value_info(value, TensorProto.FLOAT, None))
    graph = helper.make_graph(g.nodes, net.name or "caffe", inputs, outs,
                              initializer=list(g.initializers.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="convertkit")
    model.ir_version = IR_VERSION
    return model, g


def checked_model(net: Net, plan: ShapePlan | None = None, sizes=None) -> onnx.ModelProto:
    """The model after onnx's full checker and shape inference (which it must pass);
    ``sizes``: the free sizes (:func:`build_model`)."""
    return checked_export(net, plan, sizes)[0]


def checked_export(net: Net, plan: ShapePlan | None = None, sizes=None):
    """(the checked model, the sizes it leaves free after its layers had their say)."""
    model, g = build_model(net, plan, sizes=sizes)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:  # a convertkit bug, never the user's
        raise ConvertError(f"the ONNX model fails onnx.checker: {str(exc).splitlines()[0]}",
                           path=net.prototxt_path) from None
    return model, g.sizes
