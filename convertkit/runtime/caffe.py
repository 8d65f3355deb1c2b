"""Real Caffe, through pycaffe, where a user has it: the gold standard for "does my
conversion compute what Caffe computes".

No pip package provides pycaffe: it comes from a user's own build of BVLC Caffe or of
their fork (the one their model was trained with), or a Docker image. When
``import caffe`` works, ``--runtimes caffe`` (and verify's default, every installed
runtime) runs the net in it.

Caffe reads the original prototxt and caffemodel when the net is exactly what they say
(:attr:`~convertkit.graph.Net.origin`); a net a pass changed (``--bn merge``,
``--rgb``) or a caffemodel given alone is written out first, as convertkit holds it.
Layer types the build does not register are refused before Caffe sees them (Caffe
would abort the process). ``on_layer`` runs the net one Caffe layer at a time
(``forward(start=L, end=L)``), so each layer's own outputs are read before a later
in-place layer overwrites them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import UnsupportedLayerError, UsageError
from ..graph import Net
from .base import Keep, LayerHook, Runtime, input_arrays, resolve_keep

#: How to get pycaffe (no pip extra installs it).
OWN_BUILD = ("build Caffe (BVLC's or your fork's) with its Python interface and put its "
             "python/ folder on PYTHONPATH")


def caffe_module():
    """pycaffe, quiet (Caffe logs every layer it builds) and on the CPU."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import caffe
    except ImportError as exc:
        raise UsageError(f"the caffe runtime needs pycaffe ({exc}): {OWN_BUILD}") from None
    caffe.set_mode_cpu()
    return caffe


class CaffeRuntime(Runtime):
    """The net run by pycaffe."""

    name = "caffe"

    def __init__(self, net: Net):
        super().__init__(net)
        caffe = caffe_module()
        known = set(caffe.layer_type_list())
        missing = sorted({layer.type for layer in net.layers} - known)
        if missing:
            raise UnsupportedLayerError(
                f"this Caffe build has no {', '.join(missing)} layer"
                f"{'s' if len(missing) > 1 else ''} (another fork's type{'s' if len(missing) > 1 else ''}?)")
        self._tmp = None
        if net.origin is not None and net.origin[0] and (net.origin[1] or not net.num_params):
            proto, model = net.origin
            self.notes = ["Caffe read the original files"]
        else:
            from ..backends.opencv.rewrite import write_net

            self._tmp = tempfile.TemporaryDirectory(prefix="convertkit-caffe-")
            proto = str(Path(self._tmp.name) / "net.prototxt")
            model = str(Path(self._tmp.name) / "net.caffemodel") if net.num_params else None
            write_net(net, proto, model)
            self.notes = ["Caffe read convertkit's copy of the net (a changed net, or a "
                          "caffemodel alone)"]
        self.cnet = caffe.Net(proto, model, caffe.TEST) if model else caffe.Net(proto, caffe.TEST)

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        arrays = input_arrays(self.net, inputs)
        wanted = resolve_keep(self.net, keep)
        blobs = self.cnet.blobs
        for name, arr in arrays.items():
            blobs[name].reshape(*(int(d) for d in arr.shape))
            blobs[name].data[...] = arr
        self.cnet.reshape()
        if on_layer is None:
            self.cnet.forward()
        else:
            ours = {layer.name: layer for layer in self.net.layers}
            for name in list(self.cnet._layer_names):
                self.cnet.forward(start=name, end=name)
                layer = ours.get(name)  # Caffe's own Split layers are not the net's
                if layer is not None:
                    on_layer(name, [np.array(blobs[t].data, np.float32) for t in layer.tops])
        unknown = [w for w in wanted if w not in blobs]
        if unknown:
            raise UsageError(f"Caffe's net has no blob {unknown[0]!r}")
        return {w: np.array(blobs[w].data, np.float32) for w in wanted}
