"""TensorFlow as a runtime: the Keras 3 model convertkit builds from the graph
(convertkit.backends.tf), run through a ``tf.function`` in graph mode.

Options: ``checkpoint`` (the prefix of a TF checkpoint written by ``convertkit convert
--to tf``, loaded by name instead of the net's own params), ``table`` (the mapping
table naming the checkpoint's keys, default ``tf``; ``hellochick-tf`` reads
hellochick's TF variable names), ``fmt`` (the table's naming variant; by default its
``tf`` variant where it has one).

The model is built once per input size (pool windows and Interp sizes follow the
shape plan) and serves every batch size unless a layer fixes the batch. Its outputs
come back in Caffe's layout, with Caffe's in-place semantics for ``keep`` and each
layer's own outputs for ``on_layer``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..graph import Net
from .base import (Keep, LayerHook, Runtime, caffe_order, check_memory, input_arrays, plan_for,
                   resolve_keep)


class TFRuntime(Runtime):
    name = "tf"

    def __init__(self, net: Net, checkpoint: str | Path | None = None, table: str = "tf",
                 fmt: str | None = None):
        super().__init__(net)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.table, self.fmt = table, fmt
        self._built: dict[tuple, object] = {}

    def keras_net(self, shapes: Mapping[str, tuple] | None = None):
        """The built :class:`~convertkit.backends.tf.model.KerasNet` for these input
        shapes, with its params loaded."""
        from ..backends.tf.model import build

        plan = self.net.plan(shapes)
        # A model whose batch axis is free serves every batch size of these H x W.
        any_batch = ("any", tuple(sorted((n, s[1:]) for n, s in plan.inputs.items())))
        exact = ("exact", tuple(sorted(plan.inputs.items())))
        for key in (any_batch, exact):
            if key in self._built:
                return self._built[key]
        knet = build(self.net, plan, checkpoint=self.checkpoint, table=self.table, fmt=self.fmt)
        self._built[any_batch if knet.batch_free else exact] = knet
        return knet

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        arrays = input_arrays(self.net, inputs)
        wanted = resolve_keep(self.net, keep)
        if self.checkpoint is None:
            plan_for(self.net, arrays, wanted)
        else:  # the params come from the checkpoint: the net may have none
            check_memory(self.net, self.net.plan({n: a.shape for n, a in arrays.items()}), wanted)
        knet = self.keras_net({n: a.shape for n, a in arrays.items()})
        outputs = set(self.net.outputs)
        if on_layer is None and all(w in outputs for w in wanted):
            out = knet.run_outputs(arrays)
            return {w: out[w] for w in wanted}
        blobs, layers = knet.run_all(arrays)
        if on_layer is not None:
            for layer in self.net.layers:
                on_layer(layer.name, layers[layer.name])
        return {w: caffe_order(blobs[w]) for w in wanted}
